import { isTransientCause } from "./storeFailure.js"
import type pg from "pg"
import { PersistenceError } from "../jobs/errors.js"
import type {
  ClaimRequest,
  ClaimRow,
  CommitResult,
  DbEvent,
  DbJob,
  DbLog,
  JobQuery,
  JobStore,
  JobWrite,
  Lease,
  LeaseWrite,
  InsertResult,
  NewChild,
  NewJob,
  RowExpectation,
  DbSchedule,
  ScheduleFire,
  ScheduleWrite,
  JobCount,
  EndedCount,
  StoreCheck,
  DbInboxEntry,
  InboxSend,
  SendResult,
} from "./JobStore.js"
import { ChangeListener } from "./postgres/ChangeListener.js"
import { readClaimable, startClaimed } from "./postgres/claim.js"
import * as commands from "./postgres/commands.js"
import {
  backendPid,
  channelOf,
  checkSchemaName,
  describeLocation,
  inTransaction,
  makePool,
  persistenceError,
  tablesOf,
  type Tables,
} from "./postgres/connection.js"
import * as events from "./postgres/events.js"
import { endWaits, lockParents, waitingParents } from "./postgres/families.js"
import { inboxAfter, sendEvent } from "./postgres/inbox.js"
import * as inserts from "./postgres/inserts.js"
import * as leases from "./postgres/leases.js"
import { assertReadable, check, migrate } from "./postgres/migrations.js"
import * as prune from "./postgres/prune.js"
import * as reads from "./postgres/reads.js"
import * as schedules from "./postgres/schedules.js"
import { applyWrites, planWrites } from "./postgres/writes.js"
import { DEFAULT_PRUNE_BATCH, pruneCutoff, pruneInBatches, type PruneRequest } from "./prune.js"

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  readonly databaseUrl: string
  /** The schema that holds the tables; default `public` (the database's own). Lowercase letters, digits and `_`. */
  readonly schema?: string
  /** No clock to inject: leases are judged by the database's clock, the one every worker shares. */
  readonly now?: never
  /** For tools that only look: the schema must exist at this version; nothing is created or migrated. */
  readonly readOnly?: boolean
}

/** How often a store that writes folds the counts' changes into job_counts. */
const COUNT_FOLD_MS = 1_000

/**
 * How a group commit begins. Its statements must walk indexes: the claim must read `jobs_queued`
 * in order and stop at its LIMIT. The planner, with statistics taken while the table was small
 * (or never), picks a bitmap scan instead, which reads every queued row and sorts them (a cost
 * that grows with the queue, per claim) and never marks the index entries of rows claimed
 * before as dead, so those pile up until a vacuum. In the commit's transaction only.
 */
const walkIndexes = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
const beginCommit = `BEGIN; ${walkIndexes}`
/**
 * How a page of `listJobs` is read, for the same reason: with statistics taken before a bulk
 * insert, a page of one status was read as a bitmap of every row of that status, then sorted
 * (0.4 s with 1M queued), instead of walking jobs_status in order to its LIMIT.
 */
const beginList = `BEGIN READ ONLY; ${walkIndexes}`

/**
 * The PostgreSQL store: many processes on many machines share one schema. Every call is
 * asynchronous on a small pool (`pg`); a group commit is one transaction; claims lock with
 * `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same job; a trigger NOTIFYs
 * on every dispatch, status change and command, and `watch` LISTENs.
 */
export class PostgresJobStore implements JobStore {
  readonly location: string
  readonly schema: string
  private readonly pool: pg.Pool
  private readonly t: Tables
  private readonly listener: ChangeListener
  private readonly channel: string
  /** Backend pids of this store's pooled connections: notifications they caused are not news here. */
  private readonly ownBackends = new Set<number>()
  private closing: Promise<void> | undefined
  /** Whether this store wrote since it last folded the counts' changes. */
  private wrote = false
  private folder: NodeJS.Timeout | undefined
  /** The last error an idle pooled connection reported; the pool has replaced that connection. */
  lastPoolError: Error | undefined

  /** Connects, and migrates the schema (or refuses a newer one, untouched). */
  static async open(options: PostgresStoreOptions): Promise<PostgresJobStore> {
    const schema = options.schema ?? "public"
    checkSchemaName(schema)
    const location = describeLocation(options.databaseUrl, schema)
    const store = new PostgresJobStore(options.databaseUrl, schema, location)
    try {
      const client = await store.pool.connect()
      try {
        if (options.readOnly) await assertReadable(client, schema, location)
        else await migrate(client, schema, location)
      } finally {
        client.release()
      }
      if (!options.readOnly) store.foldCountsEvery(COUNT_FOLD_MS)
      return store
    } catch (cause) {
      await store.close()
      if (cause instanceof PersistenceError) throw cause
      const { detail } = persistenceError("open", "Open", cause)
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${location}: ${detail}`, cause })
    }
  }

  private constructor(databaseUrl: string, schema: string, location: string) {
    this.location = location
    this.schema = schema
    this.t = tablesOf(schema)
    this.pool = makePool(databaseUrl, (error) => void (this.lastPoolError = error))
    this.pool.on("connect", (client) => {
      const pid = backendPid(client)
      if (pid !== undefined) this.ownBackends.add(pid)
    })
    this.pool.on("remove", (client) => {
      const pid = backendPid(client)
      if (pid !== undefined) this.ownBackends.delete(pid)
    })
    this.channel = channelOf(schema)
    this.listener = new ChangeListener({
      databaseUrl,
      channel: this.channel,
      isOwnBackend: (pid) => this.ownBackends.has(pid),
    })
  }

  insertJob(job: NewJob): Promise<InsertResult> {
    return this.call("dispatch", "Write", () => inserts.insertJob(this.pool, this.t, job))
  }

  insertJobs(jobs: ReadonlyArray<NewJob>): Promise<ReadonlyArray<InsertResult>> {
    return this.call("dispatch", "Write", () => inserts.insertJobs(this.pool, this.t, jobs))
  }

  getJob(id: string): Promise<DbJob | undefined> {
    return this.call("getJob", "Read", () => reads.getJob(this.pool, this.t, id))
  }

  uniqueKeyHolder(name: string, uniqueKey: string): Promise<string | undefined> {
    return this.call("getJob", "Read", async () => (await reads.holderOf(this.pool, this.t, name, uniqueKey))?.id)
  }

  listJobs(query: JobQuery): Promise<ReadonlyArray<DbJob>> {
    // COMMIT goes with the SELECT: one round trip, as a single statement was.
    return this.call("listJobs", "Read", () =>
      inTransaction(
        this.pool,
        (client, commit) => {
          const page = reads.listJobs(client, this.t, query)
          commit()
          return page
        },
        beginList,
      ),
    )
  }

  insertChildren(
    parent: { readonly id: string; readonly owner: string },
    children: ReadonlyArray<NewChild>,
  ): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined> {
    return this.call("spawnChildren", "Write", () => inserts.insertChildren(this.pool, this.t, parent, children))
  }

  sendEvent(send: InboxSend): Promise<SendResult> {
    return this.call("sendEvent", "Write", () => sendEvent(this.pool, this.t, send))
  }

  inbox(jobId: string, afterSeq: number, limit = 1_000): Promise<ReadonlyArray<DbInboxEntry>> {
    return this.call("inbox", "Read", () => inboxAfter(this.pool, this.t, jobId, afterSeq, limit))
  }

  childCounts(parentId: string): Promise<ReadonlyArray<{ readonly status: string; readonly count: number }>> {
    return this.call("childCounts", "Read", () => reads.childCounts(this.pool, this.t, parentId))
  }

  check(): Promise<StoreCheck> {
    return this.call("check", "Read", () => check(this.pool, this.schema))
  }

  countJobs(): Promise<ReadonlyArray<JobCount>> {
    return this.call("countJobs", "Read", () => reads.countJobs(this.pool, this.t))
  }

  endedPerMinute(since: string): Promise<ReadonlyArray<EndedCount>> {
    return this.call("endedPerMinute", "Read", () => reads.endedPerMinute(this.pool, this.t, since))
  }

  idsWithPrefix(prefix: string, limit: number): Promise<ReadonlyArray<string>> {
    return this.call("findJob", "Read", () => reads.idsWithPrefix(this.pool, this.t, prefix, limit))
  }

  logs(jobId: string, afterSeq = 0, limit?: number): Promise<ReadonlyArray<DbLog>> {
    return this.call("logs", "Read", () => reads.logs(this.pool, this.t, jobId, afterSeq, limit))
  }

  /**
   * One transaction. The writes go as one set-based statement per "layer" (see `planWrites`;
   * usually one), holding only the parts those writes need (`partsOf`); then the claim locks,
   * decides and starts. A commit of one statement and no claim runs alone, without
   * BEGIN/COMMIT: a single statement is atomic.
   *
   * The pool's connections are pipelined: statements that do not need each other's results go
   * out together and the server runs them in the order sent. So a commit is two round trips
   * whatever it holds: BEGIN, the parents' locks, the writes, the ends of waits and the claim's
   * read; then the starts (and the next due time) and COMMIT. Without a claim, one.
   */
  commit(writes: ReadonlyArray<JobWrite>, claim?: ClaimRequest): Promise<CommitResult> {
    return this.call("commit", "Write", async () => {
      const claiming = claim !== undefined && claim.limit > 0 && claim.types.length > 0
      if (!claiming && writes.length === 0) return { applied: [], claimed: [] }
      const parents = waitingParents(writes)
      if (!claiming && parents.length === 0 && planWrites(writes).length === 1)
        return { applied: await applyWrites(this.pool, this.t, writes), claimed: [] }
      return inTransaction(
        this.pool,
        async (client, commit) => {
          const sent = Promise.all([
            lockParents(client, this.t, parents),
            applyWrites(client, this.t, writes),
            endWaits(client, this.t, parents, writes),
            claiming ? readClaimable(client, this.t, claim) : undefined,
          ])
          if (!claiming) commit()
          const [, applied, , claimable] = await sent
          return claimable === undefined
            ? { applied, claimed: [] as ClaimRow[] }
            : { applied, ...(await startClaimed(client, this.t, claim!, claimable, commit)) }
        },
        beginCommit,
      )
    })
  }

  orphans(types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => reads.orphans(this.pool, this.t, types, liveOwners))
  }

  pausedByShutdown(types: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => reads.pausedByShutdown(this.pool, this.t, types))
  }

  damaged(): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => reads.damaged(this.pool, this.t))
  }

  setOverrides(id: string, expect: RowExpectation, options: string | null): Promise<boolean> {
    return this.call("retry", "Write", () => commands.setWhere(this.pool, this.t, id, expect, "options", options))
  }

  requestCommand(id: string, expect: RowExpectation, command: string): Promise<boolean> {
    return this.call("command", "Write", () => commands.setWhere(this.pool, this.t, id, expect, "request", command))
  }

  requestsFor(owner: string): Promise<ReadonlyArray<{ readonly id: string; readonly request: string }>> {
    return this.call("requests", "Read", () => commands.requestsFor(this.pool, this.t, owner))
  }

  renewLease(lease: LeaseWrite): Promise<void> {
    return this.call("lease", "Write", () => leases.renewLease(this.pool, this.t, lease))
  }

  dropLease(id: string): Promise<void> {
    return this.call("lease", "Write", () => leases.dropLease(this.pool, this.t, id))
  }

  leases(): Promise<ReadonlyArray<Lease>> {
    return this.call("lease", "Read", () => leases.leases(this.pool, this.t))
  }

  forgetLease(id: string, expiresAt: number): Promise<void> {
    return this.call("lease", "Write", () => leases.forgetLease(this.pool, this.t, id, expiresAt))
  }

  upsertSchedule(schedule: ScheduleWrite): Promise<DbSchedule> {
    return this.call("schedule", "Write", () => schedules.upsertSchedule(this.pool, this.t, this.channel, schedule))
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.call("unschedule", "Write", () => schedules.deleteSchedule(this.pool, this.t, this.channel, name))
  }

  listSchedules(): Promise<ReadonlyArray<DbSchedule>> {
    return this.call("listSchedules", "Read", () => schedules.listSchedules(this.pool, this.t))
  }

  fireSchedule(fire: ScheduleFire): Promise<boolean> {
    return this.call("fireSchedule", "Write", () => schedules.fireSchedule(this.pool, this.t, fire))
  }

  eventsAfter(afterSeq: number, gaps: ReadonlyArray<number>, limit: number): Promise<ReadonlyArray<DbEvent>> {
    return this.call("events", "Read", () => events.eventsAfter(this.pool, this.t, afterSeq, gaps, limit))
  }

  lastEventSeq(): Promise<number> {
    return this.call("events", "Read", () => events.lastEventSeq(this.pool, this.t))
  }

  trimEvents(belowSeq: number): Promise<void> {
    return this.call("events", "Write", () => events.trimEvents(this.pool, this.t, belowSeq))
  }

  /**
   * Calls `onChange` when another process dispatched, changed a status or left a command
   * (LISTEN/NOTIFY; this store's own writes are not reported back to it), once whenever the
   * LISTEN is (re)established, and every `intervalMs` as a safety net.
   */
  watch(onChange: () => void, intervalMs: number): () => void {
    return this.listener.watch(onChange, intervalMs)
  }

  async pruneJobs(
    request: PruneRequest,
    onBatch?: (ids: ReadonlyArray<string>) => void | Promise<void>,
  ): Promise<number> {
    const cutoff = await pruneCutoff(request, (status, n) =>
      this.call("prune", "Read", () => prune.nthNewest(this.pool, this.t, status, n)),
    )
    return pruneInBatches(
      cutoff,
      request.batchSize ?? DEFAULT_PRUNE_BATCH,
      (c, limit) => this.call("prune", "Write", () => prune.deleteBatch(this.pool, this.t, request.status, c, limit)),
      onBatch,
    )
  }

  /** Ends the pool (after the calls in flight) and the LISTEN connection. Idempotent. */
  /**
   * Folds the changes of the counts (see migration 8) every `ms` while this store writes, so
   * that `countJobs` sums at most that long's changes. A fold that fails is retried at the next.
   */
  private foldCountsEvery(ms: number): void {
    this.folder = setInterval(() => {
      if (!this.wrote || this.closing !== undefined) return
      this.wrote = false
      reads.foldCounts(this.pool, this.t, this.schema).catch(() => void (this.wrote = true))
    }, ms)
    this.folder.unref()
  }

  close(): Promise<void> {
    clearInterval(this.folder)
    this.closing ??= Promise.all([this.listener.close(), this.pool.end().catch(() => undefined)]).then(() => undefined)
    return this.closing
  }

  private async call<A>(operation: string, reason: "Read" | "Write", f: () => Promise<A>): Promise<A> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing !== undefined)
        throw new PersistenceError({ operation, reason: "Closed", detail: `${this.location} is closed` })
      try {
        // A lease is no job: renewing one changes no count, and an idle worker folds nothing.
        if (reason === "Write" && operation !== "lease") this.wrote = true
        return await f()
      } catch (cause) {
        // A read is safe to repeat: one that met a dropped connection gets a fresh one from the pool.
        if (reason === "Read" && attempt < 2 && this.closing === undefined && isTransientCause(cause)) {
          await new Promise((r) => setTimeout(r, 50 * (attempt + 1)))
          continue
        }
        throw persistenceError(operation, this.closing === undefined ? reason : "Closed", cause)
      }
    }
  }
}
