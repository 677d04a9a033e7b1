import type Database from "better-sqlite3"
import { PersistenceError } from "../jobs/errors.js"
import type {
  ClaimRequest,
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
import { DEFAULT_PRUNE_BATCH, pruneCutoff, pruneInBatches, type PruneRequest } from "./prune.js"
import { prepareClaim } from "./sqlite/claim.js"
import { prepareCommands } from "./sqlite/commands.js"
import { lockWaiting, openDatabase, watch, type OpenDatabase, type SqliteStoreOptions } from "./sqlite/connection.js"
import { prepareEvents } from "./sqlite/events.js"
import { prepareFamilies } from "./sqlite/families.js"
import { prepareInbox } from "./sqlite/inbox.js"
import { prepareInserts } from "./sqlite/inserts.js"
import { prepareLeases } from "./sqlite/leases.js"
import { check } from "./sqlite/migrations.js"
import { preparePrune } from "./sqlite/prune.js"
import { prepareReads } from "./sqlite/reads.js"
import { prepareSchedules } from "./sqlite/schedules.js"
import { prepareWrites } from "./sqlite/writes.js"

export { DEFAULT_BUSY_TIMEOUT_MS, type SqliteStoreOptions } from "./sqlite/connection.js"

/** Every statement, prepared once per connection, by concern (`sqlite/`). */
const prepare = (db: Database.Database, now: () => number) => {
  const events = prepareEvents(db)
  const reads = prepareReads(db)
  const families = prepareFamilies(db)
  const writes = prepareWrites(db, { events, families })
  const inserts = prepareInserts(db, { events, reads })
  return {
    events,
    reads,
    writes,
    inserts,
    claim: prepareClaim(db, { writes, events, now }),
    commands: prepareCommands(db, now),
    leases: prepareLeases(db, now),
    schedules: prepareSchedules(db, { insert: inserts.insert, writes, events }),
    prune: preparePrune(db),
    inbox: prepareInbox(db, families),
  }
}

/**
 * The SQLite store: one file, `<dataDir>/jobs.db`, in WAL mode, every statement prepared once.
 * better-sqlite3 is synchronous: each method does its work at once and returns a settled
 * promise, so a group commit is one transaction on this thread. The SQL lives in `sqlite/`, a
 * module per concern, as PostgreSQL's in `postgres/`.
 */
export class SqliteJobStore implements JobStore {
  readonly location: string
  // Not private: fault-injection tests reach it to set limits.
  readonly db: Database.Database
  private closed = false
  private readonly s: ReturnType<typeof prepare>
  private readonly onClose: () => void
  private readonly beforeClose: () => void
  private readonly call: ReturnType<typeof lockWaiting>

  /** Opens (creating, unless read-only) `<dataDir>/jobs.db` and migrates it. */
  static open(dataDir: string, options: SqliteStoreOptions = {}): SqliteJobStore {
    return openDatabase(dataDir, options, (opened) => new SqliteJobStore(opened, options.now ?? Date.now))
  }

  private constructor({ db, location, busyTimeoutMs, onClose, beforeClose }: OpenDatabase, now: () => number) {
    this.db = db
    this.location = location
    this.onClose = onClose
    this.beforeClose = beforeClose
    this.call = lockWaiting(location, busyTimeoutMs)
    this.s = prepare(db, now)
  }

  insertJobs(jobs: ReadonlyArray<NewJob>): Promise<ReadonlyArray<InsertResult>> {
    return this.call("dispatch", "Write", () => {
      this.assertOpen("dispatch")
      return this.s.inserts.insertJobs(jobs)
    })
  }

  insertJob(job: NewJob): Promise<InsertResult> {
    return this.call("dispatch", "Write", () => {
      this.assertOpen("dispatch")
      return this.s.inserts.insertJob(job)
    })
  }

  getJob(id: string): Promise<DbJob | undefined> {
    return this.call("getJob", "Read", () => {
      this.assertOpen("getJob")
      return this.s.reads.getJob(id)
    })
  }

  uniqueKeyHolder(name: string, uniqueKey: string): Promise<string | undefined> {
    return this.call("getJob", "Read", () => {
      this.assertOpen("getJob")
      return this.s.reads.holderOf(name, uniqueKey)?.id
    })
  }

  listJobs(query: JobQuery): Promise<ReadonlyArray<DbJob>> {
    return this.call("listJobs", "Read", () => {
      this.assertOpen("listJobs")
      return this.s.reads.listJobs(query)
    })
  }

  insertChildren(
    parent: { readonly id: string; readonly owner: string },
    children: ReadonlyArray<NewChild>,
  ): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined> {
    return this.call("spawnChildren", "Write", () => {
      this.assertOpen("spawnChildren")
      return this.s.inserts.insertChildren(parent, children)
    })
  }

  sendEvent(send: InboxSend): Promise<SendResult> {
    return this.call("sendEvent", "Write", () => this.s.inbox.send(send))
  }

  inbox(jobId: string, afterSeq: number, limit = 1_000): Promise<ReadonlyArray<DbInboxEntry>> {
    return this.call("inbox", "Read", () => this.s.inbox.after(jobId, afterSeq, limit))
  }

  childCounts(parentId: string): Promise<ReadonlyArray<{ readonly status: string; readonly count: number }>> {
    return this.call("childCounts", "Read", () => this.s.reads.childCounts(parentId))
  }

  check(): Promise<StoreCheck> {
    return this.call("check", "Read", () => {
      this.assertOpen("check")
      return check(this.db)
    })
  }

  countJobs(): Promise<ReadonlyArray<JobCount>> {
    return this.call("countJobs", "Read", () => this.s.reads.countJobs())
  }

  endedPerMinute(since: string): Promise<ReadonlyArray<EndedCount>> {
    return this.call("endedPerMinute", "Read", () => this.s.reads.endedPerMinute(since))
  }

  idsWithPrefix(prefix: string, limit: number): Promise<ReadonlyArray<string>> {
    return this.call("findJob", "Read", () => this.s.reads.idsWithPrefix(prefix, limit))
  }

  logs(jobId: string, afterSeq = 0, limit = -1): Promise<ReadonlyArray<DbLog>> {
    return this.call("logs", "Read", () => {
      this.assertOpen("logs")
      return this.s.reads.logs(jobId, afterSeq, limit)
    })
  }

  commit(writes: ReadonlyArray<JobWrite>, claim?: ClaimRequest): Promise<CommitResult> {
    return this.call("commit", "Write", () => this.commitNow(writes, claim))
  }

  /** One IMMEDIATE transaction (the write lock taken up front, so no upgrade deadlock). */
  private commitNow(writes: ReadonlyArray<JobWrite>, claim: ClaimRequest | undefined): CommitResult {
    this.assertOpen("commit")
    return this.db
      .transaction(() => {
        const applied = writes.map((w) => this.s.writes.apply(w))
        return claim === undefined || claim.limit <= 0 ? { applied, claimed: [] } : { applied, ...this.s.claim(claim) }
      })
      .immediate()
  }

  orphans(types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => this.s.reads.orphans(types, liveOwners))
  }

  pausedByShutdown(types: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => this.s.reads.pausedByShutdown(types))
  }

  damaged(): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => this.s.reads.damaged())
  }

  requestCommand(id: string, expect: RowExpectation, command: string): Promise<boolean> {
    return this.call("command", "Write", () => this.s.commands.requestCommand(id, expect, command))
  }

  setOverrides(id: string, expect: RowExpectation, options: string | null): Promise<boolean> {
    return this.call("retry", "Write", () => this.s.commands.setOverrides(id, expect, options))
  }

  requestsFor(owner: string): Promise<ReadonlyArray<{ readonly id: string; readonly request: string }>> {
    return this.call("requests", "Read", () => this.s.commands.requestsFor(owner))
  }

  renewLease(lease: LeaseWrite): Promise<void> {
    return this.call("lease", "Write", () => this.s.leases.renewLease(lease))
  }

  dropLease(id: string): Promise<void> {
    return this.call("lease", "Write", () => this.s.leases.dropLease(id))
  }

  leases(): Promise<ReadonlyArray<Lease>> {
    return this.call("lease", "Read", () => this.s.leases.leases())
  }

  forgetLease(id: string, expiresAt: number): Promise<void> {
    return this.call("lease", "Write", () => this.s.leases.forgetLease(id, expiresAt))
  }

  upsertSchedule(schedule: ScheduleWrite): Promise<DbSchedule> {
    return this.call("schedule", "Write", () => {
      this.assertOpen("schedule")
      return this.s.schedules.upsertSchedule(schedule)
    })
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.call("unschedule", "Write", () => {
      this.assertOpen("unschedule")
      return this.s.schedules.deleteSchedule(name)
    })
  }

  listSchedules(): Promise<ReadonlyArray<DbSchedule>> {
    return this.call("listSchedules", "Read", () => {
      this.assertOpen("listSchedules")
      return this.s.schedules.listSchedules()
    })
  }

  fireSchedule(fire: ScheduleFire): Promise<boolean> {
    return this.call("fireSchedule", "Write", () => {
      this.assertOpen("fireSchedule")
      return this.s.schedules.fireSchedule(fire)
    })
  }

  eventsAfter(afterSeq: number, _gaps: ReadonlyArray<number>, limit: number): Promise<ReadonlyArray<DbEvent>> {
    return this.call("events", "Read", () => {
      this.assertOpen("events")
      return this.s.events.after(afterSeq, limit)
    })
  }

  lastEventSeq(): Promise<number> {
    return this.call("events", "Read", () => this.s.events.last())
  }

  trimEvents(belowSeq: number): Promise<void> {
    return this.call("events", "Write", () => this.s.events.trim(belowSeq))
  }

  watch(onChange: () => void, intervalMs: number): () => void {
    return watch(this.db, () => this.closed, onChange, intervalMs)
  }

  async pruneJobs(
    request: PruneRequest,
    onBatch?: (ids: ReadonlyArray<string>) => void | Promise<void>,
  ): Promise<number> {
    const nthNewest = (status: PruneRequest["status"], n: number) =>
      this.call("prune", "Read", () => {
        this.assertOpen("prune")
        return this.s.prune.nthNewest(status, n)
      })
    const cutoff = await pruneCutoff(request, nthNewest)
    const deleteBatch = (c: Exclude<typeof cutoff, { kind: "none" }>, limit: number) =>
      this.call("prune", "Write", () => {
        this.assertOpen("prune")
        return this.s.prune.deleteBatch(request.status, c, limit)
      })
    return pruneInBatches(cutoff, request.batchSize ?? DEFAULT_PRUNE_BATCH, deleteBatch, onBatch)
  }

  close(): Promise<void> {
    this.closeNow()
    return Promise.resolve()
  }

  closeNow(): void {
    if (this.closed) return
    this.closed = true
    this.beforeClose()
    this.db.close()
    this.onClose()
  }

  private assertOpen(operation: string) {
    if (this.closed) throw new PersistenceError({ operation, reason: "Closed", detail: "the store is closed" })
  }
}
