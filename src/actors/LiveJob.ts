import type { AnyActorRef } from "xstate"
import type { JobDefinition } from "../jobs/defineJob.js"
import { JobTimeout, type StoredError } from "../jobs/errors.js"
import type { RetryPolicy } from "../jobs/retryPolicy.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import { Progress } from "../jobs/Progress.js"
import type { ProgressColumns } from "../persistence/JobStore.js"
import type { JobLifecycleActor } from "../machines/jobLifecycleMachine.js"
import { encodeLifecycle, type PersistedLifecycle } from "./snapshots.js"
import type { AttemptRun } from "./runJobWorker.js"
import type { AttemptTrace } from "./telemetry.js"
import type { ClockTimer } from "./clock.js"

/** Settles a caller waiting for a job to reach a status (pause(), cancel(), result()). */
export interface StatusWaiter {
  readonly until: (status: JobStatus) => boolean
  readonly resolve: (status: JobStatus) => void
  readonly reject: (error: unknown) => void
}

/**
 * A job that holds a slot: its lifecycle, its attempt in progress, the worker's interrupt flags,
 * and what it has reported but not yet written. Only running jobs have one; a queued or paused
 * job is a row.
 *
 * Its lifecycle is the machine's snapshot as data (`lifecycle`) until something must talk to
 * the job while it runs (a pause, a cancel, shutdown, an inspector): then it gets its XState
 * actor (`actor`), started in that snapshot, and the actor is the lifecycle from then on. A job
 * that just runs and ends takes its end from the machine's transition computed offline.
 */
export class LiveJob {
  /** The lifecycle, while the job has no actor. */
  lifecycle: PersistedLifecycle
  actor: JobLifecycleActor | undefined
  /** The attempt in progress. */
  run: AttemptRun | undefined
  /** Set by the machine's INTERRUPT command; read at the job's interrupt points. */
  interruptReason: "pause" | "cancel" | null = null
  private abortController: AbortController | undefined
  /**
   * Where the attempt stands: `running`; `stopped`, its run told to stop (its late calls are
   * ignored); `leaving`, out of `running` with the write recording it queued (or, fenced or
   * crashed, with nothing to write).
   */
  phase: "running" | "stopped" | "leaving" = "running"
  /** A late call was reported (`JobCallIgnored`): once per attempt is enough. */
  lateCallReported = false

  /** Calls from its run are ignored: it is stopped or leaving. */
  get finished(): boolean {
    return this.phase !== "running"
  }

  get leaving(): boolean {
    return this.phase === "leaving"
  }
  /** JSON of the encoded output, set by the worker before it reports WORKER.DONE. */
  outputJson: string | null = null
  stateVersion: number
  latestProgress: Progress<unknown> | null = null
  progressDirty = false
  progressWrittenAt = 0
  progressTimer: ClockTimer | undefined
  readonly waiters: StatusWaiter[] = []
  /** Set when the attempt outlived its `timeoutMs` and was interrupted for it. */
  timedOut: JobTimeout | undefined
  /** The run awaits children still live: the attempt ends waiting for them, whatever the run does next. */
  awaitingChildren = false
  /** A machine job's last applied inbox entry (the row's `inbox_applied`, then each checkpoint's). */
  inboxApplied = 0
  /** A machine job's run came to rest: it waits for an event, a child's end, or `until` (its next timer). */
  resting: { readonly until: number | null } | undefined
  /** A machine job's machine as the inspector sees it (an actor never started: the engine runs the machine). */
  machineActor: AnyActorRef | undefined
  /** Set while a machine job runs: it may have news (an event sent, a child ended), its run looks. */
  onNews: (() => void) | undefined
  /** The store failure that ended the attempt: the job goes back in line, no retry spent. */
  requeuedFor: StoredError | undefined
  /** This attempt's span, when the manager has `telemetry`. */
  trace: AttemptTrace | undefined

  constructor(
    readonly id: string,
    readonly definition: JobDefinition,
    readonly params: unknown,
    /** The running snapshot its claim committed. */
    started: PersistedLifecycle,
    /** The last checkpointed state, decoded: what `ctx.state` starts from. */
    public state: unknown,
    stateVersion: number,
    /** The type's retry policy, or the dispatch's override. */
    readonly retry: RetryPolicy | undefined,
    /** The type's per-attempt timeout, or the dispatch's override. */
    readonly timeoutMs: number | undefined,
    /** The job that spawned it, if any: its end may end that parent's wait. */
    readonly parentId: string | null = null,
  ) {
    this.stateVersion = stateVersion
    this.lifecycle = started
  }

  /** The lifecycle machine's context now. */
  get context(): PersistedLifecycle["context"] {
    return this.actor === undefined ? this.lifecycle.context : this.actor.getSnapshot().context
  }

  /** The lifecycle machine's state value now. */
  get value(): unknown {
    return this.actor === undefined ? this.lifecycle.value : this.actor.getSnapshot().value
  }

  /** The attempt ran out of time: `ctx.signal` aborts with `JobTimeout`, and the worker interrupts the run. */
  timeOut(timeoutMs: number) {
    this.timedOut = new JobTimeout({ timeoutMs })
    this.abortController ??= new AbortController()
    if (!this.abortController.signal.aborted) this.abortController.abort(this.timedOut)
  }

  /** Made on first use: most jobs never look at `ctx.signal`, and a controller costs. */
  get signal(): AbortSignal {
    this.abortController ??= new AbortController()
    if (this.interruptReason !== null && !this.abortController.signal.aborted)
      this.abortController.abort(this.interruptReason)
    return this.abortController.signal
  }

  requestInterrupt(reason: "pause" | "cancel") {
    // A cancel overrides a pending pause; a pause never downgrades a cancel.
    if (this.interruptReason !== "cancel") this.interruptReason = reason
    if (this.abortController !== undefined && !this.abortController.signal.aborted) this.abortController.abort(reason)
  }

  private encoded: { readonly of: unknown; readonly bytes: Buffer } | undefined

  /** The lifecycle snapshot, encoded; unchanged between a job's checkpoints, so encoded once. */
  /** The progress not yet written, taken for a write that carries it (a checkpoint, a transition, a progress write). */
  takeProgress(): ProgressColumns | undefined {
    const p = this.latestProgress
    if (p === null || !this.progressDirty) return undefined
    this.progressDirty = false
    return { progress: Progress.fraction(p), progressData: JSON.stringify(p) }
  }

  encodedSnapshot(): Buffer {
    const current = this.actor === undefined ? this.lifecycle : this.actor.getSnapshot()
    if (this.encoded?.of !== current) this.encoded = { of: current, bytes: encodeLifecycle(current) }
    return this.encoded.bytes
  }
}
