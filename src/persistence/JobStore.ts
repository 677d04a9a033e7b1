import type { LogLevel } from "../jobs/defineJob.js"
import type { ClaimColumn } from "./jobColumns.js"
import type { LifecycleRow } from "./lifecycleRow.js"
import type { PruneRequest } from "./prune.js"

/**
 * A row of `jobs` as stored (the same columns in SQLite and PostgreSQL). The API type is
 * `JobInfo`; this one is the database's.
 */
export interface DbJob {
  /** Dispatch order: FIFO within a priority. */
  readonly seq: number
  /** UUID v4. */
  readonly id: string
  /** Job type name. */
  readonly name: string
  /** MessagePack of the schema-encoded params. */
  readonly params: Buffer
  /** MessagePack of the last checkpointed state. */
  readonly data: Buffer
  /** Normally a `JobStatus`; a string because a damaged row may hold anything. */
  readonly status: string
  /** MessagePack of the lifecycle machine's persisted snapshot. */
  readonly snapshot: Buffer
  /** Higher runs first. */
  readonly priority: number
  /** 0..1 when the last progress had a fraction. */
  readonly progress: number | null
  /** JSON of the last `Progress` value. */
  readonly progress_data: string | null
  /** JSON of the schema-encoded output, when completed. */
  readonly output: string | null
  /** Readable error (`[Tag] message`) when failed. */
  readonly error_message: string | null
  /** JSON `{ _tag, message, details }` when failed. */
  readonly error: string | null
  /** Times started. */
  readonly attempts: number
  /** Checkpoints written. */
  readonly state_version: number
  /** `user` | `shutdown` while paused. */
  readonly paused_by: string | null
  /** The manager that runs it, while running. */
  readonly owner: string | null
  /** `pause` | `resume` | `cancel` asked by a process that does not run the job. */
  readonly request: string | null
  /** ISO 8601 timestamps. */
  readonly created_at: string
  readonly started_at: string | null
  readonly completed_at: string | null
  readonly last_checkpoint: string | null
  readonly updated_at: string
  /** Epoch ms a queued job waits for (a delay, a retry's backoff); null when it may run now. */
  readonly run_at: number | null
  /** Failed attempts since dispatch or the last retry. */
  readonly failures: number
  /** JSON `{ _tag, message, details }` of the last failed attempt. */
  readonly last_error: string | null
  /** While the job is queued, running or paused, no other such job has this key. */
  readonly unique_key: string | null
  /** JSON of the dispatch's overrides (`retry`, `timeoutMs`). */
  readonly options: string | null
  /** The version of the state format `data` was written with (the type's `stateVersion` then). */
  readonly state_schema_version: number
  /** The job that spawned it (`ctx.spawnChildren`); null for a dispatched job. */
  readonly parent_id: string | null
  /** Its key among its parent's children: a parent spawning the same key again gets this job. */
  readonly child_key: string | null
  /** 1 (true on PostgreSQL) while queued waiting for live children: the claim passes it over. */
  readonly awaiting_children: number | boolean
  /** 1 (true on PostgreSQL) while a machine job rests: the claim passes it over until its inbox has news or `run_at` comes. */
  readonly awaiting_events: number | boolean
  /** The `job_inbox` seq of the last entry its machine applied (committed with that checkpoint). */
  readonly inbox_applied: number
}

/**
 * The key prefix of a child a machine job invokes (`fromJob`): its end is put in its parent's
 * inbox, in the same commit, so the parent learns of it exactly once.
 */
export const INVOKED_CHILD_KEY_PREFIX = "invoke:"

/** An entry of a machine job's inbox: an event sent to it, or the end of a child it invoked. */
export interface DbInboxEntry {
  readonly seq: number
  readonly job_id: string
  /** JSON of the event sent (null for a child's end). */
  readonly event: string | null
  /** The invoked child that ended (null for an event sent). */
  readonly child_id: string | null
  readonly sent_at: string
}

/** An event for `sendEvent`: stored in the job's inbox unless the job is at rest. */
export interface InboxSend {
  readonly id: string
  /** JSON of the event, validated by the caller. */
  readonly event: string
  readonly at: string
}

/** What `sendEvent` found: no such job, a job at rest (nothing stored), or the entry stored. */
export type SendResult =
  | { readonly found: false }
  | { readonly found: true; readonly status: string; readonly seq: number | null; readonly name: string }

/**
 * The columns a claim reads: only what a start needs (each blob read costs); `updated_at`, when it
 * was put in line, for telemetry's queue wait. Which they are is said once, in `jobColumns.ts`.
 */
export type ClaimRow = Pick<DbJob, ClaimColumn>

/** A job as `dispatch` stores it. */
export interface NewJob {
  readonly id: string
  readonly name: string
  readonly params: Buffer
  readonly data: Buffer
  readonly snapshot: Buffer
  readonly priority: number
  readonly createdAt: string
  /** Epoch ms before which it must not start; absent: now. */
  readonly runAt?: number | null
  readonly uniqueKey?: string | null
  /** JSON of the dispatch's overrides. */
  readonly options?: string | null
  /** The type's `stateVersion` (default 1). */
  readonly stateSchemaVersion?: number
  /** Also record the dispatch (status `queued`) in `job_events`, if the job is stored. */
  readonly event?: EventMeta
}

/** A job a running parent spawns (`ctx.spawnChildren`): a new job with its parent and its key among its children. */
export interface NewChild extends Omit<NewJob, "runAt" | "uniqueKey" | "options"> {
  readonly childKey: string
}

/** What `insertJob` did: stored the job, or found a live job holding its unique key. */
export type InsertResult =
  | { readonly inserted: true }
  | { readonly inserted: false; readonly existing: { readonly id: string; readonly name: string } }

/** A log line as stored. The API type is `JobLogLine`. */
export interface DbLog {
  readonly seq: number
  readonly job_id: string
  readonly at: string
  readonly level: LogLevel
  readonly message: string
}

/**
 * Asks a write to record itself in `job_events` too (in the same commit), for `manager.events`
 * listeners in other processes: the job's type and the manager that writes it.
 */
export interface EventMeta {
  readonly name: string
  /** Null for a tool that has no manager (the CLI). */
  readonly writer: string | null
}

/** A row of `job_events`: what happened to a job, for listeners in other processes. */
export interface DbEvent {
  readonly seq: number
  readonly job_id: string
  /** The job's type. */
  readonly name: string
  /** The manager whose write it records. */
  readonly writer: string | null
  readonly type: string
  /** JSON of the event's own fields (`{ status }`, `{ progress }`, `{ level, message }`). */
  readonly body: string
  readonly at: string
}

/** What a manager writes about itself: who it is, what it runs, until when it is alive. */
export interface LeaseWrite {
  readonly id: string
  readonly pid: number
  readonly host: string
  /** The job types it claims; empty for a producer-only manager. */
  readonly types: ReadonlyArray<string>
  /** The lease runs out this long after the store's clock reads it renewed. */
  readonly leaseMs: number
  /** It has `manager.events` subscribers: other managers then record their events in `job_events`. */
  readonly listening?: boolean
  /** How many jobs it runs at once at most (0, the default, for a producer). */
  readonly concurrency?: number
}

/** A manager's lease as stored, judged by the store's own clock. */
export interface Lease {
  readonly id: string
  readonly pid: number
  readonly host: string
  readonly types: ReadonlyArray<string>
  /** Epoch ms by the store's clock. */
  readonly expiresAt: number
  /** Whether `expiresAt` has passed by the store's clock when it was read. */
  readonly expired: boolean
  /** It has `manager.events` subscribers (see `LeaseWrite.listening`). */
  readonly listening: boolean
  readonly concurrency: number
  /** Its lease period, and how long ago (by the store's clock) it last renewed it. */
  readonly leaseMs: number
  readonly renewedAgoMs: number
}

/** The progress columns, written together. */
export interface ProgressColumns {
  readonly progress: number | null
  readonly progressData: string
}

/** Which row a guarded write may change: it must still have this status and owner. */
export interface RowExpectation {
  readonly status: string
  readonly owner: string | null
  /**
   * The attempt the write ends, when it ends one it did not run (recovery, a takeover): the
   * same owner's later attempt of the job (it claimed the job again) is refused.
   */
  readonly attempts?: number
}

/**
 * The named writes a group commit applies. Each is guarded, so a manager that lost a job (its
 * lease expired and another took the job over) cannot write over the new owner.
 */
export type JobWrite =
  /** A lifecycle transition: status, snapshot and everything the row derives from it. */
  | {
      readonly kind: "transition"
      readonly id: string
      readonly expect: RowExpectation
      readonly lifecycle: LifecycleRow
      readonly output?: string
      readonly progress?: ProgressColumns
      /** A lifecycle line for the job's log, written only if the transition is. */
      readonly log?: { readonly level: LogLevel; readonly message: string }
      readonly at: string
      /** Also record it (its progress, status and log line) in `job_events`, if it is applied. */
      readonly event?: EventMeta
      /**
       * The job's parent, if it has one: a transition to a terminal status that leaves the parent
       * no live child ends the parent's wait for its children, in the same commit.
       */
      readonly parentId?: string | null
    }
  /** A running job's checkpoint: its state and lifecycle snapshot together. */
  | {
      readonly kind: "checkpoint"
      readonly id: string
      readonly owner: string
      readonly data: Buffer
      readonly snapshot: Buffer
      readonly stateVersion: number
      /** A machine job's: the last inbox entry its state has applied. */
      readonly inboxApplied?: number
      readonly progress?: ProgressColumns
      readonly at: string
      /** Also record its progress (if any) in `job_events`, if it is applied. */
      readonly event?: EventMeta
    }
  | {
      readonly kind: "progress"
      readonly id: string
      readonly owner: string
      readonly progress: ProgressColumns
      readonly at: string
      readonly event?: EventMeta
    }
  | {
      readonly kind: "log"
      readonly id: string
      readonly level: LogLevel
      readonly message: string
      readonly at: string
      readonly event?: EventMeta
    }

/** What a claim turns a queued row into, decided by the engine inside the claim. */
export type ClaimDecision =
  /** With `migrated`: the state, migrated to the type's current version, is stored with the start. */
  | { readonly start: LifecycleRow; readonly migrated?: { readonly data: Buffer; readonly stateSchemaVersion: number } }
  /** The row cannot run (undecodable, unknown state): fail it in the same commit. */
  | { readonly fail: LifecycleRow }
  /** Not now (its type is at its concurrency limit): left queued, untouched. */
  | { readonly skip: true }

/** The write that fails a queued row a claim cannot start, in the claim's own transaction (both stores). */
export const claimFailure = (claim: ClaimRequest, row: ClaimRow, lifecycle: LifecycleRow): JobWrite => ({
  kind: "transition",
  id: row.id,
  expect: { status: "queued", owner: row.owner },
  lifecycle,
  at: claim.at,
  parentId: row.parent_id,
  ...(claim.events ? { event: { name: row.name, writer: claim.owner } } : {}),
})

export interface ClaimRequest {
  readonly owner: string
  readonly limit: number
  /** Only rows of these types are claimed. */
  readonly types: ReadonlyArray<string>
  /** Rows whose state is of a newer version than this (no claimed type knows it) are passed over. Default: no limit. */
  readonly maxStateVersion?: number
  /** When set, only rows with these ids (a manager that runs only what it dispatched). */
  readonly ids?: ReadonlyArray<string>
  readonly decide: (row: ClaimRow) => ClaimDecision
  readonly at: string
  /** Epoch ms: rows whose `run_at` is later are not due. Default: now by the claimant's clock. */
  readonly nowMs?: number
  /** Record each start (and each failed row) in `job_events`, written by `owner`. */
  readonly events?: boolean
}

export interface CommitResult {
  /** Per write, whether its guard held and it was written. */
  readonly applied: ReadonlyArray<boolean>
  /** The rows this commit claimed (now running under the claimant), in claim order. */
  readonly claimed: ReadonlyArray<ClaimRow>
  /**
   * When the claim took fewer rows than it could: the earliest `run_at` of the claimant's
   * queued rows not yet due (null: none wait), so the engine can set one timer for it.
   */
  readonly nextRunAt?: number | null
}

/** A row of `schedules` as stored (the same columns in SQLite and PostgreSQL). The API type is `ScheduleInfo`. */
export interface DbSchedule {
  readonly name: string
  /** The job type it dispatches. */
  readonly job_name: string
  /** MessagePack of the schema-encoded params of each job it fires. */
  readonly params: Buffer
  readonly priority: number
  /** JSON of the dispatch options of each job it fires; null: none. */
  readonly options: string | null
  readonly cron: string
  /** IANA time zone the cron expression is read in. */
  readonly timezone: string | null
  /** Epoch ms of the next tick; a fire moves it on. */
  readonly next_run_at: number
  /** Epoch ms it last fired (dispatched a job). */
  readonly last_run_at: number | null
  readonly last_job_id: string | null
  /** ISO 8601. */
  readonly created_at: string
  readonly updated_at: string
}

/** A schedule as `schedule()` stores it: a new one, or the new definition of one with this name. */
export interface ScheduleWrite {
  readonly name: string
  readonly jobName: string
  readonly params: Buffer
  readonly priority: number
  readonly options: string | null
  readonly cron: string
  readonly timezone: string
  readonly nextRunAt: number
  /** ISO 8601: `created_at` of a new schedule, `updated_at` always. */
  readonly at: string
}

/** One tick of a schedule, fired: its `next_run_at` moves from `due` to `nextRunAt` and `job` is stored, together or not at all. */
export interface ScheduleFire {
  readonly name: string
  /** The `next_run_at` the firing manager read: the compare-and-set holds only while it is still there. */
  readonly due: number
  readonly nextRunAt: number
  /** Epoch ms, stored as `last_run_at`. */
  readonly firedAt: number
  readonly job: NewJob
  /** A line for the job's log, saying which schedule and tick dispatched it. */
  readonly log: string
}

export interface JobQuery {
  readonly status?: string
  readonly name?: string
  /** Only the children of this job. */
  readonly parentId?: string
  /** Only jobs created at or after / before this instant (ISO 8601, as stored). */
  readonly createdAfter?: string
  readonly createdBefore?: string
  readonly limit?: number
  readonly offset?: number
  /** Default `oldest`. */
  readonly order?: "oldest" | "newest"
  /** Keyset pages: only the jobs after (or before) the job of this `seq` in the list's order. */
  readonly afterSeq?: number
  readonly beforeSeq?: number
}

/**
 * How a list reads in SQL: its `seq` bound and the direction it is read in (a page before a
 * cursor is read backwards from it, then turned around: `reverse`). One rule for both stores.
 */
export const listOrder = (
  query: JobQuery,
): { bound?: { op: "<" | ">"; seq: number }; desc: boolean; reverse: boolean } => {
  const newest = query.order === "newest"
  if (query.afterSeq !== undefined)
    return { bound: { op: newest ? "<" : ">", seq: query.afterSeq }, desc: newest, reverse: false }
  if (query.beforeSeq !== undefined)
    return { bound: { op: newest ? ">" : "<", seq: query.beforeSeq }, desc: !newest, reverse: true }
  return { desc: newest, reverse: false }
}

/** What `JobStore.check` finds. */
export interface StoreCheck {
  /** The schema version the store has, and the one this code migrates it to. */
  readonly schemaVersion: number
  readonly latestSchemaVersion: number
  /**
   * What the store's own integrity check found wrong (SQLite's `integrity_check`): empty when
   * nothing. `undefined` where the store runs none of its own (PostgreSQL checks its pages itself).
   */
  readonly integrity: ReadonlyArray<string> | undefined
}

/** How many jobs have one status and type (`countJobs`). */
export interface JobCount {
  readonly status: string
  readonly name: string
  readonly count: number
}

/** How many jobs ended with one status in one minute (`endedPerMinute`). */
export interface EndedCount {
  /** The minute, as the first 16 characters of an ISO 8601 time: `2026-11-29T03:51`. */
  readonly minute: string
  readonly status: string
  readonly count: number
}

/**
 * Where jobs live. One interface, two stores: SQLite (embedded, the default) and PostgreSQL
 * (many processes on many machines). Every method may be asynchronous; failures reject with
 * `PersistenceError`. The engine sees only this.
 */
export interface JobStore {
  /** A readable name for messages: the file or the database. */
  readonly location: string

  /**
   * Stores a new queued job. With a `uniqueKey` that a queued, running or paused job already
   * holds, stores nothing and returns that job.
   */
  insertJob(job: NewJob): Promise<InsertResult>
  /**
   * Stores many new queued jobs in one transaction, all or none, each as `insertJob` would
   * (one whose unique key a live job holds, or an earlier job of the batch, is not stored: that
   * job is returned). The results in order.
   */
  insertJobs(jobs: ReadonlyArray<NewJob>): Promise<ReadonlyArray<InsertResult>>
  getJob(id: string): Promise<DbJob | undefined>
  /** The id of the queued, running or paused job of type `name` holding `uniqueKey`, if any. */
  uniqueKeyHolder(name: string, uniqueKey: string): Promise<string | undefined>
  listJobs(query: JobQuery): Promise<ReadonlyArray<DbJob>>
  /** How many jobs there are per status and type: counts kept with the rows (job_counts), exact, no job rows read. */
  countJobs(): Promise<ReadonlyArray<JobCount>>
  /** Jobs that ended (`completed_at`) at or after `since` (ISO 8601), per minute and status: throughput. */
  endedPerMinute(since: string): Promise<ReadonlyArray<EndedCount>>
  /**
   * Stores the children a running parent spawns, in one transaction: each one unless the parent
   * already has a child with its key (a resumed parent spawning again), whose id is returned
   * instead. Returns the ids in order, and which were stored now; `undefined` (nothing stored)
   * when the parent is no longer running under `parent.owner`.
   */
  insertChildren(
    parent: { readonly id: string; readonly owner: string },
    children: ReadonlyArray<NewChild>,
  ): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined>
  /** How many children the job has per status. */
  childCounts(parentId: string): Promise<ReadonlyArray<{ readonly status: string; readonly count: number }>>
  /** Ids that start with `prefix`, at most `limit`. */
  idsWithPrefix(prefix: string, limit: number): Promise<ReadonlyArray<string>>
  logs(jobId: string, afterSeq?: number, limit?: number): Promise<ReadonlyArray<DbLog>>

  /**
   * One group commit: applies `writes` in order, then claims up to `claim.limit` queued jobs
   * (highest priority first, FIFO within) of `claim.types`, all in one transaction.
   */
  commit(writes: ReadonlyArray<JobWrite>, claim?: ClaimRequest): Promise<CommitResult>

  /** Running rows of these types not owned by any of `liveOwners` (owner null included). */
  orphans(types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>>
  /** Rows of these types that a manager's `close()` paused: any manager may take them on. */
  pausedByShutdown(types: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>>
  /** Rows whose status is none of the six (damaged). */
  damaged(): Promise<ReadonlyArray<DbJob>>

  /** Leaves a command on a running row for its owner; false when the row moved on. */
  requestCommand(id: string, expect: RowExpectation, command: string): Promise<boolean>
  /** Replaces a job's dispatch overrides (`options`, JSON; null for none) where the row is as expected; false when it moved on. */
  setOverrides(id: string, expect: RowExpectation, options: string | null): Promise<boolean>
  /**
   * The commands left for the running jobs of `owner`. Reading does not clear them: a command
   * stays on its row until the transition it causes is written (which clears it), so a command
   * whose owner dies before applying it is applied by whoever recovers the job.
   */
  requestsFor(owner: string): Promise<ReadonlyArray<{ readonly id: string; readonly request: string }>>

  renewLease(lease: LeaseWrite): Promise<void>
  dropLease(id: string): Promise<void>
  leases(): Promise<ReadonlyArray<Lease>>
  /** The store's health as `jobstate doctor` reports it: its schema version, and its own integrity check. */
  check(): Promise<StoreCheck>
  /** Deletes a lease found dead, unless it was renewed since (`expiresAt` changed). */
  forgetLease(id: string, expiresAt: number): Promise<void>

  /** Stores a schedule, or replaces the definition of the one with its name (keeping its last fire); returns the row. */
  upsertSchedule(schedule: ScheduleWrite): Promise<DbSchedule>
  /** Deletes a schedule; false when there was none by that name. */
  deleteSchedule(name: string): Promise<boolean>
  /** Every schedule, by name. */
  listSchedules(): Promise<ReadonlyArray<DbSchedule>>
  /**
   * Fires one tick in one transaction: moves `next_run_at` on only if it still is `fire.due`
   * (compare-and-set), and only then inserts the job. Of many managers firing the same tick,
   * exactly one gets true; the others store nothing.
   */
  fireSchedule(fire: ScheduleFire): Promise<boolean>

  /**
   * Calls `onChange` when another process may have changed the store (a dispatch, a command,
   * a job's end). SQLite looks every `intervalMs`; PostgreSQL is told (LISTEN/NOTIFY) and looks
   * every `intervalMs` only as a safety net.
   */
  watch(onChange: () => void, intervalMs: number): () => void

  /**
   * Deletes jobs at rest in `request.status` that are older than `completedBefore` or beyond the
   * newest `keepNewest` (neither: all of them), with their log lines and events, in batches of
   * `batchSize`, each its own transaction. A job that leaves the status meanwhile (a retry) is
   * not deleted. `onBatch` gets each batch's ids once committed. Resolves with the count.
   */
  pruneJobs(request: PruneRequest, onBatch?: (ids: ReadonlyArray<string>) => void | Promise<void>): Promise<number>
  /**
   * Rows of `job_events` after `afterSeq` (and those of `gaps`, sequence numbers skipped by an
   * earlier read because their commit was not yet visible), oldest first, at most `limit`.
   */
  eventsAfter(afterSeq: number, gaps: ReadonlyArray<number>, limit: number): Promise<ReadonlyArray<DbEvent>>
  /** The highest `job_events` seq (0 when none): where a new listener starts. */
  lastEventSeq(): Promise<number>
  /**
   * Stores an event in a machine job's inbox, after the entries already there, unless the job is
   * at rest (completed, failed, cancelled: nothing stored). A job resting for events is let go
   * (the claim may take it) in the same transaction.
   */
  sendEvent(send: InboxSend): Promise<SendResult>
  /** A job's inbox entries after `afterSeq`, in order. */
  inbox(jobId: string, afterSeq: number, limit?: number): Promise<ReadonlyArray<DbInboxEntry>>
  /** Deletes the `job_events` rows below `seq` (old enough that every listener has read them). */
  trimEvents(belowSeq: number): Promise<void>

  close(): Promise<void>
}
