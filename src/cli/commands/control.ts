import { InvalidArgumentError, type Command } from "commander"
import { cascadeToChildren, withChildren } from "../../actors/children.js"
import { Cleanups } from "../../actors/cleanup.js"
import { JobManager, storeRetryOverrides, type RetryOverrides } from "../../actors/JobManager.js"
import { commandThroughStore } from "../../actors/remoteCommand.js"
import { commandEvent, type RemoteCommand } from "../../machines/jobLifecycleMachine.js"
import { InvalidTransition, JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import type { JobStatus } from "../../jobs/JobStatus.js"
import type { Backoff, RetryPolicy } from "../../jobs/retryPolicy.js"
import type { DbJob } from "../../persistence/JobStore.js"
import { UsageError } from "../errors.js"
import { followJob } from "../followJob.js"
import { typeNotKnown } from "../jobs.js"
import { durationOption, integerOption, invocationOf, jobsOf, storeOf, whereOf, workerHintOf } from "../options.js"
import { reportOutcome } from "../outcome.js"
import { liveWorkerCount, readJob, resolveJobId, withStore } from "../readStore.js"

type UserCommand = Exclude<RemoteCommand, "pause-by-parent">

const wanted: Record<UserCommand, string> = { pause: "paused", resume: "queued", cancel: "cancelled", retry: "queued" }

const descriptions: Record<UserCommand, string> = {
  pause:
    "pause a job at its next interrupt point (a checkpoint or checkInterrupt); it stays paused until `jobstate resume`",
  resume:
    "put a paused (or stalled) job back in line; it continues from its last checkpoint (--wait: and run it here until it ends)",
  cancel: "cancel a queued, running or paused job",
  retry: "put a failed or cancelled job back in line, with a fresh retry budget; it continues from its last checkpoint",
}

interface ControlOptions {
  /** pause, resume, cancel: seconds to wait (as --wait-timeout); retry: each attempt's timeout, in ms. */
  readonly timeout?: number
  readonly waitTimeout?: number
  readonly wait?: boolean
  readonly maxRetries?: number
  readonly backoff?: Backoff | "none"
}

/** How long a command waits for the job to get there, unless told. */
const DEFAULT_WAIT_SECONDS = 60

/** `--backoff`: `fixed:30s`, `exponential:1s` (1 s, 2 s, 4 s, …), or `none` (retry at once). */
const backoffOption = (value: string): Backoff | "none" => {
  // Not null: commander keeps a parser's null as "".
  if (value.trim() === "none") return "none"
  const match = /^(fixed|exponential):(.+)$/.exec(value.trim())
  if (match === null)
    throw new InvalidArgumentError(
      `--backoff must be fixed:<duration>, exponential:<duration> or none (e.g. exponential:1s), got ${JSON.stringify(value)}.`,
    )
  return { type: match[1] as Backoff["type"], delayMs: durationOption("--backoff")(match[2]!) }
}

/**
 * `retry`'s overrides from its flags, or `undefined` when none is given. The retry policy flags
 * change the job's policy as it stands (the dispatch's override, else its type's), keeping what
 * they do not name; a policy needs `maxRetries`, so without one to start from `--max-retries` is required.
 */
const retryOverridesOf = (
  options: ControlOptions,
  base: RetryPolicy | undefined,
  id: string,
  type: string,
  typeKnown: boolean,
): RetryOverrides | undefined => {
  const timeoutMs = options.timeout
  let retry: RetryPolicy | undefined
  if (options.maxRetries !== undefined || options.backoff !== undefined) {
    const maxRetries = options.maxRetries ?? base?.maxRetries
    if (maxRetries === undefined) {
      const where = typeKnown
        ? `its type "${type}" has none`
        : `its type "${type}" is not one this command knows (add --jobs <module that exports it>)`
      throw new UsageError({
        detail: `--backoff changes job ${id}'s retry policy, but ${where}: give --max-retries too`,
      })
    }
    const { backoff: baseBackoff, ...rest } = base ?? {}
    const backoff =
      options.backoff === undefined
        ? baseBackoff
        : options.backoff === "none"
          ? undefined
          : { ...baseBackoff, ...options.backoff }
    retry = { ...rest, maxRetries, ...(backoff === undefined ? {} : { backoff }) }
  }
  if (timeoutMs === undefined && retry === undefined) return undefined
  return { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(retry === undefined ? {} : { retry }) }
}

type Where = ReturnType<typeof storeOf>

export const registerControlCommands = (program: Command) => {
  for (const name of ["pause", "resume", "cancel", "retry"] as const) {
    const command = program
      .command(name)
      .description(descriptions[name])
      .argument("<id>", "the job id (or a unique prefix of it)")
      .option(
        "--wait-timeout <seconds>",
        `how long to wait for the job to get there (default ${DEFAULT_WAIT_SECONDS})`,
        integerOption("--wait-timeout", 1),
      )
    if (name === "retry") {
      // As `run`'s: the attempts this retry starts get these instead of the dispatch's (or the type's).
      command
        .option(
          "--timeout <duration>",
          "fail each attempt it starts that runs longer than this (JobTimeout): 30s, 15m, 2h, 500ms",
          durationOption("--timeout"),
        )
        .option(
          "--max-retries <n>",
          "retries after the first attempt it starts, within its retry policy",
          integerOption("--max-retries", 0),
        )
        .option(
          "--backoff <type:delay>",
          "the wait before each retry: fixed:30s, exponential:1s (1s, 2s, 4s, …), or none",
          backoffOption,
        )
    } else {
      command.option("--timeout <seconds>", "the same as --wait-timeout", integerOption("--timeout", 1))
    }
    if (name === "resume") {
      command.option(
        "--wait",
        "run the job in this process until it ends and print its outcome, like `run` (Ctrl-C pauses it again)",
      )
    }
    command.action(async (idArg: string, options: ControlOptions, command: Command) => {
      const where = storeOf(command)
      // The types this process knows decide what it may do with a stalled job (the orphan rule).
      const jobs = await jobsOf(command)
      const registry = new JobRegistry(jobs)
      const {
        id,
        type,
        options: stored,
      } = await withStore(
        where,
        async (store) => {
          const row = await readJob(store, await resolveJobId(store, idArg))
          return { id: row.id, type: row.name, options: row.options }
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
      const cli = invocationOf(command)
      const waitSeconds =
        options.waitTimeout ?? (name === "retry" ? undefined : options.timeout) ?? DEFAULT_WAIT_SECONDS
      const storedRetry = stored === null ? undefined : (JSON.parse(stored) as { retry?: RetryPolicy }).retry
      const overrides =
        name === "retry"
          ? retryOverridesOf(options, storedRetry ?? registry.get(type)?.retry, id, type, registry.has(type))
          : undefined
      const cleanups = new Cleanups(where.dataDir, (error) =>
        process.stderr.write(`jobstate: ${(error as Error).message}\n`),
      )
      if (name === "resume" && options.wait) return resumeAndWait(where, jobs, id, type, cli)
      const outcome = await withStore(
        where,
        // A job a live manager runs gets the command through its row, and this waits until
        // that manager has applied it; anything else is changed in the store at once. A
        // parent's command is its children's too.
        async (store) => {
          // A retry's overrides go on the row first (a failed or cancelled job: no manager runs it).
          if (overrides !== undefined) await storeRetryOverrides(store, id, overrides)
          const commandOptions = {
            self: null,
            at: () => new Date().toISOString(),
            timeoutMs: waitSeconds * 1000,
            // A job cancelled here has its private directory removed here (and its type's hook run, with --jobs).
            cleanup: (row: DbJob, status: JobStatus) => cleanups.ended(status, { row, registry }),
          }
          const event = commandEvent(name)!
          return withChildren(
            event,
            () => commandThroughStore(store, registry, id, event, commandOptions),
            () =>
              cascadeToChildren(store, id, event, (child, childEvent) =>
                commandThroughStore(store, registry, child, childEvent, commandOptions),
              ),
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
      const note =
        status === wanted[name] || status === "running" ? "" : ` (it got there before the ${name} took effect)`
      process.stdout.write(`Job ${id} is ${status}${note}\n`)
      if (overrides !== undefined) process.stdout.write(`Its next attempts run with ${JSON.stringify(overrides)}\n`)
      if (
        (name === "resume" || name === "retry") &&
        (await withStore(
          where,
          (store) => liveWorkerCount(store, type),
          () => 0,
        )) === 0
      ) {
        process.stdout.write(
          `No worker of type "${type}" is running on ${whereOf(where)}: start \`${await workerHintOf(command, type)}\` to run it` +
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
const resumeAndWait = async (
  where: Where,
  jobs: Awaited<ReturnType<typeof jobsOf>>,
  id: string,
  type: string,
  cli: string,
) => {
  // A manager that does not know the job's type could not run it: say so before opening one.
  if (!new JobRegistry(jobs).has(type)) throw typeNotKnown(id, type)
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
