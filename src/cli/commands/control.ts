import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import { sendCommand, type RemoteCommand } from "../../actors/remoteCommand.js"
import { InvalidTransition, JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { UsageError } from "../errors.js"
import { followJob } from "../followJob.js"
import { dataDirOf, integerOption, jobsOf } from "../options.js"
import { reportOutcome } from "../outcome.js"
import { liveManagerCount, readJob, resolveJobId, withStore } from "../readStore.js"

const wanted: Record<RemoteCommand, string> = { pause: "paused", resume: "queued", cancel: "cancelled" }

const descriptions: Record<RemoteCommand, string> = {
  pause: "pause a job at its next checkpoint; it stays paused until `jobstate resume`",
  resume: "put a paused job back in line; it continues from its last checkpoint (--wait: and run it here until it ends)",
  cancel: "cancel a queued, running or paused job",
}

interface ControlOptions {
  readonly timeout: number
  readonly wait?: boolean
}

export const registerControlCommands = (program: Command) => {
  for (const name of ["pause", "resume", "cancel"] as const) {
    const command = program
      .command(name)
      .description(descriptions[name])
      .argument("<id>", "the job id (or a unique prefix of it)")
      .option("--timeout <seconds>", "how long to wait for the job to get there", integerOption("--timeout", 1), 60)
    if (name === "resume") {
      command.option("--wait", "run the job in this process until it ends and print its outcome, like `run` (Ctrl-C pauses it again)")
    }
    command.action(async (idArg: string, options: ControlOptions, command: Command) => {
      const dataDir = dataDirOf(command)
      const { id, type } = await withStore(
        dataDir,
        (store) => {
          const row = readJob(store, resolveJobId(store, idArg))
          return { id: row.id, type: row.name }
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
      if (name === "resume" && options.wait) return resumeAndWait(command, dataDir, id, type)
      // A job a live manager runs gets the command through its row, and this waits until
      // that manager has applied it; anything else is changed in the store at once.
      const status = await sendCommand({ dataDir, id, command: name, timeoutMs: options.timeout * 1000 })
      const note = status === wanted[name] || status === "running" ? "" : ` (it got there before the ${name} took effect)`
      process.stdout.write(`Job ${id} is ${status}${note}\n`)
      if (name === "resume" && (await withStore(dataDir, (store) => liveManagerCount(store), () => 0)) === 0) {
        process.stdout.write(
          `No manager is running on ${dataDir}: start \`npx jobstate worker\` to run it, or use \`npx jobstate resume --wait ${id}\` next time.\n`,
        )
      }
    })
  }
}

/**
 * `resume --wait`: finishes a paused or crashed job in one terminal. A manager opened here
 * recovers a job whose process died (it is queued again), resumes a paused one, and runs it;
 * the command follows the job until it ends and exits like `run`. A job that another live
 * manager runs is followed there. A job that has ended already just has its outcome printed.
 */
const resumeAndWait = async (command: Command, dataDir: string, id: string, type: string) => {
  const jobs = await jobsOf(command)
  // A manager that does not know the job's type could not run it: say so before opening one.
  if (!new JobRegistry(jobs).has(type)) {
    throw new UsageError({ detail: `Job ${id} is of type "${type}", which this command does not know: add --jobs <module that exports it>` })
  }
  const manager = await JobManager.open({ dataDir, jobs })
  try {
    const before = await manager.getJobInfo(id)
    if (before.status === "paused") {
      await manager.resume(id).catch((error) => {
        // Someone else resumed or cancelled it meanwhile: follow it from where it is.
        if (!(error instanceof InvalidTransition)) throw error
      })
      process.stderr.write(`Resumed ${type} job ${id}\n`)
    }
    const info = await followJob(manager, dataDir, id, type)
    reportOutcome(info)
  } finally {
    await manager.close()
  }
}
