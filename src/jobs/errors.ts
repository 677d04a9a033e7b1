import { Data } from "effect"
import type { JobStatus } from "./JobStatus.js"

/** An error as it is stored in the database and returned to users: plain data, never an `Error`. */
export interface StoredError {
  readonly _tag: string
  readonly message: string
  readonly details?: unknown
  /** What the error was caused by (its `cause`), itself stored so: `Effect.tryPromise`'s `UnknownError` keeps the rejection here. */
  readonly cause?: StoredError
}

/** `dispatchByName` (or the CLI) named a job type that is not registered. */
export class UnknownJobType extends Data.TaggedError("UnknownJobType")<{
  readonly name: string
  readonly known: ReadonlyArray<string>
}> {
  override get message() {
    return `Unknown job type "${this.name}". Known types: ${this.known.length ? this.known.join(", ") : "(none)"}`
  }
}

/** One failing location in a params document. */
export interface ParamsIssue {
  readonly path: string
  readonly message: string
}

/** The params of a dispatch did not match the job type's params schema. Nothing was stored. */
export class InvalidParams extends Data.TaggedError("InvalidParams")<{
  readonly jobName: string
  readonly issues: ReadonlyArray<ParamsIssue>
  /** In a `dispatchMany`: the index of the first bad item. */
  readonly index?: number
  /** What was invalid: the params (the default), or an event sent to a machine job. */
  readonly of?: "params" | "event"
}> {
  override get message() {
    const lines = this.issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`))
    const item = this.index === undefined ? "" : ` (item ${this.index})`
    return `Invalid ${this.of ?? "params"} for "${this.jobName}"${item}: ${lines.join("; ")}`
  }
}

/** No job with this id exists. */
export class JobNotFound extends Data.TaggedError("JobNotFound")<{ readonly id: string }> {
  override get message() {
    return `No job with id ${this.id}`
  }
}

/** The job's lifecycle machine does not accept this event in its current state. */
export class InvalidTransition extends Data.TaggedError("InvalidTransition")<{
  readonly id: string
  readonly event: string
  readonly status: JobStatus
}> {
  override get message() {
    // A command's event (`PAUSE`) reads as its verb; anything else (`send "PAID" to`) as given.
    const verb = /^[A-Z_]+$/.test(this.event) ? this.event.toLowerCase() : this.event
    return `Cannot ${verb} job ${this.id}: it is ${this.status}`
  }
}

/** The job ended in `failed`; `error` is the job's real error as stored. */
export class JobFailed extends Data.TaggedError("JobFailed")<{
  readonly id: string
  readonly error: StoredError
}> {
  override get message() {
    return `Job ${this.id} failed: ${errorLine(this.error)}`
  }
}

/** The job ended in `cancelled`. */
export class JobCancelled extends Data.TaggedError("JobCancelled")<{ readonly id: string }> {
  override get message() {
    return `Job ${this.id} was cancelled`
  }
}

/** Two job definitions were registered under one name. */
export class DuplicateJobType extends Data.TaggedError("DuplicateJobType")<{ readonly name: string }> {
  override get message() {
    return `Two job types are registered with the name "${this.name}"; names must be unique`
  }
}

/** The database could not be opened, read or written. */
export class PersistenceError extends Data.TaggedError("PersistenceError")<{
  readonly operation: string
  readonly reason: "Open" | "Read" | "Write" | "NewerSchema" | "Closed"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Persistence error during ${this.operation} (${this.reason}): ${this.detail}`
  }
}

/**
 * Store failures the engine has been living through (a server restart, an outage, a full disk, a
 * locked file) have ended: the store answers again. Reported to `onError` once per outage, after
 * the first failure of each kind was reported as it came, instead of every failed call.
 */
export class StoreRecovered extends Data.TaggedError("StoreRecovered")<{
  /**
   * From the first failed call to the first call that went through after the last failure. (A
   * call fails when it gives up: on SQLite, a lock is waited for `busyTimeoutMs` first.)
   */
  readonly downMs: number
  readonly failures: number
  /** Failures not reported one by one (the same kind as one already reported). */
  readonly unreported: number
}> {
  override get message() {
    const calls = (n: number) => `${n} call${n === 1 ? "" : "s"}`
    const unreported =
      this.unreported === 0
        ? "each reported"
        : `${this.unreported === this.failures - 1 ? "all but the first" : calls(this.unreported)} not reported one by one`
    return `The store answers again: calls failed for ${(this.downMs / 1000).toFixed(1)} s (${calls(this.failures)}, ${unreported})`
  }
}

/** A value could not be encoded to, or decoded from, its stored form (MessagePack or a schema). */
export class SerializationError extends Data.TaggedError("SerializationError")<{
  readonly what: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Cannot serialize ${this.what}: ${this.detail}`
  }
}

/** The manager is closing or closed and takes no new work. */
export class ManagerClosed extends Data.TaggedError("ManagerClosed")<{}> {
  override get message() {
    return "The job manager is closed"
  }
}

/**
 * Raised inside a running job at `checkInterrupt`/`checkpoint` when a pause or cancel was
 * requested. Jobs let it propagate; the engine turns it into `paused` or `cancelled`.
 */
export class JobInterrupted extends Data.TaggedError("JobInterrupted")<{
  readonly reason: "pause" | "cancel"
}> {
  override get message() {
    return `Job interrupted for ${this.reason}`
  }
}

/** A type's `cleanup` hook failed (reported through `onError`; the job's status is unchanged). */
export class JobCleanupFailed extends Data.TaggedError("JobCleanupFailed")<{
  readonly id: string
  readonly name: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `The cleanup of ${this.name} job ${this.id} failed: ${this.detail}`
  }
}

/**
 * A running job's context was called after its attempt had ended (it returned, or was paused or
 * cancelled, and its `run` went on): the call did nothing. Reported once per attempt through
 * `onError`; typically an `async` job that logs from a timer or a promise it did not await.
 */
export class JobCallIgnored extends Data.TaggedError("JobCallIgnored")<{
  readonly id: string
  readonly name: string
  /** `log`, `progress` or `checkpoint`. */
  readonly call: string
}> {
  override get message() {
    return `${this.name} job ${this.id} called ctx.${this.call} after its attempt had ended (its run returned, or it was paused or cancelled): the call was ignored, and later ones of this attempt are too`
  }
}

/** How deep a chain of causes is kept. */
const MAX_CAUSES = 5

/** Turns anything a job may fail with into the plain data that is stored, with its chain of causes. */
export const toStoredError = (error: unknown, depth = 0): StoredError => {
  if (typeof error === "object" && error !== null) {
    const e = error as { _tag?: unknown; message?: unknown; name?: unknown; cause?: unknown }
    const tag = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
    const message = typeof e.message === "string" && e.message !== "" ? e.message : safeString(error)
    const details = ownData(error)
    const cause =
      e.cause !== undefined && e.cause !== null && depth < MAX_CAUSES ? toStoredError(e.cause, depth + 1) : undefined
    return {
      _tag: tag,
      message,
      ...(details === undefined ? {} : { details }),
      ...(cause === undefined ? {} : { cause }),
    }
  }
  return { _tag: "Error", message: safeString(error) }
}

/** An error's own data: its fields and stack, without what `StoredError` holds apart or a library's private marks (`~effect/...`). */
const ownData = (error: object): unknown => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(error)) {
    if (k === "_tag" || k === "message" || k === "stack" || k === "cause" || k.startsWith("~")) continue
    if (typeof v === "function") continue
    out[k] = v
  }
  if (error instanceof Error && error.stack) out.stack = error.stack
  return Object.keys(out).length ? JSON.parse(safeJson(out)) : undefined
}

/** An error and its causes, one line: `[UnknownError] An error occurred… ← caused by [Error] ENOENT…`. */
export const errorLine = (error: StoredError): string => {
  const parts: string[] = []
  for (let e: StoredError | undefined = error; e !== undefined; e = e.cause) parts.push(`[${e._tag}] ${e.message}`)
  return parts.join(" ← caused by ")
}

const safeJson = (v: unknown) => {
  try {
    return JSON.stringify(v) ?? "null"
  } catch {
    return JSON.stringify(String(v))
  }
}

const safeString = (v: unknown) => {
  try {
    return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v))
  } catch {
    return String(v)
  }
}

/** `JobManager.open` (or another entry point) was given options it cannot work with. */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly option: string
  readonly detail: string
}> {
  override get message() {
    return `Invalid option ${this.option}: ${this.detail}`
  }
}

/** An attempt ran longer than its `timeoutMs` and was interrupted. Retried like any typed failure. */
export class JobTimeout extends Data.TaggedError("JobTimeout")<{ readonly timeoutMs: number }> {
  override get message() {
    return `The attempt ran longer than its timeout of ${this.timeoutMs} ms and was interrupted`
  }
}

/** A job cannot go back in line: another queued, running or paused job holds its unique key. */
export class UniqueKeyTaken extends Data.TaggedError("UniqueKeyTaken")<{
  readonly id: string
  readonly uniqueKey: string
  readonly holder: string
}> {
  override get message() {
    return `Cannot retry job ${this.id}: job ${this.holder} holds its unique key "${this.uniqueKey}"`
  }
}

/**
 * A `manager.events` subscriber fell more than `limit` events behind (status changes and log
 * lines; progress is coalesced per job while it waits). Its subscription ends with this error
 * and its buffered events are dropped, so a slow consumer never holds up the engine nor grows
 * without bound: re-read what it shows (`listJobs`) and subscribe again.
 */
export class EventsOverflow extends Data.TaggedError("EventsOverflow")<{ readonly limit: number }> {
  override get message() {
    return `A manager.events subscriber fell more than ${this.limit} events behind; its subscription ended (re-read the jobs and subscribe again)`
  }
}

/** A job's stored state could not be brought to the version its type's code writes. */
export class StateMigrationFailed extends Data.TaggedError("StateMigrationFailed")<{
  readonly id: string
  readonly jobName: string
  /** The version step that failed: `from` → `from + 1`. */
  readonly from: number
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Cannot migrate the state of ${this.jobName} job ${this.id} from version ${this.from} to ${this.from + 1}: ${this.detail}`
  }
}

/**
 * A child the parent awaits (`ctx.awaitChildren`) failed for good or was cancelled. Unhandled,
 * it fails the parent; `error` is the child's own error as stored (absent when cancelled).
 */
export class ChildJobFailed extends Data.TaggedError("ChildJobFailed")<{
  readonly parentId: string
  readonly childId: string
  readonly jobName: string
  readonly status: "failed" | "cancelled"
  readonly error?: StoredError
}> {
  override get message() {
    return this.status === "cancelled"
      ? `Child ${this.jobName} job ${this.childId} was cancelled`
      : `Child ${this.jobName} job ${this.childId} failed: [${this.error?._tag}] ${this.error?.message}`
  }
}
