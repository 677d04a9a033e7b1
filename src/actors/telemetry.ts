import { Cause, Clock, Context, Effect, Exit, Layer, Metric, Scope, type Fiber, type Tracer } from "effect"
import type { StoredError } from "../jobs/errors.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import type { JobCount } from "../persistence/JobStore.js"
import type { WorkerReport } from "./runJobWorker.js"

/**
 * What `JobManager.open({ telemetry })` takes: any Effect layer without requirements that
 * provides a tracer and/or exports Effect's metrics, typically `NodeSdk.layer(…)` from
 * `@effect/opentelemetry`. The manager builds it on open and releases it on close (which
 * flushes and shuts down what the layer made); `Layer.succeedContext(context)` shares an app's
 * own services without handing them over.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TelemetryLayer = Layer.Layer<any, unknown, never>

/** How an attempt ended, as its span and the duration metric say. */
export type AttemptOutcome =
  | "completed"
  | "failed"
  | "retrying"
  | "paused"
  | "cancelled"
  | "awaiting"
  | "interrupted"
  | "requeued"

/** The attributes and names jobstate's spans and metrics use. */
export const TelemetryNames = {
  span: (type: string) => `jobstate.attempt ${type}`,
  jobId: "jobstate.job.id",
  jobType: "jobstate.job.type",
  attempt: "jobstate.attempt",
  outcome: "jobstate.attempt.outcome",
  errorTag: "jobstate.error.tag",
  checkpoint: "jobstate.checkpoint",
  queueWaitMs: "jobstate.queue_wait_ms",
  status: "jobstate.job.status",
  /** Histogram, seconds, by type and outcome. */
  attemptDuration: "jobstate.attempt.duration",
  /** Histogram, seconds, by type. */
  queueWait: "jobstate.queue.wait",
  /** Counter, by type and status. */
  statusChanges: "jobstate.job.status_changes",
  /** Gauge, by type and status: the jobs the store holds. */
  jobs: "jobstate.jobs",
  /** Up-down counter, by type. */
  activeAttempts: "jobstate.attempts.active",
} as const

const N = TelemetryNames

const attemptDuration = Metric.histogram(N.attemptDuration, {
  description: "Duration of each attempt of a job, in seconds, by type and outcome",
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  attributes: { unit: "s" },
})
const queueWait = Metric.histogram(N.queueWait, {
  description: "Time from a job being due (queued, or its runAt) to the start of its attempt, in seconds, by type",
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
  attributes: { unit: "s" },
})
const statusChanges = Metric.counter(N.statusChanges, {
  description: "Status changes this manager made, by type and new status",
  incremental: true,
})
const activeAttempts = Metric.counter(N.activeAttempts, {
  description: "Attempts running in this manager, by type",
})
const jobs = Metric.gauge(N.jobs, {
  description: "Jobs in the store, by type and status (every manager with telemetry reports the whole store's counts)",
})

/** How often the store's counts are read for the `jobstate.jobs` gauge, besides soon after a status change here. */
const JOB_COUNTS_EVERY_MS = 15_000
/** A burst of status changes here is one read, this long after the first. */
const JOB_COUNTS_SOON_MS = 1_000

/**
 * How an attempt ended, from what the worker reports and the interrupt that was asked for: the
 * lifecycle machine pauses a retryable failure while a pause is pending, and fails for good
 * what fails while a cancel is.
 */
export const outcomeOf = (report: WorkerReport, interruptReason: "pause" | "cancel" | null): AttemptOutcome => {
  switch (report.type) {
    case "WORKER.DONE":
      return "completed"
    case "WORKER.PAUSED":
      return "paused"
    case "WORKER.CANCELLED":
      return "cancelled"
    case "WORKER.AWAITING":
    case "WORKER.WAITING":
      return interruptReason === "pause" ? "paused" : "awaiting"
    case "WORKER.FAILED":
      if (report.retryAt === undefined || interruptReason === "cancel") return "failed"
      return interruptReason === "pause" ? "paused" : "retrying"
    case "REQUEUE":
      return "requeued"
  }
}

/**
 * OpenTelemetry through Effect's tracer and metrics, for a manager opened with `telemetry`. A
 * manager without it has none, and pays one `undefined` check per attempt.
 */
export class JobTelemetry {
  private readonly clock: Clock.Clock
  private counts: JobCounts | undefined

  private constructor(
    readonly context: Context.Context<never>,
    private readonly scope: Scope.Closeable,
  ) {
    this.clock = Context.get(context, Clock.Clock)
  }

  /** Builds the app's layer; released by `close()`. */
  static async open(layer: TelemetryLayer): Promise<JobTelemetry> {
    const scope = Scope.makeUnsafe()
    try {
      const context = await Effect.runPromise(
        Layer.buildWithScope(layer, scope) as Effect.Effect<Context.Context<never>, unknown>,
      )
      return new JobTelemetry(context, scope)
    } catch (error) {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw error
    }
  }

  /** Releases the layer: its finalizers flush and shut down the exporters it made. */
  close(): Promise<void> {
    this.counts?.stop()
    return Effect.runPromise(Scope.close(this.scope, Exit.void))
  }

  /**
   * Keeps the `jobstate.jobs` gauge: the store's counts by type and status (one grouped query),
   * read now, every 15 s (for what other processes change), and a second after this manager
   * changes a status. A gauge, not a sum of this manager's changes: jobs others dispatch, run or
   * prune count too, and a restart loses nothing.
   */
  countJobs(read: () => Promise<ReadonlyArray<JobCount>>, onError: (error: unknown) => void) {
    this.counts?.stop()
    this.counts = new JobCounts(read, (counts) => this.setJobs(counts), onError)
  }

  private readonly reported = new Set<string>()

  private setJobs(counts: ReadonlyArray<JobCount>) {
    const now = new Map(counts.map((c) => [`${c.name}\u0000${c.status}`, c.count]))
    // A type and status no longer in the store is 0, not its last count.
    for (const key of this.reported) if (!now.has(key)) now.set(key, 0)
    for (const [key, count] of now) {
      const [type, status] = key.split("\u0000") as [string, string]
      Metric.withAttributes(jobs, { [N.jobType]: type, [N.status]: status }).updateUnsafe(count, this.context)
      this.reported.add(key)
    }
  }

  /** The span of one attempt, started now. */
  attempt(job: {
    readonly id: string
    readonly type: string
    readonly attempt: number
    readonly checkpoint: number
    readonly queueWaitMs: number | undefined
  }): AttemptTrace {
    const attributes: Record<string, unknown> = {
      [N.jobId]: job.id,
      [N.jobType]: job.type,
      [N.attempt]: job.attempt,
      [N.checkpoint]: job.checkpoint,
    }
    if (job.queueWaitMs !== undefined) attributes[N.queueWaitMs] = job.queueWaitMs
    const span = Effect.runSyncWith(this.context)(
      Effect.makeSpan(N.span(job.type), { attributes, kind: "consumer", root: true }),
    )
    if (job.attempt > 1)
      span.event("jobstate.resume", this.nanos(), { [N.checkpoint]: job.checkpoint, [N.attempt]: job.attempt })
    if (job.queueWaitMs !== undefined)
      Metric.withAttributes(queueWait, { [N.jobType]: job.type }).updateUnsafe(job.queueWaitMs / 1000, this.context)
    Metric.withAttributes(activeAttempts, { [N.jobType]: job.type }).updateUnsafe(1, this.context)
    return new AttemptTrace(this, span, job.type, this.clock.currentTimeMillisUnsafe())
  }

  /** A status change this manager committed (what its `manager.events` say). */
  statusChanged(type: string, status: JobStatus) {
    Metric.withAttributes(statusChanges, { [N.jobType]: type, [N.status]: status }).updateUnsafe(1, this.context)
    this.counts?.soon()
  }

  /** @internal */
  nanos(): bigint {
    return this.clock.currentTimeNanosUnsafe()
  }

  /** @internal */
  ended(type: string, outcome: AttemptOutcome, startedAt: number) {
    const seconds = (this.clock.currentTimeMillisUnsafe() - startedAt) / 1000
    Metric.withAttributes(attemptDuration, { [N.jobType]: type, [N.outcome]: outcome }).updateUnsafe(
      seconds,
      this.context,
    )
    Metric.withAttributes(activeAttempts, { [N.jobType]: type }).updateUnsafe(-1, this.context)
  }
}

/** The reads behind the `jobstate.jobs` gauge: one at a time, on a timer and on demand. */
class JobCounts {
  private readonly timer: ReturnType<typeof setInterval>
  private due: ReturnType<typeof setTimeout> | undefined
  private reading = false
  /** A read was asked for while one ran: it may have missed the latest change. */
  private again = false
  private stopped = false

  constructor(
    private readonly read: () => Promise<ReadonlyArray<JobCount>>,
    private readonly report: (counts: ReadonlyArray<JobCount>) => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => this.now(), JOB_COUNTS_EVERY_MS)
    this.timer.unref()
    this.now()
  }

  soon() {
    if (this.due !== undefined || this.stopped) return
    this.due = setTimeout(() => {
      this.due = undefined
      this.now()
    }, JOB_COUNTS_SOON_MS)
    this.due.unref()
  }

  private now() {
    if (this.stopped) return
    if (this.reading) {
      this.again = true
      return
    }
    this.reading = true
    this.read()
      .then((counts) => this.stopped || this.report(counts), this.onError)
      .finally(() => {
        this.reading = false
        if (this.again) {
          this.again = false
          this.now()
        }
      })
  }

  stop() {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.due)
  }
}

/** One attempt's span: the job's `run` runs inside it, and it ends once with the attempt's outcome. */
export class AttemptTrace {
  private ended = false

  constructor(
    private readonly telemetry: JobTelemetry,
    readonly span: Tracer.Span,
    private readonly type: string,
    private readonly startedAt: number,
  ) {}

  /** Runs the job's effect with the app's services, as a child of this span. */
  fork<A, E>(effect: Effect.Effect<A, E>): Fiber.Fiber<A, E> {
    return Effect.runForkWith(this.telemetry.context)(Effect.withParentSpan(effect, this.span))
  }

  checkpoint(checkpoint: number) {
    if (!this.ended) this.span.event("jobstate.checkpoint", this.telemetry.nanos(), { [N.checkpoint]: checkpoint })
  }

  interruptRequested(reason: "pause" | "cancel") {
    if (!this.ended) this.span.event(`jobstate.${reason}_requested`, this.telemetry.nanos())
  }

  interruptForced() {
    if (!this.ended) this.span.event("jobstate.interrupt_forced", this.telemetry.nanos())
  }

  /**
   * Ends the span (once). A failed or retried attempt ends with the fiber's exit (the span's
   * status is an error, with the exception); a pause or cancel as asked ends OK.
   */
  end(outcome: AttemptOutcome, error?: StoredError, exit?: Exit.Exit<unknown, unknown>) {
    if (this.ended) return
    this.ended = true
    this.span.attribute(N.outcome, outcome)
    if (error !== undefined) {
      this.span.attribute(N.errorTag, error._tag)
      this.span.attribute("error.type", error._tag)
    }
    const failed = outcome === "failed" || outcome === "retrying"
    // A timeout interrupts the fiber: its exit says "interrupted", the attempt failed with JobTimeout.
    const failedExit = exit !== undefined && Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)
    const spanExit: Exit.Exit<unknown, unknown> = failed
      ? failedExit
        ? exit
        : Exit.fail(error ?? outcome)
      : outcome === "interrupted" && exit !== undefined
        ? exit
        : Exit.void
    this.span.end(this.telemetry.nanos(), spanExit)
    this.telemetry.ended(this.type, outcome, this.startedAt)
  }
}
