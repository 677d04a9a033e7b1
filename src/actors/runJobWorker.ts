import { Cause, Clock, Effect, Exit, Fiber } from "effect"
import { fromCallback, type AnyMachineSnapshot, type EventObject } from "xstate"
import type { DbInboxEntry } from "../persistence/JobStore.js"
import { isMachineJob } from "../jobs/defineMachineJob.js"
import { runMachine } from "./machineRun.js"
import { toJobOp, type ChildSpec, type JobContext, type JobOp, type LogLevel } from "../jobs/defineJob.js"
import { JobInterrupted, toStoredError, type StoredError } from "../jobs/errors.js"
import { isStoreFailure } from "../persistence/storeFailure.js"
import { retryAt } from "../jobs/retryPolicy.js"
import type { Progress } from "../jobs/Progress.js"
import type { JobLifecycleEvent, WorkerCommand, WorkerInput } from "../machines/jobLifecycleMachine.js"
import { encodeJsonWith } from "../persistence/codec.js"
import type { LiveJob } from "./LiveJob.js"
import { outcomeOf } from "./telemetry.js"
import type { ChildOutcome } from "./children.js"
import type { Clock as EngineClock, ClockTimer } from "./clock.js"

/** What the worker needs from the manager: the live job, and the writes a job may ask for. */
export interface JobHost {
  liveJob(jobId: string): LiveJob | undefined
  /** Resolves once the checkpoint is committed; a machine job's carries the last inbox entry it applied. */
  checkpoint(job: LiveJob, state: unknown, inboxApplied?: number): Promise<void>
  progress(job: LiveJob, progress: Progress<unknown>): void
  log(job: LiveJob, message: string, level: LogLevel): void
  dataDir(job: LiveJob): string
  /** The engine's clock (ms since the epoch). */
  now(): number
  spawnChildren(job: LiveJob, children: ReadonlyArray<ChildSpec>): Promise<ReadonlyArray<string>>
  /** Marks the job awaiting when any child is still live. */
  awaitChildren(job: LiveJob, ids: ReadonlyArray<string>): Promise<ChildOutcome>
  /** A machine job's inbox entries after `afterSeq`, in order. */
  inbox(job: LiveJob, afterSeq: number, limit: number): Promise<ReadonlyArray<DbInboxEntry>>
  /** A child a machine job invoked, as it stands: its key among the job's children, and its outcome. */
  invokedChild(job: LiveJob, childId: string): Promise<{ readonly key: string | null; readonly outcome: ChildOutcome }>
  /** The live children a machine job invoked (`fromJob`), with their keys. */
  invokedChildren(job: LiveJob): Promise<ReadonlyArray<{ readonly id: string; readonly key: string }>>
  /** Cancels a child a machine job invoked and no longer awaits (it left the invoking state). */
  cancelChild(job: LiveJob, childId: string): Promise<void>
  /** A machine job's machine took a transition (committed), or was restored (`event` undefined): for an inspector. */
  machineTransition?(job: LiveJob, snapshot: AnyMachineSnapshot, event: EventObject | undefined): void
  /** The clock of the attempt's timeout. */
  readonly clock: EngineClock
  /** Effect's `Clock` for the job's run, when it is not Effect's own (the real one). */
  readonly effectClock: Clock.Clock | undefined
}

/**
 * How an attempt ended, as the lifecycle event the machine takes: a `WORKER.*` report, or
 * `REQUEUE` when the store failed under the attempt (see `reportOf`).
 */
export type WorkerReport = Extract<JobLifecycleEvent, { type: `WORKER.${string}` | "REQUEUE" }>

/** How long an attempt stopped by a store failure waits in line before it is started again. */
const STORE_FAILURE_REQUEUE_MS = 1_000

const interruptedFor = (reason: "pause" | "cancel"): WorkerReport =>
  reason === "pause" ? { type: "WORKER.PAUSED" } : { type: "WORKER.CANCELLED" }

/** A job's attempt in progress: its run as an Effect fiber. */
export interface AttemptRun {
  /** What the lifecycle machine tells the worker (ask to stop at an interrupt point; force it). */
  command(command: WorkerCommand): void
  /** Stops the run where it stands (the job left `running`, or its manager crashed). */
  stop(): void
  /** The worker actor attached to this run, once the job has its actor: reports go through it, so an inspector sees them come from the worker. */
  attached: ((event: WorkerReport) => void) | undefined
}

/**
 * Runs a job's attempt: its `run` as an Effect fiber, from the params and last checkpoint the
 * manager decoded from the stored row, so a resumed job never starts over. How the run ended
 * goes to `report`, as the lifecycle event the machine takes (`WORKER.DONE`, ...). The run
 * starts on the next microtask; stopping it interrupts the fiber.
 */
export const startAttempt = (job: LiveJob, host: JobHost, report: (event: WorkerReport) => void): AttemptRun => {
  let fiber: Fiber.Fiber<unknown, unknown> | undefined
  let stopped = false
  let exited = false
  let deadline: ClockTimer | undefined
  queueMicrotask(() => {
    if (stopped) return
    const { timeoutMs } = job
    // Set before the fiber starts: one that ends at once must find the timer there to clear.
    if (timeoutMs !== undefined) {
      // Interrupted where it stands: asleep in an Effect, or awaiting a promise that ignores ctx.signal.
      // Only a guard, as every clock timer: the job's own work is what keeps the process alive.
      deadline = host.clock.setTimeout(() => {
        if (exited || stopped || job.interruptReason !== null || fiber === undefined) return
        job.timeOut(timeoutMs)
        Effect.runFork(Fiber.interrupt(fiber))
      }, timeoutMs)
    }
    const { trace } = job
    const run = onClock(program(job, host), host)
    fiber = trace === undefined ? Effect.runFork(run) : trace.fork(run)
    fiber.addObserver((exit) => {
      exited = true
      host.clock.clearTimeout(deadline)
      if (stopped) {
        trace?.end("interrupted", undefined, exit)
        return
      }
      const reported = reportOf(job, exit, host)
      trace?.end(
        outcomeOf(reported, job.interruptReason),
        reported.type === "WORKER.FAILED" ? reported.error : undefined,
        exit,
      )
      report(reported)
    })
  })
  return {
    attached: undefined,
    command(command) {
      if (command.type === "INTERRUPT") {
        job.requestInterrupt(command.reason)
        job.trace?.interruptRequested(command.reason)
      } else if (fiber !== undefined && !exited) {
        job.trace?.interruptForced()
        Effect.runFork(Fiber.interrupt(fiber))
      }
    },
    stop() {
      if (stopped) return
      stopped = true
      if (job.phase === "running") job.phase = "stopped"
      host.clock.clearTimeout(deadline)
      if (fiber !== undefined && !exited) Effect.runFork(Fiber.interrupt(fiber))
      // Stopped before its run began: the attempt's span ends here.
      else if (fiber === undefined) job.trace?.end("interrupted")
    },
  }
}

/**
 * The worker the lifecycle machine invokes in `running`. Its input is only the job id: it
 * attaches to the attempt the manager started for the live job (a job gets its actor only when
 * something must talk to it: a pause, a cancel, shutdown, an inspector), passes the machine's
 * commands to it, and stops it when the machine leaves `running`. How the run ends reaches
 * the machine from the manager, as the worker's report.
 */
export const makeRunJobWorker = (host: JobHost) =>
  fromCallback<WorkerCommand, WorkerInput>(({ input, sendBack, receive }) => {
    const job = host.liveJob(input.jobId)
    const run = job?.run
    if (run === undefined) {
      sendBack({ type: "WORKER.FAILED", error: { _tag: "EngineError", message: `job ${input.jobId} is not live` } })
      return
    }
    receive((command) => run.command(command))
    run.attached = sendBack
    return () => {
      run.attached = undefined
      run.stop()
    }
  })

const program = (job: LiveJob, host: JobHost): Effect.Effect<unknown, unknown> =>
  Effect.suspend(() => {
    if (isMachineJob(job.definition)) return Effect.tryPromise({ try: () => runMachine(job, host), catch: (e) => e })
    const calls = new EagerCalls()
    const result: unknown = job.definition.run(jobContext(job, host, calls))
    if (Effect.isEffect(result)) {
      calls.lazy()
      return result as Effect.Effect<unknown, unknown>
    }
    if (isThenable(result)) {
      calls.eager()
      return Effect.tryPromise({ try: () => Promise.resolve(result), catch: (e) => e })
    }
    return Effect.die(
      new TypeError(`run of "${job.definition.name}" returned ${typeof result}, not an Effect or a Promise`),
    )
  })

/**
 * How the context's calls that do something (log, progress, checkpoint, spawnChildren) run. In
 * an Effect job they are Effects, run when yielded, as any Effect. In an `async` job each takes
 * effect when it is made, in the order made, whether or not it is awaited (awaiting still means
 * "done": a checkpoint awaited is committed). Which kind a job is shows only once its `run` has
 * returned (an Effect or a promise): calls made before that wait for it, or start at once when
 * something awaits one of them.
 */
class EagerCalls {
  private mode: "unknown" | "lazy" | "eager" = "unknown"
  private waiting: Array<() => void> = []

  /** The Effect as a `JobOp`: yielded, it runs as an Effect; in an async job, it has started already. */
  op<A, E>(effect: Effect.Effect<A, E>): JobOp<A, E> {
    // An Effect job's calls (the hot path of a drain) are plain Effects, awaitable as any JobOp.
    if (this.mode === "lazy") return toJobOp(effect)
    let started: Promise<A> | undefined
    /** Run as an Effect (yielded) before anything started it: a call made before the job's kind was known, already done. */
    let ran = false
    const start = (): Promise<A> => {
      if (started === undefined) {
        started = Effect.runPromise(effect)
        // Not awaited, a failure is not seen by the job (an async job that needs to know awaits
        // the call), and is never an unhandled rejection.
        started.catch(() => undefined)
      }
      return started
    }
    // Yielded as an Effect after it started (an async job that runs Effects of its own): the
    // same call, awaited, not run again.
    const once = Effect.suspend(() => {
      if (started !== undefined) return Effect.tryPromise({ try: () => started!, catch: (e) => e as E })
      ran = true
      return effect
    })
    const op = Object.assign(once, {
      // An arrow: `this` is the runner, whatever the op is called on.
      then: <R1 = A, R2 = never>(
        onFulfilled?: ((value: A) => R1 | PromiseLike<R1>) | null,
        onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
      ): PromiseLike<R1 | R2> => {
        // Awaited before the job's kind is known: it is a promise's, so the calls before it start first.
        this.flush()
        return start().then(onFulfilled, onRejected)
      },
    })
    if (this.mode === "eager") void start()
    else if (this.mode === "unknown") this.waiting.push(() => void (ran || start()))
    return op
  }

  /** An Effect job: its calls run when yielded; none made before it returned has started. */
  lazy() {
    this.mode = "lazy"
    this.waiting = []
  }

  /** An `async` job: the calls made so far start now, in order, and later ones when made. */
  eager() {
    this.mode = "eager"
    this.flush()
  }

  private flush() {
    for (const start of this.waiting.splice(0)) start()
  }
}

/** The run on the engine's clock: its `Effect.sleep` and `Clock` read it, when it is not the real one. */
const onClock = (run: Effect.Effect<unknown, unknown>, host: JobHost): Effect.Effect<unknown, unknown> =>
  host.effectClock === undefined ? run : Effect.provideService(run, Clock.Clock, host.effectClock)

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

const reportOf = (job: LiveJob, exit: Exit.Exit<unknown, unknown>, host: JobHost): WorkerReport => {
  // The run ended in awaitChildren (however it ended after): it waits for its children, unless cancelled.
  if (job.awaitingChildren)
    return job.interruptReason === "cancel" ? { type: "WORKER.CANCELLED" } : { type: "WORKER.AWAITING" }
  // A machine job came to rest: it waits for an event, a child's end or its next timer, unless cancelled.
  if (job.resting !== undefined)
    return job.interruptReason === "cancel"
      ? { type: "WORKER.CANCELLED" }
      : { type: "WORKER.WAITING", until: job.resting.until }
  if (Exit.isSuccess(exit)) {
    try {
      const encoded = encodeJsonWith(job.definition.output, exit.value, `output of job ${job.id}`)
      job.outputJson = encoded === undefined ? null : JSON.stringify(encoded)
      return { type: "WORKER.DONE" }
    } catch (error) {
      // The job's own output does not fit its schema: a defect of the job, not retried unless asked.
      return failed(job, toStoredError(error), true, host)
    }
  }
  const cause = exit.cause
  const requested = job.interruptReason
  if (Cause.hasInterruptsOnly(cause)) {
    // Forced after the grace period, for the pause or cancel that was asked for.
    if (requested !== null) return interruptedFor(requested)
    if (job.timedOut !== undefined) return failed(job, toStoredError(job.timedOut), false, host)
    return failed(job, { _tag: "Interrupted", message: "the job's fiber was interrupted" }, true, host)
  }
  const error = Cause.squash(cause)
  // The job stopped at an interrupt point, or (an async job honouring ctx.signal) with the
  // abort's error: it stopped as asked.
  if (requested !== null && (error instanceof JobInterrupted || isAbortError(error, job.signal))) {
    return interruptedFor(requested)
  }
  // A job that honoured ctx.signal after its timeout failed with the timeout, not the abort's error.
  if (job.timedOut !== undefined && isAbortError(error, job.signal))
    return failed(job, toStoredError(job.timedOut), false, host)
  // The store failed under the attempt (a call the job made to it met an outage): not the job's
  // failure. Stopped as asked when a pause or cancel was; else back in line, to resume from its
  // last checkpoint a moment later (not at once: the store may still fail), with no retry spent.
  if (isStoreFailure(error)) {
    if (requested !== null) return interruptedFor(requested)
    job.requeuedFor = toStoredError(error)
    return { type: "REQUEUE", retryAt: host.now() + STORE_FAILURE_REQUEUE_MS }
  }
  return failed(job, toStoredError(error), !Cause.hasFails(cause), host)
}

/** A failed attempt, and when to try again if the job's retry policy retries it. */
const failed = (job: LiveJob, error: StoredError, defect: boolean, host: JobHost): WorkerReport => {
  const failures = job.context.failures
  const at = retryAt(job.retry, { error, defect }, failures, host.now())
  return at === undefined ? { type: "WORKER.FAILED", error } : { type: "WORKER.FAILED", error, retryAt: at }
}

const isAbortError = (error: unknown, signal: AbortSignal): boolean =>
  error === signal.reason || (error instanceof Error && error.name === "AbortError")

const interruptCheck = (job: LiveJob): JobInterrupted | undefined =>
  job.interruptReason !== null
    ? new JobInterrupted({ reason: job.interruptReason })
    : job.finished
      ? new JobInterrupted({ reason: "cancel" })
      : undefined

const jobContext = (job: LiveJob, host: JobHost, calls: EagerCalls): JobContext<unknown, unknown, unknown> => {
  const checkInterrupt = toJobOp(
    Effect.suspend(() => {
      const interrupted = interruptCheck(job)
      return interrupted === undefined ? Effect.void : Effect.fail(interrupted)
    }),
  )
  return {
    id: job.id,
    name: job.definition.name,
    attempt: job.context.attempt,
    params: job.params,
    get state() {
      return job.state
    },
    get dataDir() {
      return host.dataDir(job)
    },
    get signal() {
      return job.signal
    },
    log: (message, level = "info") => calls.op(Effect.sync(() => host.log(job, message, level))),
    progress: (p) => calls.op(Effect.sync(() => host.progress(job, p))),
    checkInterrupt,
    checkpoint: (state) =>
      calls.op(
        Effect.tryPromise({ try: () => host.checkpoint(job, state), catch: (e) => e as never }).pipe(
          Effect.andThen(checkInterrupt),
        ),
      ),
    spawnChildren: (children) =>
      calls.op(
        Effect.tryPromise({
          try: () => host.spawnChildren(job, children as ReadonlyArray<ChildSpec>),
          catch: (e) => e as never,
        }),
      ),
    awaitChildren: <O>(ids: ReadonlyArray<string>) =>
      toJobOp(
        // No interrupt check first: a job asked to pause while it begins to wait is paused
        // waiting (resumed, it waits on), not made to run again only to wait.
        Effect.tryPromise({ try: () => host.awaitChildren(job, ids), catch: (e) => e as never }).pipe(
          Effect.flatMap((outcome) =>
            outcome._tag === "Done"
              ? Effect.succeed(outcome.outputs as ReadonlyArray<O>)
              : outcome._tag === "Failed"
                ? Effect.fail(outcome.error)
                : // Some child is still live: the attempt ends here, and the job waits for them.
                  Effect.interrupt,
          ),
        ),
      ),
  }
}
