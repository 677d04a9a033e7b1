import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { JobManager } from "../actors/JobManager.js"
import type { JobDefinition } from "../jobs/defineJob.js"
import { InvalidOptions, JobCancelled, JobFailed } from "../jobs/errors.js"
import { isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import { diffValues } from "./diffValues.js"
import { JobTimedOut, ResumeMismatch } from "./errors.js"
import { keepProcessAlive } from "./keepProcessAlive.js"
import {
  DEFAULT_TIMEOUT_MS,
  paramsFor,
  runInDir,
  testManagerOptions,
  type JobParams,
  type JobRun,
  type RunJobOptions,
} from "./runJob.js"
import { tempRoot } from "./tempRoot.js"
import { withDeadline } from "./withDeadline.js"

export interface CheckResumableOptions<O> extends Omit<RunJobOptions, "clock"> {
  /** Where the runs' directories go (one per run). Default: a fresh temp dir, removed afterwards. */
  readonly dataDir?: string
  /** Crash only after these checkpoints (1 = the first), e.g. `[1, 5, 20]` for a job that makes many. Default: after each. */
  readonly checkpoints?: ReadonlyArray<number>
  /**
   * What to compare instead of the whole output, for values that differ between any two runs
   * (a duration, a path under the run's directory): `({ durationMs, ...rest }) => rest`.
   * Default: the output as stored (schema-encoded).
   */
  readonly normalize?: (output: O) => unknown
  /**
   * A count of the job's side effects so far (lines appended, rows written, calls made to a
   * fake), read before and after each run. A crash right after a committed checkpoint loses no
   * work, so the crashed run and its resume together must make exactly as many as one
   * uninterrupted run: more means the resume redid work its checkpoint recorded as done.
   */
  readonly sideEffects?: () => number | Promise<number>
}

export interface ResumableReport<O, S, Pr> {
  /** The uninterrupted run, as `runJob` gives it. */
  readonly reference: JobRun<O, S, Pr>
  /** The checkpoints after which a crash was tried and the resume gave the same result. */
  readonly crashedAfter: ReadonlyArray<number>
  /** The side effects of the uninterrupted run, when `sideEffects` was given. */
  readonly sideEffects: number | undefined
}

/**
 * The lease of a manager that is going to crash: once it has run out, the next manager may take
 * the job over. Short, so each crash costs a fraction of a second; nothing else runs the job
 * meanwhile (every manager here runs only its own jobs), so a lease that runs out early harms nothing.
 */
const CRASH_LEASE_MS = 100
const STALL_POLL_MS = 20

/**
 * Checks that a job resumes correctly: runs it once uninterrupted (output O, K checkpoints),
 * then for each k in 1..K runs it on a fresh store, stops its manager as a killed process would
 * the moment checkpoint k commits, resumes it in a second manager, and requires output O again
 * (and, with `sideEffects`, as many side effects as the uninterrupted run). Rejects with
 * `ResumeMismatch` naming the checkpoint, or with the uninterrupted run's own failure.
 *
 * @example
 * await checkResumable(ChecksumJob, { files: ["a.txt", "b.txt"] })
 */
export const checkResumable = async <P, S, O, Pr>(
  job: JobDefinition<P, S, O, Pr>,
  params: JobParams<P>,
  options: CheckResumableOptions<O> = {},
): Promise<ResumableReport<O, S, Pr>> => {
  // Its runs each need their own time: one clock moved by the test cannot serve them all.
  if ((options as { clock?: unknown }).clock !== undefined) {
    throw new InvalidOptions({
      option: "clock",
      detail: "checkResumable takes no clock; use runJob(Job, params, { clock }) to test a job on a test clock",
    })
  }
  const root = tempRoot(options.dataDir, options.keep)
  const release = keepProcessAlive()
  try {
    const before = await options.sideEffects?.()
    const reference = await runInDir(job, params, join(root.path, "uninterrupted"), options)
    const effects = before === undefined ? undefined : (await options.sideEffects!()) - before
    const made = reference.run.checkpoints.length
    // Passing a job that never checkpoints would prove nothing: say so instead.
    if (made === 0) {
      throw new RangeError(
        `checkResumable: an uninterrupted run of "${job.name}" made no checkpoint, so there is no crash to resume from (a resumed run of it starts over)`,
      )
    }
    const ks = options.checkpoints ?? Array.from({ length: made }, (_, i) => i + 1)
    for (const k of ks) {
      if (!Number.isInteger(k) || k < 1 || k > made) {
        throw new RangeError(
          `checkResumable: no checkpoint ${k} to crash after: an uninterrupted run of "${job.name}" makes ${made} (1..${made})`,
        )
      }
    }
    const expected = options.normalize ? options.normalize(reference.run.output) : reference.storedOutput
    for (const k of ks) {
      await crashAndResume(
        job,
        params,
        { k, made, expected, effects, dataDir: join(root.path, `crash-after-${k}`), rootDir: root.path },
        options,
      )
    }
    return { reference: reference.run, crashedAfter: ks, sideEffects: effects }
  } finally {
    release()
    root.release()
  }
}

interface Trial {
  /** Crash right after this checkpoint. */
  readonly k: number
  /** Checkpoints of the uninterrupted run. */
  readonly made: number
  /** What the resumed run must give (the normalized or stored output). */
  readonly expected: unknown
  readonly effects: number | undefined
  readonly dataDir: string
  readonly rootDir: string
}

type FirstRun = { readonly crashed: true } | { readonly crashed: false; readonly status: JobStatus | "unrecorded" }

/** One crash after checkpoint `k`, and the resume by a second manager on the same store. */
const crashAndResume = async <P, S, O, Pr>(
  job: JobDefinition<P, S, O, Pr>,
  params: JobParams<P>,
  trial: Trial,
  options: CheckResumableOptions<O>,
) => {
  const { k, dataDir } = trial
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const id = randomUUID()
  const timedOut = (waitingFor: string) => () => new JobTimedOut({ job: job.name, id, timeoutMs, waitingFor, dataDir })
  const mismatch = (
    fields: Pick<ResumeMismatch, "reason" | "expected" | "actual" | "detail"> & {
      diff?: ReadonlyArray<string>
      cause?: unknown
    },
  ) => new ResumeMismatch({ job: job.name, checkpoint: k, diff: [], dataDir: trial.rootDir, ...fields })
  const resolved = await paramsFor(params, dataDir)
  const before = await options.sideEffects?.()

  // The first manager: runs the job until checkpoint k has committed, then "dies".
  let crashing: Promise<void> | undefined
  const first = await JobManager.open({
    ...testManagerOptions(dataDir, options),
    jobs: [job],
    generateId: () => id,
    leaseMs: CRASH_LEASE_MS,
    // Once it has crashed, what it could not write is lost on purpose.
    onError: (error) => void (crashing === undefined && console.error("[jobstate]", error)),
  })
  let firstEnded = false
  try {
    const stopped = new Promise<FirstRun>((resolve) => {
      const unsubscribe = first.subscribeJob(id, (event) => {
        if (event.type === "checkpoint" && event.checkpoint === k) {
          unsubscribe()
          // Synchronously, before the job's checkpoint call returns to it: the job takes no step after checkpoint k.
          crashing = first.simulateCrash()
          resolve({ crashed: true })
        } else if ((event.type === "status" && isTerminalStatus(event.status)) || event.type === "unrecorded") {
          unsubscribe()
          firstEnded = true
          resolve({ crashed: false, status: event.type === "status" ? event.status : "unrecorded" })
        }
      })
    })
    await first.dispatch(job, resolved)
    const outcome = await withDeadline(stopped, timeoutMs, timedOut(`reach checkpoint ${k}`))
    if (!outcome.crashed) {
      const info = await first.getJobInfo(id)
      throw mismatch({
        reason: "CheckpointNotReached",
        expected: k,
        actual: info.checkpoints,
        detail: `an uninterrupted run made ${trial.made} checkpoints, but this run ended (${outcome.status}) after ${info.checkpoints}: the job does not make the same checkpoints each time`,
      })
    }
  } finally {
    await (crashing ?? (firstEnded ? first.close() : first.simulateCrash()))
  }
  const atCrash = await options.sideEffects?.()

  // The second manager: finds the job stalled once the first's lease has run out, and resumes it.
  const second = await JobManager.open({ ...testManagerOptions(dataDir, options), jobs: [job] })
  let ended = false
  try {
    await untilStalled(second, id, Date.now() + timeoutMs, timedOut("be found stalled after the crash"))
    second.runJob(id)
    await second.resume(id).catch(async (error) => {
      // Not resumable: the orphan rule failed it, and result() below says why.
      if (!isTerminalStatus((await second.getJobInfo(id)).status)) throw error
    })
    const handle = await second.handle(id)
    let output: O
    try {
      output = (await withDeadline(
        handle.result().finally(() => (ended = true)),
        timeoutMs,
        timedOut("end after its resume"),
      )) as O
    } catch (error) {
      if (!(error instanceof JobFailed || error instanceof JobCancelled)) throw error
      throw mismatch({
        reason: "ResumeFailed",
        expected: trial.expected,
        actual: undefined,
        detail: `after the crash it did not complete: ${error.message}`,
        cause: error,
      })
    }
    const actual = options.normalize ? options.normalize(output) : (await second.getJobInfo(id)).output
    if (!isDeepStrictEqual(trial.expected, actual)) {
      const diff = diffValues(trial.expected, actual)
      throw mismatch({
        reason: "OutputDiffers",
        expected: trial.expected,
        actual,
        diff: diff.length > 0 ? diff : ["(values differ in a way the diff cannot show)"],
        detail: "its output differs from an uninterrupted run's:",
      })
    }
  } finally {
    await (ended ? second.close() : second.simulateCrash())
  }
  if (before !== undefined && trial.effects !== undefined) {
    const after = await options.sideEffects!()
    const total = after - before
    if (total !== trial.effects) {
      throw mismatch({
        reason: "SideEffectsDiffer",
        expected: trial.effects,
        actual: total,
        detail:
          `it made ${total} side effects (${atCrash! - before} before the crash, ${after - atCrash!} after the resume) where an uninterrupted run makes ${trial.effects}: ` +
          (total > trial.effects
            ? "the resumed run redid work that its checkpoint recorded as done"
            : "the resumed run skipped work"),
      })
    }
  }
}

/** Resolves once the job's manager is known to be gone (its lease ran out): a stalled job. */
const untilStalled = async (manager: JobManager, id: string, deadline: number, timedOut: () => Error) => {
  for (;;) {
    const info = await manager.getJobInfo(id)
    if (info.stalled !== null || info.status !== "running") return
    if (Date.now() > deadline) throw timedOut()
    await new Promise((r) => setTimeout(r, STALL_POLL_MS))
  }
}
