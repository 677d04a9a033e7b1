import { Cause, Effect, Exit, Fiber } from "effect"
import { fromCallback } from "xstate"
import type { AsyncJobContext, JobContext, LogLevel } from "../jobs/defineJob.js"
import { JobInterrupted, toStoredError } from "../jobs/errors.js"
import type { Progress } from "../jobs/Progress.js"
import type { JobLifecycleEvent, WorkerCommand, WorkerInput } from "../machines/jobLifecycleMachine.js"
import { encodeWith } from "../persistence/codec.js"
import type { LiveJob } from "./LiveJob.js"

/** What the worker needs from the manager: the live job, and the writes a job may ask for. */
export interface JobHost {
  liveJob(jobId: string): LiveJob | undefined
  /** Resolves once the checkpoint is committed. */
  checkpoint(job: LiveJob, state: unknown): Promise<void>
  progress(job: LiveJob, progress: Progress<unknown>): void
  log(job: LiveJob, message: string, level: LogLevel): void
  dataDir(job: LiveJob): string
}

type WorkerReport = Extract<JobLifecycleEvent, { type: `WORKER.${string}` }>

const interruptedFor = (reason: "pause" | "cancel"): WorkerReport =>
  reason === "pause" ? { type: "WORKER.PAUSED" } : { type: "WORKER.CANCELLED" }

/**
 * The worker the lifecycle machine invokes in `running`: runs the job's `run` as an Effect
 * fiber and reports how it ended. Its input is only the job id; the job's params and last
 * checkpoint come from the live job the manager built from the stored row, so a restored or
 * resumed job never starts over. Stopping the worker interrupts the fiber.
 */
export const makeRunJobWorker = (host: JobHost) =>
  fromCallback<WorkerCommand, WorkerInput>(({ input, sendBack, receive }) => {
    const job = host.liveJob(input.jobId)
    if (job === undefined) {
      sendBack({ type: "WORKER.FAILED", error: { _tag: "EngineError", message: `job ${input.jobId} is not live` } })
      return
    }
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    let stopped = false
    let exited = false

    receive((command) => {
      if (command.type === "INTERRUPT") job.requestInterrupt(command.reason)
      else if (fiber !== undefined && !exited) Effect.runFork(Fiber.interrupt(fiber))
    })

    // Start on the next microtask: the claim that started this actor commits first.
    queueMicrotask(() => {
      if (stopped) return
      fiber = Effect.runFork(program(job, host))
      fiber.addObserver((exit) => {
        exited = true
        if (!stopped) sendBack(report(job, exit))
      })
    })

    return () => {
      stopped = true
      job.finished = true
      if (fiber !== undefined && !exited) Effect.runFork(Fiber.interrupt(fiber))
    }
  })

const program = (job: LiveJob, host: JobHost): Effect.Effect<unknown, unknown> => {
  const run = job.definition.run
  if (run._tag === "Async") {
    const ctx = asyncContext(job, host)
    return Effect.tryPromise({ try: () => run.fn(ctx), catch: (e) => e })
  }
  return Effect.suspend(() => {
    const result = run.fn(effectContext(job, host)) as unknown
    if (!Effect.isEffect(result)) {
      return Effect.die(
        new TypeError(`run of "${job.definition.name}" returned ${typeof result}, not an Effect; declare it \`async\` to return a Promise`),
      )
    }
    return result as Effect.Effect<unknown, unknown>
  })
}

const report = (job: LiveJob, exit: Exit.Exit<unknown, unknown>): WorkerReport => {
  if (Exit.isSuccess(exit)) {
    try {
      const encoded = encodeWith(job.definition.output, exit.value, `output of job ${job.id}`)
      job.outputJson = encoded === undefined ? null : JSON.stringify(encoded)
      return { type: "WORKER.DONE" }
    } catch (error) {
      return { type: "WORKER.FAILED", error: toStoredError(error) }
    }
  }
  const cause = exit.cause
  // Anything a job ends with after a pause/cancel was asked for (its own JobInterrupted, an
  // AbortError from ctx.signal, or a forced interruption) means it stopped as asked.
  if (job.interruptReason !== null) return interruptedFor(job.interruptReason)
  if (Cause.hasInterruptsOnly(cause)) {
    return { type: "WORKER.FAILED", error: { _tag: "Interrupted", message: "the job's fiber was interrupted" } }
  }
  const error = Cause.squash(cause)
  if (error instanceof JobInterrupted) return interruptedFor(error.reason)
  return { type: "WORKER.FAILED", error: toStoredError(error) }
}

const interruptCheck = (job: LiveJob): JobInterrupted | undefined =>
  job.interruptReason !== null ? new JobInterrupted({ reason: job.interruptReason }) : job.finished ? new JobInterrupted({ reason: "cancel" }) : undefined

/** Adds the members both context forms share; getters stay live (state changes at each checkpoint). */
const withBase = <C extends object>(job: LiveJob, host: JobHost, members: C) =>
  Object.defineProperties(members, Object.getOwnPropertyDescriptors(baseContext(job, host))) as C &
    ReturnType<typeof baseContext>

const baseContext = (job: LiveJob, host: JobHost) => ({
  id: job.id,
  name: job.definition.name,
  attempt: job.actor.getSnapshot().context.attempt,
  params: job.params,
  get state() {
    return job.state
  },
  get dataDir() {
    return host.dataDir(job)
  },
  signal: job.abort.signal,
})

const effectContext = (job: LiveJob, host: JobHost): JobContext<unknown, unknown, unknown> => {
  const checkInterrupt = Effect.suspend(() => {
    const interrupted = interruptCheck(job)
    return interrupted === undefined ? Effect.void : Effect.fail(interrupted)
  })
  return withBase(job, host, {
    log: (message: string, level: LogLevel = "info") => Effect.sync(() => host.log(job, message, level)),
    progress: (p: Progress<unknown>) => Effect.sync(() => host.progress(job, p)),
    checkInterrupt,
    checkpoint: (state: unknown) =>
      Effect.tryPromise({
        try: () => host.checkpoint(job, state),
        catch: (e) => e as never,
      }).pipe(Effect.andThen(checkInterrupt)),
  })
}

const asyncContext = (job: LiveJob, host: JobHost): AsyncJobContext<unknown, unknown, unknown> => {
  const checkInterrupt = async () => {
    const interrupted = interruptCheck(job)
    if (interrupted !== undefined) throw interrupted
  }
  return withBase(job, host, {
    log: async (message: string, level: LogLevel = "info") => host.log(job, message, level),
    progress: async (p: Progress<unknown>) => host.progress(job, p),
    checkInterrupt,
    checkpoint: async (state: unknown) => {
      await host.checkpoint(job, state)
      await checkInterrupt()
    },
  })
}
