import { randomUUID } from "node:crypto"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import type { Clock } from "../actors/clock.js"
import type { JobLogLine } from "../actors/JobInfo.js"
import { JobManager, type JobManagerOptions } from "../actors/JobManager.js"
import { JobFailed } from "../jobs/errors.js"
import type { JobDefinition } from "../jobs/defineJob.js"
import type { Progress } from "../jobs/Progress.js"
import { CheckpointRecorder } from "./CheckpointRecorder.js"
import { JobTimedOut } from "./errors.js"
import { keepProcessAlive } from "./keepProcessAlive.js"
import { tempRoot } from "./tempRoot.js"
import { withDeadline } from "./withDeadline.js"

export interface RunJobOptions {
  /** The manager's data dir (jobs.db, each job's private directory). Default: a fresh temp dir, removed afterwards. */
  readonly dataDir?: string
  /**
   * `postgres://…`: keep the job in this database instead of a temp SQLite store. Give the tests a
   * database (or a `?schema=`) of their own; the manager runs only the job it dispatched.
   */
  readonly databaseUrl?: string
  /** Keep the temp dir after the run, to look at what the job wrote. */
  readonly keep?: boolean
  /** How long a run may take before it is stopped and `JobTimedOut` rejects. Default 30 000. */
  readonly timeoutMs?: number
  /**
   * The engine's clock (`JobManager.open({ now })`): what the engine stamps (log lines' `at`, the
   * stored times) reads it. A job's own code does not: an Effect job's `Clock` is the real one.
   */
  readonly now?: () => number
  /**
   * A clock for the engine's timers and times and the job's `Effect.sleep` (`testClock()`): the
   * run waits for `clock.advance` wherever the job waits for time. Give `now` or `clock`, not both.
   */
  readonly clock?: Clock
  /**
   * The types of the child jobs the job spawns (`ctx.spawnChildren`): registered on the same
   * test manager, they run there, on the same clock, and the job's output is returned once they
   * and it have ended. (`runJob` only; `checkResumable` does not take them yet.)
   */
  readonly jobs?: ReadonlyArray<JobDefinition>
}

/** What one run of a job gave. */
export interface JobRun<O, S, Pr> {
  /** The output, decoded by the job's output schema. */
  readonly output: O
  /** Every progress value the job reported, in order (a handle's stream gives only the latest). */
  readonly progress: ReadonlyArray<Progress<Pr>>
  /** The job's log lines, as `getJobLogs` returns them. */
  readonly logs: ReadonlyArray<JobLogLine>
  /** Every committed checkpoint's state, in order, as a resumed job would read it back. */
  readonly checkpoints: ReadonlyArray<S>
  /** The manager's data dir (removed by now, unless `keep` or a `dataDir` of your own). */
  readonly dataDir: string
}

/** What a test run passes to a params function. */
export interface RunFiles {
  /** A directory of this run's own, for the files the job works on (made fresh for each run). */
  readonly dir: string
}

/** Params, or a function that makes them for each run (e.g. a fresh destination directory). */
export type JobParams<P> = P | ((run: RunFiles) => P | Promise<P>)

export const DEFAULT_TIMEOUT_MS = 30_000

/**
 * Runs a job to its end through the real engine (a `JobManager` on a temporary SQLite store)
 * and returns its output with every progress value, log line and checkpointed state. Rejects
 * with the job's `JobFailed` or `JobCancelled`, or `JobTimedOut`.
 *
 * @example
 * const { output, progress, checkpoints } = await runJob(ChecksumJob, { files: ["a.txt"] })
 *
 * @example
 * // A job that sleeps an hour, run on a test clock: the hour passes when the test says so.
 * const clock = testClock()
 * const run = runJob(HourlyJob, {}, { clock })
 * await clock.advance(60 * 60_000)
 * const { output } = await run
 */
export const runJob = async <P, S, O, Pr>(
  job: JobDefinition<P, S, O, Pr>,
  params: JobParams<P>,
  options: RunJobOptions = {},
): Promise<JobRun<O, S, Pr>> => {
  const root = tempRoot(options.dataDir, options.keep)
  const release = keepProcessAlive()
  try {
    return (await runInDir(job, params, root.path, options)).run
  } finally {
    release()
    root.release()
  }
}

/** The options every manager of a test run gets: it runs the job it dispatched and nothing else. */
export const testManagerOptions = (dataDir: string, options: RunJobOptions): Omit<JobManagerOptions, "jobs"> => ({
  dataDir,
  ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
  ...(options.now === undefined ? {} : { now: options.now }),
  ...(options.clock === undefined ? {} : { clock: options.clock }),
  concurrency: 1,
  runOnlyOwn: true,
})

/** The params of one run, made in that run's own files directory when given as a function. */
export const paramsFor = async <P>(params: JobParams<P>, dataDir: string): Promise<P> => {
  if (typeof params !== "function") return params
  const dir = join(dataDir, "files")
  mkdirSync(dir, { recursive: true })
  return (params as (run: RunFiles) => P | Promise<P>)({ dir })
}

type Run<O, S, Pr> = { readonly run: JobRun<O, S, Pr>; readonly storedOutput: unknown }

/** One run in `dataDir`; also gives the output as stored (schema-encoded), for comparisons. */
export const runInDir = async <P, S, O, Pr>(
  job: JobDefinition<P, S, O, Pr>,
  params: JobParams<P>,
  dataDir: string,
  options: RunJobOptions,
): Promise<Run<O, S, Pr>> => {
  // A test clock's `advance` waits until the job is dispatched: time must not pass before the job can wait for it.
  const releaseClock = holdClock(options.clock)
  try {
    return await runOnce(job, params, dataDir, options, releaseClock)
  } finally {
    releaseClock()
  }
}

/** Makes a test clock's `advance` wait until the returned release is called (once or more). */
const holdClock = (clock: Clock | undefined): (() => void) => {
  let held = true
  const detach = clock?.attach?.(() => held)
  return () => {
    held = false
    detach?.()
  }
}

const runOnce = async <P, S, O, Pr>(
  job: JobDefinition<P, S, O, Pr>,
  params: JobParams<P>,
  dataDir: string,
  options: RunJobOptions,
  dispatched: () => void,
): Promise<Run<O, S, Pr>> => {
  const recorder = new CheckpointRecorder(job)
  const resolved = await paramsFor(params, dataDir)
  const id = randomUUID()
  // The job's id is known before it is dispatched (the recorder follows it from the start); its children get ids of their own.
  let next: string | undefined = id
  const generateId = () => {
    const given = next ?? randomUUID()
    next = undefined
    return given
  }
  const children = (options.jobs ?? []).filter((child) => child.name !== job.name)
  const manager = await JobManager.open({
    ...testManagerOptions(dataDir, options),
    jobs: [recorder.definition, ...children],
    generateId,
  })
  const progress: Progress<Pr>[] = []
  // Subscribed before the dispatch, to the id it will use: no event can come before.
  const unsubscribe = manager.subscribeJob(id, (event) => {
    if (event.type === "progress") progress.push(event.progress as Progress<Pr>)
    else if (event.type === "checkpoint") recorder.committed()
  })
  let ended = false
  try {
    const handle = await manager.dispatch(recorder.definition, resolved).finally(dispatched)
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const output = await withDeadline(
      handle
        .result()
        .catch((error: unknown) => {
          throw withChildTypeHint(error)
        })
        .finally(() => (ended = true)),
      timeoutMs,
      () => new JobTimedOut({ job: job.name, id, timeoutMs, waitingFor: "end", dataDir }),
    )
    const [info, logs] = await Promise.all([manager.getJobInfo(id), manager.getJobLogs(id)])
    return { run: { output, progress, logs, checkpoints: recorder.states, dataDir }, storedOutput: info.output }
  } finally {
    unsubscribe()
    // A job still running (it timed out) is stopped at once, not waited for as close() would.
    await (ended ? manager.close() : manager.simulateCrash())
  }
}

/**
 * A job that spawned children of a type the test manager does not run failed with
 * UnknownJobType: the message says which option adds it (the failure is the same JobFailed).
 */
const withChildTypeHint = (error: unknown): unknown => {
  if (!(error instanceof JobFailed) || error.error._tag !== "UnknownJobType") return error
  const message = `${error.error.message} (runJob runs only the job and the types given in its options' jobs: pass the child's definition, runJob(Parent, params, { jobs: [Child] }))`
  return new JobFailed({ id: error.id, error: { ...error.error, message } })
}
