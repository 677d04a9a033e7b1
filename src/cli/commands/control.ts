import type { Command } from "commander"
import { cascadeToChildren, withChildren } from "../../actors/children.js"
import { Cleanups } from "../../actors/cleanup.js"
import { JobManager } from "../../actors/JobManager.js"
import { commandEvent, commandThroughStore, type RemoteCommand } from "../../actors/remoteCommand.js"
import { InvalidTransition, JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import type { JobStatus } from "../../jobs/JobStatus.js"
import type { DbJob } from "../../persistence/JobStore.js"
import { UsageError } from "../errors.js"
import { followJob } from "../followJob.js"
import { integerOption, invocationOf, jobsOf, storeOf, whereOf } from "../options.js"
import { reportOutcome } from "../outcome.js"
import { liveWorkerCount, readJob, resolveJobId, withStore } from "../readStore.js"

type UserCommand = Exclude<RemoteCommand, "pause-by-parent">

const wanted: Record<UserCommand, string> = { pause: "paused", resume: "queued", cancel: "cancelled", retry: "queued" }

const descriptions: Record<UserCommand, string> = {
  pause: "pause a job at its next interrupt point (a checkpoint or checkInterrupt); it stays paused until `jobstate resume`",
  resume: "put a paused (or stalled) job back in line; it continues from its last checkpoint (--wait: and run it here until it ends)",
  cancel: "cancel a queued, running or paused job",
  retry: "put a failed or cancelled job back in line, with a fresh retry budget; it continues from its last checkpoint",
}

interface ControlOptions {
  readonly timeout: number
  readonly wait?: boolean
}

type Where = ReturnType<typeof storeOf>

export const registerControlCommands = (program: Command) => {
  for (const name of ["pause", "resume", "cancel", "retry"] as const) {
    const command = program
      .command(name)
      .description(descriptions[name])
      .argument("<id>", "the job id (or a unique prefix of it)")
      .option("--timeout <seconds>", "how long to wait for the job to get there", integerOption("--timeout", 1), 60)
    if (name === "resume") {
      command.option("--wait", "run the job in this process until it ends and print its outcome, like `run` (Ctrl-C pauses it again)")
    }
    command.action(async (idArg: string, options: ControlOptions, command: Command) => {
      const where = storeOf(command)
      // The types this process knows decide what it may do with a stalled job (the orphan rule).
      const jobs = await jobsOf(command)
      const registry = new JobRegistry(jobs)
      const { id, type } = await withStore(
        where,
        async (store) => {
          const row = await readJob(store, await resolveJobId(store, idArg))
          return { id: row.id, type: row.name }
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
      const cli = invocationOf(command)
      const cleanups = new Cleanups(where.dataDir, (error) => process.stderr.write(`jobstate: ${(error as Error).message}\n`))
      if (name === "resume" && options.wait) return resumeAndWait(where, jobs, id, type, cli)
      const outcome = await withStore(
        where,
        // A job a live manager runs gets the command through its row, and this waits until
        // that manager has applied it; anything else is changed in the store at once. A
        // parent's command is its children's too.
        async (store) => {
          const commandOptions = {
            self: null,
            at: () => new Date().toISOString(),
            timeoutMs: options.timeout * 1000,
            // A job cancelled here has its private directory removed here (and its type's hook run, with --jobs).
            cleanup: (row: DbJob, status: JobStatus) => cleanups.ended(status, { row, registry }),
          }
          const event = commandEvent(name)!
          return withChildren(
            event,
            () => commandThroughStore(store, registry, id, event, commandOptions),
            () => cascadeToChildren(store, id, event, (child, childEvent) => commandThroughStore(store, registry, child, childEvent, commandOptions)),
          )
        },
        () => {
          throw new JobNotFound({ id })
        },
        { readOnly: false },
      )
      if (outcome.deferred !== undefined) {
        process.stdout.write(`${outcome.deferred}\n`)
        return
      }
      const status = outcome.status
      const note = status === wanted[name] || status === "running" ? "" : ` (it got there before the ${name} took effect)`
      process.stdout.write(`Job ${id} is ${status}${note}\n`)
      if ((name === "resume" || name === "retry") && (await withStore(where, (store) => liveWorkerCount(store, type), () => 0)) === 0) {
        process.stdout.write(
          `No worker of type "${type}" is running on ${whereOf(where)}: start \`${cli} worker\` to run it` +
            (name === "resume" ? `, or use \`${cli} resume --wait ${id}\` next time.\n` : ".\n"),
        )
      }
    })
  }
}

/**
 * `resume --wait`: finishes a paused or stalled job in one terminal. A manager opened here runs
 * only that job: it resumes a paused one, puts a stalled one back in line by the orphan rule,
 * and the command follows the job until it ends and exits like `run`. A job that another live
 * manager runs is followed there. A job that has ended already just has its outcome printed.
 */
const resumeAndWait = async (where: Where, jobs: Awaited<ReturnType<typeof jobsOf>>, id: string, type: string, cli: string) => {
  // A manager that does not know the job's type could not run it: say so before opening one.
  if (!new JobRegistry(jobs).has(type)) {
    throw new UsageError({ detail: `Job ${id} is of type "${type}", which this command does not know: add --jobs <module that exports it>` })
  }
  const manager = await JobManager.open({ ...where, jobs, runOnlyOwn: true })
  try {
    manager.runJob(id)
    const before = await manager.getJobInfo(id)
    if (before.status === "paused" || before.stalled !== null) {
      await manager.resume(id).catch((error) => {
        // Someone else resumed or cancelled it meanwhile: follow it from where it is.
        if (!(error instanceof InvalidTransition)) throw error
      })
      process.stderr.write(`Resumed ${type} job ${id}\n`)
    }
    const info = await followJob(manager, id, type, cli)
    reportOutcome(info)
  } finally {
    await manager.close()
  }
}
