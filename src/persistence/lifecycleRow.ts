import { errorLine, SerializationError, type StoredError } from "../jobs/errors.js"
import { isJobStatus, isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { JobLifecycleSnapshot, PausedBy } from "../machines/jobLifecycleMachine.js"
import { pack, unpack } from "./codec.js"

/**
 * A lifecycle snapshot as stored: the machine's state value and its context, the two things
 * XState needs to resolve a state (`machine.resolveState`). XState's own persisted snapshot
 * also carries the invoked worker, history and tags; the engine rebuilds those only when it
 * gives a job a live actor, so the row does not carry them.
 */
export interface PersistedLifecycle {
  readonly value: unknown
  readonly context: JobLifecycleSnapshot["context"]
}

/** The job status a lifecycle state value stands for: its top-level state. */
export const statusOf = (value: unknown): JobStatus => {
  const top = typeof value === "string" ? value : Object.keys(value as object)[0]
  if (!isJobStatus(top))
    throw new SerializationError({ what: "lifecycle snapshot", detail: `unknown state ${JSON.stringify(value)}` })
  return top
}

/**
 * The snapshot as stored: `{ value, context }`. A job that never failed nor waited (most of
 * them) is stored without `failures`, `lastError`, `runAt` and `awaitingChildren`, which
 * `decodeLifecycle` puts back: the claim and the end of every job encode a snapshot, and those
 * keys would be a third of its context.
 */
export const encodeLifecycle = ({ value, context }: PersistedLifecycle): Buffer => {
  if (
    context.failures !== 0 ||
    context.lastError !== null ||
    context.runAt !== null ||
    context.awaitingChildren !== false ||
    context.awaitingEvents !== false
  ) {
    return pack({ value, context })
  }
  const { failures: _f, lastError: _l, runAt: _r, awaitingChildren: _a, awaitingEvents: _e, ...rest } = context
  return pack({ value, context: rest })
}

/**
 * Decodes a stored snapshot and checks that it names a state of the machine's six. Rows
 * written before the compact form hold XState's whole persisted snapshot: only its `value` and
 * `context` are read.
 */
export const decodeLifecycle = (bytes: Uint8Array, jobId: string): PersistedLifecycle => {
  const stored = unpack(bytes, `lifecycle snapshot of job ${jobId}`) as Partial<PersistedLifecycle> | null
  if (
    stored === null ||
    typeof stored !== "object" ||
    !("value" in stored) ||
    typeof stored.context !== "object" ||
    stored.context === null
  ) {
    throw new SerializationError({ what: `lifecycle snapshot of job ${jobId}`, detail: "not a lifecycle snapshot" })
  }
  statusOf(stored.value)
  const context = stored.context as Partial<PersistedLifecycle["context"]>
  // Stored without them when they have their defaults (and written so before retries, delays,
  // children and machine jobs existed).
  if (context.awaitingEvents !== undefined)
    return { value: stored.value, context: context as PersistedLifecycle["context"] }
  const defaults = context.failures === undefined ? { failures: 0, lastError: null, runAt: null } : {}
  return {
    value: stored.value,
    context: {
      ...context,
      ...defaults,
      awaitingChildren: context.awaitingChildren ?? false,
      awaitingEvents: false,
    } as PersistedLifecycle["context"],
  }
}

/**
 * The columns a lifecycle snapshot decides. This is the one place that maps a snapshot to
 * `status`, `attempts`, `paused_by`, the errors, `failures` and `run_at`; a store sets `completed_at` when `terminal`
 * and clears `owner` for any status but `running`.
 */
export interface LifecycleRow {
  readonly status: JobStatus
  /** The encoded snapshot. */
  readonly snapshot: Buffer
  readonly attempts: number
  readonly pausedBy: PausedBy | null
  /** JSON of the stored error, when failed. */
  readonly error: string | null
  /** `[Tag] message`, when failed. */
  readonly errorMessage: string | null
  readonly terminal: boolean
  /** Failed attempts since dispatch or the last retry. */
  readonly failures: number
  /** JSON of the last failed attempt's error. */
  readonly lastError: string | null
  /** Epoch ms a queued job waits for; null when it may run now. */
  readonly runAt: number | null
  /** Queued, waiting for its children: the claim passes it over while any of them is live. */
  readonly awaitingChildren: boolean
  /** Queued, a machine job at rest: the claim passes it over until an event, a child's end or `runAt`. */
  readonly awaitingEvents: boolean
}

/** The row columns of a snapshot; `bytes` when the caller has the snapshot encoded already. */
export const lifecycleRow = (snapshot: PersistedLifecycle, bytes?: Buffer): LifecycleRow => {
  const status = statusOf(snapshot.value)
  const { context } = snapshot
  const error: StoredError | null =
    status === "failed" ? (context.error ?? { _tag: "Unknown", message: "failed without an error" }) : null
  return {
    status,
    snapshot: bytes ?? encodeLifecycle(snapshot),
    attempts: context.attempt,
    pausedBy: status === "paused" ? context.pausedBy : null,
    error: error === null ? null : JSON.stringify(error),
    errorMessage: error === null ? null : errorLine(error),
    terminal: isTerminalStatus(status),
    failures: context.failures,
    lastError: context.lastError === null ? null : JSON.stringify(context.lastError),
    runAt: status === "queued" ? context.runAt : null,
    awaitingChildren: status === "queued" && context.awaitingChildren,
    awaitingEvents: status === "queued" && context.awaitingEvents,
  }
}
