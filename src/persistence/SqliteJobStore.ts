import Database from "better-sqlite3"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { InvalidOptions, PersistenceError } from "../jobs/errors.js"
import type {
  ClaimRequest,
  ClaimRow,
  CommitResult,
  DbEvent,
  DbJob,
  DbLog,
  EventMeta,
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
} from "./JobStore.js"
import { logBody, progressBody, statusBody } from "./eventRows.js"
import type { LifecycleRow } from "./lifecycleRow.js"
import { DEFAULT_PRUNE_BATCH, pruneCutoff, pruneInBatches, type PruneRequest } from "./prune.js"
import { assertNotNewer, latestSchemaVersion, migrate } from "./migrations.js"
import { ANY_STATUS, LIVE } from "./sqlStatuses.js"

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock. Default 5 000. */
  readonly busyTimeoutMs?: number
  /** Open without writing anything (no migration, no journal change): for commands that only look. */
  readonly readOnly?: boolean
  /** The store's clock (ms since the epoch), by which leases expire. */
  readonly now?: () => number
}

const wrap = <A>(operation: string, reason: "Read" | "Write", f: () => A): A => {
  try {
    return f()
  } catch (cause) {
    if (cause instanceof PersistenceError) throw cause
    throw new PersistenceError({ operation, reason, detail: (cause as Error).message ?? String(cause), cause })
  }
}

/** Another connection holds the lock this call needs (a writer in another process, say). */
const isLocked = (error: unknown): boolean => {
  const code = (error as { cause?: { code?: unknown } }).cause?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/**
 * The most one call blocks the event loop waiting for another process's lock: SQLite's own
 * busy handler sleeps on this thread (better-sqlite3 is synchronous), so past this the wait goes
 * on asynchronously, between tries (see `SqliteJobStore.call`), and timers, leases and the app
 * run meanwhile.
 */
const SYNC_BUSY_MS = 10

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const WAL_CHECKPOINT_PAGES = 4000

/**
 * Switching to WAL needs a moment alone with the file; when another process is opening the
 * same new database, SQLite answers "locked" at once instead of waiting, so wait here.
 */
/** How long a write waits for another connection's lock, unless told (`busyTimeoutMs`). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000

const setWal = (db: Database.Database, busyTimeoutMs: number) => {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      db.pragma("journal_mode = WAL")
      return
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    }
  }
}

const isReadOnlyDirError = (error: unknown): boolean => {
  const cause = (error as { cause?: { code?: string } }).cause
  return cause?.code === "SQLITE_READONLY" || cause?.code === "SQLITE_CANTOPEN" || /readonly|unable to open/.test(String((error as Error).message))
}

const json = (values: ReadonlyArray<string>) => JSON.stringify(values)

const lifecycleParams = (lc: LifecycleRow) => ({
  status: lc.status,
  snapshot: lc.snapshot,
  attempts: lc.attempts,
  paused_by: lc.pausedBy,
  error: lc.error,
  error_message: lc.errorMessage,
  terminal: lc.terminal ? 1 : 0,
  failures: lc.failures,
  last_error: lc.lastError,
  run_at: lc.runAt,
  awaiting_children: lc.awaitingChildren ? 1 : 0,
})

const progressParams = (p: { readonly progress: number | null; readonly progressData: string } | undefined) =>
  p === undefined ? { has_progress: 0, progress: null, progress_data: null } : { has_progress: 1, progress: p.progress, progress_data: p.progressData }

/**
 * The SQLite store: one file, `<dataDir>/jobs.db`, in WAL mode, every statement prepared once.
 * better-sqlite3 is synchronous: each method does its work at once and returns a settled
 * promise, so a group commit is one transaction on this thread.
 */
export class SqliteJobStore implements JobStore {
  readonly location: string
  // Not private: fault-injection tests reach it to set limits.
  readonly db: Database.Database
  private readonly now: () => number
  private closed = false
  private readonly stmts: ReturnType<typeof prepare>
  private onClose: () => void = () => {}
  private readonly listStatements = new Map<string, Database.Statement>()

  /** Opens (creating, unless read-only) `<dataDir>/jobs.db` and migrates it. */
  static open(dataDir: string, options: SqliteStoreOptions = {}): SqliteJobStore {
    try {
      return SqliteJobStore.openFile(join(dataDir, "jobs.db"), options)
    } catch (error) {
      if (!isReadOnlyDirError(error)) throw error
      if (options.readOnly) return SqliteJobStore.openCopy(dataDir, options)
      throw new PersistenceError({
        operation: "open",
        reason: "Open",
        detail: `${join(dataDir, "jobs.db")} is read-only for this user: commands that only look (list, show, logs, watch) work, but running jobs needs to write there`,
        cause: error,
      })
    }
  }

  /**
   * A WAL database can be read only where its `-shm` file can be made; in a directory this
   * process may not write, read a copy instead (taken now: a snapshot, not a live view).
   */
  private static openCopy(dataDir: string, options: SqliteStoreOptions): SqliteJobStore {
    const dir = mkdtempSync(join(tmpdir(), "jobstate-ro-"))
    const file = join(dataDir, "jobs.db")
    try {
      copyFileSync(file, join(dir, "jobs.db"))
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, join(dir, "jobs.db-wal"))
      const store = SqliteJobStore.openFile(join(dir, "jobs.db"), options, file)
      store.onClose = () => rmSync(dir, { recursive: true, force: true })
      return store
    } catch (error) {
      rmSync(dir, { recursive: true, force: true })
      throw error
    }
  }

  private static openFile(file: string, options: SqliteStoreOptions, shownAs = file): SqliteJobStore {
    const dataDir = join(file, "..")
    let db: Database.Database
    try {
      if (options.readOnly) db = new Database(file, { readonly: true, fileMustExist: true })
      else {
        mkdirSync(dataDir, { recursive: true })
        db = new Database(file)
      }
    } catch (cause) {
      // A data dir that names a file (or a file inside one) is the caller's mistake, said as such.
      const code = (cause as { code?: unknown }).code
      if (code === "EEXIST" || code === "ENOTDIR") {
        const what = code === "EEXIST" ? "is a file" : "lies inside a file"
        throw new InvalidOptions({ option: "dataDir", detail: `${dataDir} ${what}, not a directory: give the directory jobstate keeps jobs.db in` })
      }
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${file}: ${(cause as Error).message}`, cause })
    }
    try {
      const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
      db.pragma(`busy_timeout = ${busyTimeoutMs}`)
      // Refuse a newer database before changing anything about it, even its journal mode.
      const version = assertNotNewer(db, file)
      if (options.readOnly) {
        if (version < latestSchemaVersion) {
          throw new PersistenceError({
            operation: "open",
            reason: "Open",
            detail:
              version === 0
                ? `${file} has no jobstate tables: it is empty, or another program's database`
                : `${file} has schema version ${version}; open it once with a command that writes (a worker) to upgrade it`,
          })
        }
      } else {
        setWal(db, busyTimeoutMs)
        db.pragma("synchronous = NORMAL")
        // A checkpoint (pages copied back, then an fsync) every 4,000 WAL pages instead of SQLite's
        // 1,000: a row written often (a job's claim, end) is copied back once, not four times, and
        // an awaited dispatch got about 8 % faster. The WAL file grows to ~16 MB (4,000 pages of
        // 4 KiB) and keeps that size.
        db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`)
        db.pragma("foreign_keys = ON")
        migrate(db, file)
      }
      // Past open, a lock is waited for between tries, not on this thread (see SYNC_BUSY_MS).
      db.pragma(`busy_timeout = ${Math.min(busyTimeoutMs, SYNC_BUSY_MS)}`)
      return new SqliteJobStore(db, shownAs, options.now ?? Date.now, busyTimeoutMs)
    } catch (cause) {
      db.close()
      if (cause instanceof PersistenceError) throw cause
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${file}: ${(cause as Error).message}`, cause })
    }
  }

  private constructor(
    db: Database.Database,
    file: string,
    now: () => number,
    /** How long a call waits for another process's lock before it fails. */
    private readonly busyTimeoutMs: number,
  ) {
    this.db = db
    this.location = file
    this.now = now
    this.stmts = prepare(db)
  }

  /**
   * A synchronous store call as the interface's promise; a throw becomes a rejection. A call
   * that finds the file locked by another connection is tried again after a short wait, with
   * the event loop free meanwhile, until `busyTimeoutMs` has passed; then it fails with a
   * `PersistenceError` saying the file is locked. (Each statement or transaction is atomic: a
   * try that met the lock changed nothing.)
   */
  private call<A>(operation: string, reason: "Read" | "Write", f: () => A): Promise<A> {
    try {
      return Promise.resolve(wrap(operation, reason, f))
    } catch (error) {
      return isLocked(error) ? this.waitForLock(operation, reason, f, error) : Promise.reject(error)
    }
  }

  private async waitForLock<A>(operation: string, reason: "Read" | "Write", f: () => A, first: unknown): Promise<A> {
    const deadline = Date.now() + this.busyTimeoutMs
    let error = first
    for (let wait = 2; Date.now() < deadline; wait = Math.min(wait * 2, 50)) {
      await sleep(wait)
      try {
        return wrap(operation, reason, f)
      } catch (e) {
        if (!isLocked(e)) throw e
        error = e
      }
    }
    const { cause } = error as PersistenceError
    throw new PersistenceError({
      operation,
      reason,
      detail: `${this.location} is locked by another connection; waited ${this.busyTimeoutMs} ms (busyTimeoutMs): ${(cause as Error).message}`,
      cause,
    })
  }

  insertJob(job: NewJob): Promise<InsertResult> {
    return this.call("dispatch", "Write", () => {
      this.assertOpen("dispatch")
      const { event, ...rest } = job
      const row = storedJob(rest)
      if (event === undefined) return this.insertNow(row)
      // Recorded for listeners in other processes: the row and its event in one transaction.
      return this.db
        .transaction((): InsertResult => {
          const result = this.insertNow(row)
          if (result.inserted) this.insertEvent(job.id, event, "status", statusBody("queued"), job.createdAt)
          return result
        })
        .immediate()
    })
  }

  private insertNow(row: ReturnType<typeof storedJob>): InsertResult {
    if (row.uniqueKey === null) {
      this.stmts.insert.run(row)
      return { inserted: true }
    }
    // One transaction: the key's holder cannot end between the refused insert and the read.
    return this.db
      .transaction((): InsertResult => {
        if (this.stmts.insertUnique.run(row).changes > 0) return { inserted: true }
        const existing = this.stmts.holderOf.get(row.name, row.uniqueKey) as { id: string; name: string }
        return { inserted: false, existing }
      })
      .immediate()
  }

  private insertEvent(jobId: string, event: EventMeta, type: "status" | "progress" | "log", body: string, at: string) {
    this.stmts.insertEvent.run(jobId, event.name, event.writer, type, body, at)
  }

  getJob(id: string): Promise<DbJob | undefined> {
    return this.call("getJob", "Read", () => {
      this.assertOpen("getJob")
      return this.stmts.get.get(id) as DbJob | undefined
    })
  }

  uniqueKeyHolder(name: string, uniqueKey: string): Promise<string | undefined> {
    return this.call("getJob", "Read", () => {
      this.assertOpen("getJob")
      return (this.stmts.holderOf.get(name, uniqueKey) as { id: string } | undefined)?.id
    })
  }

  listJobs(query: JobQuery): Promise<ReadonlyArray<DbJob>> {
    return this.call("listJobs", "Read", () => {
      this.assertOpen("listJobs")
      const where: string[] = []
      const params: unknown[] = []
      if (query.status !== undefined) where.push("status = ?") && params.push(query.status)
      if (query.name !== undefined) where.push("name = ?") && params.push(query.name)
      if (query.parentId !== undefined) where.push("parent_id = ?") && params.push(query.parentId)
      if (query.createdAfter !== undefined) where.push("created_at >= ?") && params.push(query.createdAfter)
      if (query.createdBefore !== undefined) where.push("created_at < ?") && params.push(query.createdBefore)
      const order = query.order === "newest" ? "DESC" : "ASC"
      const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${order} LIMIT ? OFFSET ?`
      // Sixty-four shapes at most (status, name, parent, created after, before, order): each prepared once, since a worker draining polls this.
      let statement = this.listStatements.get(sql)
      if (statement === undefined) this.listStatements.set(sql, (statement = this.db.prepare(sql)))
      return statement.all(...params, query.limit ?? -1, query.offset ?? 0) as DbJob[]
    })
  }

  insertChildren(
    parent: { readonly id: string; readonly owner: string },
    children: ReadonlyArray<NewChild>,
  ): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined> {
    return this.call("spawnChildren", "Write", () => {
      this.assertOpen("spawnChildren")
      return this.db
        .transaction(() => {
          if (this.stmts.runningUnder.get(parent.id, parent.owner) === undefined) return undefined
          const ids: string[] = []
          const inserted: string[] = []
          for (const { event, childKey, ...job } of children) {
            if (this.stmts.insertChild.run({ ...storedJob(job), parentId: parent.id, childKey }).changes > 0) {
              inserted.push(job.id)
              if (event !== undefined) this.insertEvent(job.id, event, "status", statusBody("queued"), job.createdAt)
            }
            ids.push(this.stmts.childByKey.get(parent.id, childKey) as string)
          }
          return { ids, inserted }
        })
        .immediate()
    })
  }

  childCounts(parentId: string): Promise<ReadonlyArray<{ readonly status: string; readonly count: number }>> {
    return this.call("childCounts", "Read", () => this.stmts.childCounts.all(parentId) as Array<{ status: string; count: number }>)
  }

  check(): Promise<StoreCheck> {
    return this.call("check", "Read", () => {
      this.assertOpen("check")
      const found = (this.db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check)
      return {
        schemaVersion: this.db.pragma("user_version", { simple: true }) as number,
        latestSchemaVersion,
        integrity: found.length === 1 && found[0] === "ok" ? [] : found,
      }
    })
  }

  countJobs(): Promise<ReadonlyArray<JobCount>> {
    return this.call("countJobs", "Read", () => this.stmts.countJobs.all() as JobCount[])
  }

  endedPerMinute(since: string): Promise<ReadonlyArray<EndedCount>> {
    return this.call("endedPerMinute", "Read", () => this.stmts.endedPerMinute.all(since) as EndedCount[])
  }

  idsWithPrefix(prefix: string, limit: number): Promise<ReadonlyArray<string>> {
    // The range instead of LIKE: the unique index on id serves it, and no character is special.
    return this.call("findJob", "Read", () => this.stmts.idsWithPrefix.all(prefix, `${prefix}\uffff`, limit) as string[])
  }

  logs(jobId: string, afterSeq = 0, limit = -1): Promise<ReadonlyArray<DbLog>> {
    return this.call("logs", "Read", () => {
      this.assertOpen("logs")
      return this.stmts.logs.all(jobId, afterSeq, limit) as DbLog[]
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
        const applied = writes.map((w) => this.apply(w))
        return claim === undefined || claim.limit <= 0 ? { applied, claimed: [] } : { applied, ...this.claim(claim) }
      })
      .immediate()
  }

  private apply(w: JobWrite): boolean {
    const s = this.stmts
    switch (w.kind) {
      case "transition": {
        const applied =
          s.transition.run({ id: w.id, ...lifecycleParams(w.lifecycle), output: w.output ?? null, ...progressParams(w.progress), at: w.at, ...expectation(w.expect) })
            .changes > 0
        if (applied) this.settleFamily(w.id, w.lifecycle, w.parentId)
        if (applied && w.log !== undefined) s.insertLog.run(w.id, w.at, w.log.level, w.log.message)
        if (applied && w.event !== undefined) {
          if (w.progress !== undefined) this.insertEvent(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
          this.insertEvent(w.id, w.event, "status", statusBody(w.lifecycle.status), w.at)
          if (w.log !== undefined) this.insertEvent(w.id, w.event, "log", logBody(w.log.level, w.log.message), w.at)
        }
        return applied
      }
      case "checkpoint": {
        const applied =
          s.checkpoint.run({ id: w.id, owner: w.owner, data: w.data, snapshot: w.snapshot, state_version: w.stateVersion, ...progressParams(w.progress), at: w.at })
            .changes > 0
        if (applied && w.event !== undefined && w.progress !== undefined) this.insertEvent(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
        return applied
      }
      case "progress": {
        const applied = s.progress.run({ id: w.id, owner: w.owner, ...progressParams(w.progress), at: w.at }).changes > 0
        if (applied && w.event !== undefined) this.insertEvent(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
        return applied
      }
      case "log":
        s.insertLog.run(w.id, w.at, w.level, w.message)
        if (w.event !== undefined) this.insertEvent(w.id, w.event, "log", logBody(w.level, w.message), w.at)
        return true
    }
  }

  /**
   * After a transition, in its transaction: a job that begins to wait for its children and has
   * none live is let go at once; a child's end that leaves its parent none live ends the wait.
   * (One writer at a time: no child can end between the write and this look.)
   */
  private settleFamily(id: string, lifecycle: LifecycleRow, parentId: string | null | undefined) {
    if (lifecycle.awaitingChildren) this.stmts.endWait.run(id)
    if (lifecycle.terminal && parentId != null) this.stmts.endWait.run(parentId)
  }

  private claim(claim: ClaimRequest): { claimed: ClaimRow[]; nextRunAt?: number | null } {
    const types = json(claim.types)
    const nowMs = claim.nowMs ?? this.now()
    const rows = (
      claim.ids === undefined
        ? this.nextQueued(claim.types.length).all(...claim.types, nowMs, claim.maxStateVersion ?? null, claim.limit)
        : this.stmts.queuedWithIds.all(json(claim.ids), types, nowMs, claim.maxStateVersion ?? null, claim.limit)
    ) as ClaimRow[]
    const claimed: ClaimRow[] = []
    for (const row of rows) {
      const decision = claim.decide(row)
      if ("skip" in decision) continue
      if ("start" in decision) {
        const { migrated } = decision
        const ok =
          this.stmts.start.run({
            seq: row.seq,
            ...lifecycleParams(decision.start),
            owner: claim.owner,
            at: claim.at,
            data: migrated?.data ?? null,
            state_schema_version: migrated?.stateSchemaVersion ?? null,
          }).changes > 0
        if (ok) claimed.push(row)
        if (ok && claim.events) this.insertEvent(row.id, { name: row.name, writer: claim.owner }, "status", statusBody(decision.start.status), claim.at)
      } else {
        const failed = this.stmts.transition.run({
          id: row.id,
          ...lifecycleParams(decision.fail),
          output: null,
          ...progressParams(undefined),
          at: claim.at,
          ...expectation({ status: "queued", owner: row.owner }),
        })
        if (failed.changes > 0) this.settleFamily(row.id, decision.fail, row.parent_id)
        if (failed.changes > 0 && claim.events) this.insertEvent(row.id, { name: row.name, writer: claim.owner }, "status", statusBody(decision.fail.status), claim.at)
      }
    }
    if (rows.length === claim.limit) return { claimed }
    // Fewer due rows than slots: when is the next waiting one due? (The partial index jobs_run_at.)
    const nextRunAt = (claim.ids === undefined ? this.stmts.nextRunAt.get(types, nowMs) : this.stmts.nextRunAtOf.get(json(claim.ids), types, nowMs)) as number | null
    return { claimed, nextRunAt }
  }

  private readonly nextQueuedStatements = new Map<number, Database.Statement>()

  /**
   * The claim's read for `count` types, prepared once per count: the types as parameters
   * (`name IN (?, ?)`), which costs less per claim than reading them out of a JSON array.
   * The index jobs_status serves it: highest priority first, FIFO within. Waiting rows
   * (run_at later than now) are passed over, not taken.
   */
  private nextQueued(count: number): Database.Statement {
    let statement = this.nextQueuedStatements.get(count)
    if (statement === undefined) {
      statement = this.db.prepare(/* sql */ `
        SELECT seq, id, name, status, params, data, snapshot, priority, state_version, owner, options, state_schema_version, updated_at, parent_id
        FROM jobs WHERE status = 'queued' AND name IN (${Array(count).fill("?").join(", ")}) AND (run_at IS NULL OR run_at <= ?)
          AND awaiting_children = 0 AND state_schema_version <= coalesce(?, state_schema_version)
        ORDER BY priority DESC, seq LIMIT ?`)
      this.nextQueuedStatements.set(count, statement)
    }
    return statement
  }

  orphans(types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => this.stmts.orphans.all({ types: json(types), owners: json(liveOwners) }) as DbJob[])
  }

  pausedByShutdown(types: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => this.stmts.pausedByShutdown.all(json(types)) as DbJob[])
  }

  damaged(): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", () => {
      return this.stmts.damaged.all() as DbJob[]
    })
  }

  requestCommand(id: string, expect: RowExpectation, command: string): Promise<boolean> {
    return this.call("command", "Write", () => this.stmts.request.run({ id, request: command, at: this.iso(), ...expectation(expect) }).changes > 0)
  }

  setOverrides(id: string, expect: RowExpectation, options: string | null): Promise<boolean> {
    return this.call("retry", "Write", () => this.stmts.setOverrides.run({ id, options, at: this.iso(), ...expectation(expect) }).changes > 0)
  }

  requestsFor(owner: string): Promise<ReadonlyArray<{ readonly id: string; readonly request: string }>> {
    return this.call("requests", "Read", () => this.stmts.requestsOf.all(owner) as Array<{ id: string; request: string }>)
  }

  renewLease(lease: LeaseWrite): Promise<void> {
    return this.call("lease", "Write", () => {
      this.stmts.upsertLease.run(lease.id, lease.pid, lease.host, json(lease.types), this.now() + lease.leaseMs, lease.listening ? 1 : 0, lease.concurrency ?? 0, lease.leaseMs)
    })
  }

  dropLease(id: string): Promise<void> {
    return this.call("lease", "Write", () => void this.stmts.deleteLease.run(id))
  }

  leases(): Promise<ReadonlyArray<Lease>> {
    return this.call("lease", "Read", () => {
      const now = this.now()
      type Row = { id: string; pid: number; host: string; types: string; expires_at: number; listening: number; concurrency: number; lease_ms: number }
      return (this.stmts.leases.all() as Row[]).map((l) => ({
        id: l.id,
        pid: l.pid,
        host: l.host,
        types: JSON.parse(l.types) as string[],
        expiresAt: l.expires_at,
        // As PostgreSQL judges it: a lease that runs out this millisecond still holds.
        expired: l.expires_at < now,
        listening: l.listening === 1,
        concurrency: l.concurrency,
        leaseMs: l.lease_ms,
        renewedAgoMs: Math.max(0, now - (l.expires_at - l.lease_ms)),
      }))
    })
  }

  forgetLease(id: string, expiresAt: number): Promise<void> {
    return this.call("lease", "Write", () => void this.stmts.forgetLease.run(id, expiresAt, this.now()))
  }

  upsertSchedule(schedule: ScheduleWrite): Promise<DbSchedule> {
    return this.call("schedule", "Write", () => {
      this.assertOpen("schedule")
      return this.stmts.upsertSchedule.get(schedule) as DbSchedule
    })
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.call("unschedule", "Write", () => {
      this.assertOpen("unschedule")
      return this.stmts.deleteSchedule.run(name).changes > 0
    })
  }

  listSchedules(): Promise<ReadonlyArray<DbSchedule>> {
    return this.call("listSchedules", "Read", () => {
      this.assertOpen("listSchedules")
      return this.stmts.schedules.all() as DbSchedule[]
    })
  }

  fireSchedule(fire: ScheduleFire): Promise<boolean> {
    return this.call("fireSchedule", "Write", () => {
      this.assertOpen("fireSchedule")
      const { job } = fire
      return this.db
        .transaction(() => {
          const moved = this.stmts.moveSchedule.run({ name: fire.name, due: fire.due, next: fire.nextRunAt, firedAt: fire.firedAt, jobId: job.id }).changes > 0
          if (!moved) return false
          this.stmts.insert.run(storedJob(job))
          this.stmts.insertLog.run(job.id, job.createdAt, "info", fire.log)
          if (job.event !== undefined) this.insertEvent(job.id, job.event, "status", statusBody("queued"), job.createdAt)
          return true
        })
        .immediate()
    })
  }

  eventsAfter(afterSeq: number, _gaps: ReadonlyArray<number>, limit: number): Promise<ReadonlyArray<DbEvent>> {
    // One writer at a time, and a rowid is given inside its commit: no row ever appears below
    // one already read, so there are no gaps to look at again.
    return this.call("events", "Read", () => {
      this.assertOpen("events")
      return this.stmts.eventsAfter.all(afterSeq, limit) as DbEvent[]
    })
  }

  lastEventSeq(): Promise<number> {
    return this.call("events", "Read", () => (this.stmts.lastEventSeq.get() as number | null) ?? 0)
  }

  trimEvents(belowSeq: number): Promise<void> {
    // Below a seq that was the newest once: the newest row stays, so no rowid is reused.
    return this.call("events", "Write", () => void this.stmts.trimEvents.run(belowSeq))
  }

  /** `PRAGMA data_version` changes only when another connection commits: a look costs one pragma. */
  watch(onChange: () => void, intervalMs: number): () => void {
    let seen = -1
    const timer = setInterval(() => {
      if (this.closed) return
      try {
        const version = this.db.pragma("data_version", { simple: true }) as number
        if (version === seen) return
        seen = version
      } catch {
        return
      }
      onChange()
    }, intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }

  async pruneJobs(request: PruneRequest, onBatch?: (ids: ReadonlyArray<string>) => void | Promise<void>): Promise<number> {
    const nthNewest = (status: string, n: number) =>
      this.call("prune", "Read", () => {
        this.assertOpen("prune")
        const row = this.stmts.nthNewest.get(status, n - 1) as { completed_at: string | null; seq: number } | undefined
        return row === undefined ? undefined : { completedAt: row.completed_at, seq: row.seq }
      })
    const cutoff = await pruneCutoff(request, nthNewest)
    const deleteBatch = (c: Exclude<typeof cutoff, { kind: "none" }>, limit: number) =>
      this.call("prune", "Write", () => {
        this.assertOpen("prune")
        const below = c.kind === "below" ? { all: 0, completed_at: c.completedAt, seq: c.seq } : { all: 1, completed_at: "", seq: 0 }
        // One IMMEDIATE transaction per batch: the rows, then their logs and events.
        return this.db
          .transaction(() => {
            const ids = this.stmts.pruneBatch.all({ status: request.status, ...below, limit }) as string[]
            if (ids.length > 0) {
              const list = json(ids)
              this.stmts.pruneLogs.run(list)
              this.stmts.pruneEvents.run(list)
            }
            return ids
          })
          .immediate()
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
    this.db.close()
    this.onClose()
  }

  private iso() {
    return new Date(this.now()).toISOString()
  }

  private assertOpen(operation: string) {
    if (this.closed) throw new PersistenceError({ operation, reason: "Closed", detail: "the store is closed" })
  }
}

/** A new job's row, its optional columns given. */
const storedJob = (job: Omit<NewJob, "event">) => ({
  ...job,
  runAt: job.runAt ?? null,
  uniqueKey: job.uniqueKey ?? null,
  options: job.options ?? null,
  stateSchemaVersion: job.stateSchemaVersion ?? 1,
})

const expectation = (e: RowExpectation) => ({ expect_status: e.status, expect_owner: e.owner, expect_attempts: e.attempts ?? null })

/** Every statement, prepared once per connection. SQL lives here, next to the store that runs it. */
const prepare = (db: Database.Database) => ({
  insert: db.prepare(/* sql */ `
    INSERT INTO jobs (id, name, params, data, status, snapshot, priority, created_at, updated_at, run_at, unique_key, options, state_schema_version)
    VALUES (@id, @name, @params, @data, 'queued', @snapshot, @priority, @createdAt, @createdAt, @runAt, @uniqueKey, @options, @stateSchemaVersion)`),
  // Refused (nothing stored) when a live job holds the key: the partial unique index jobs_unique_key.
  insertUnique: db.prepare(/* sql */ `
    INSERT INTO jobs (id, name, params, data, status, snapshot, priority, created_at, updated_at, run_at, unique_key, options, state_schema_version)
    VALUES (@id, @name, @params, @data, 'queued', @snapshot, @priority, @createdAt, @createdAt, @runAt, @uniqueKey, @options, @stateSchemaVersion)
    ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND status IN (${LIVE}) DO NOTHING`),
  // A child's key taken already (a resumed parent spawning again): nothing stored, the old one stays.
  insertChild: db.prepare(/* sql */ `
    INSERT INTO jobs (id, name, params, data, status, snapshot, priority, created_at, updated_at, state_schema_version, parent_id, child_key)
    VALUES (@id, @name, @params, @data, 'queued', @snapshot, @priority, @createdAt, @createdAt, @stateSchemaVersion, @parentId, @childKey)
    ON CONFLICT (parent_id, child_key) WHERE parent_id IS NOT NULL DO NOTHING`),
  childByKey: db.prepare(/* sql */ `SELECT id FROM jobs WHERE parent_id = ? AND child_key = ?`).pluck(),
  runningUnder: db.prepare(/* sql */ `SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND owner = ?`),
  childCounts: db.prepare(/* sql */ `SELECT status, count(*) AS count FROM jobs WHERE parent_id = ? GROUP BY status`),
  // The index jobs_parent answers "any live child?" without reading a row.
  endWait: db.prepare(/* sql */ `
    UPDATE jobs SET awaiting_children = 0
    WHERE id = ? AND awaiting_children = 1
      AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = jobs.id AND c.status IN (${LIVE}))`),
  holderOf: db.prepare(/* sql */ `
    SELECT id, name FROM jobs WHERE name = ? AND unique_key = ? AND status IN (${LIVE})`),
  get: db.prepare(/* sql */ `SELECT * FROM jobs WHERE id = ?`),
  // The status index covers status; name is read from each row: one scan, no blob read out.
  countJobs: db.prepare(/* sql */ `SELECT status, name, count(*) AS count FROM jobs GROUP BY status, name`),
  endedPerMinute: db.prepare(/* sql */ `
    SELECT substr(completed_at, 1, 16) AS minute, status, count(*) AS count FROM jobs
    WHERE completed_at >= ? GROUP BY minute, status ORDER BY minute`),
  idsWithPrefix: db.prepare(/* sql */ `SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`).pluck(),
  logs: db.prepare(/* sql */ `SELECT * FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
  insertLog: db.prepare(/* sql */ `INSERT INTO job_logs (job_id, at, level, message) VALUES (?, ?, ?, ?)`),
  // The claim of a manager that runs only the jobs it dispatched (see `nextQueued`).
  queuedWithIds: db.prepare(/* sql */ `
    SELECT seq, id, name, status, params, data, snapshot, priority, state_version, owner, options, state_schema_version, updated_at, parent_id
    FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND status = 'queued' AND name IN (SELECT value FROM json_each(?))
      AND (run_at IS NULL OR run_at <= ?) AND awaiting_children = 0 AND state_schema_version <= coalesce(?, state_schema_version)
    ORDER BY priority DESC, seq LIMIT ?`),
  nextRunAt: db.prepare(/* sql */ `
    SELECT min(run_at) FROM jobs
    WHERE status = 'queued' AND run_at IS NOT NULL AND name IN (SELECT value FROM json_each(?)) AND run_at > ?`).pluck(),
  nextRunAtOf: db.prepare(/* sql */ `
    SELECT min(run_at) FROM jobs
    WHERE status = 'queued' AND run_at IS NOT NULL AND id IN (SELECT value FROM json_each(?)) AND name IN (SELECT value FROM json_each(?)) AND run_at > ?`).pluck(),
  // START clears the wait (a running job has no run_at); a state migrated by the claim is stored with it.
  start: db.prepare(/* sql */ `
    UPDATE jobs SET status = @status, snapshot = @snapshot, attempts = @attempts, owner = @owner,
      started_at = COALESCE(started_at, @at), request = NULL, paused_by = NULL, run_at = NULL, updated_at = @at,
      data = COALESCE(@data, data), state_schema_version = COALESCE(@state_schema_version, state_schema_version)
    WHERE seq = @seq AND status = 'queued'`),
  // The one write of a lifecycle transition; `terminal` and `has_progress` are 0 or 1. OR IGNORE:
  // a retry whose unique key another live job took meanwhile is refused, not an error.
  transition: db.prepare(/* sql */ `
    UPDATE OR IGNORE jobs SET status = @status, snapshot = @snapshot, attempts = @attempts, paused_by = @paused_by,
      error = @error, error_message = @error_message, failures = @failures, last_error = @last_error, run_at = @run_at,
      awaiting_children = @awaiting_children, completed_at = CASE WHEN @terminal THEN @at ELSE NULL END,
      owner = NULL, request = NULL, output = COALESCE(@output, output),
      progress = CASE WHEN @has_progress THEN @progress ELSE progress END,
      progress_data = CASE WHEN @has_progress THEN @progress_data ELSE progress_data END,
      updated_at = @at
    WHERE id = @id AND status = @expect_status AND owner IS @expect_owner
      -- A takeover names the attempt it ends: a later attempt of the same owner is not it.
      AND (@expect_attempts IS NULL OR attempts = @expect_attempts)`),
  checkpoint: db.prepare(/* sql */ `
    UPDATE jobs SET data = @data, snapshot = @snapshot, state_version = @state_version, last_checkpoint = @at,
      progress = CASE WHEN @has_progress THEN @progress ELSE progress END,
      progress_data = CASE WHEN @has_progress THEN @progress_data ELSE progress_data END,
      updated_at = @at
    WHERE id = @id AND status = 'running' AND owner = @owner`),
  progress: db.prepare(/* sql */ `
    UPDATE jobs SET progress = @progress, progress_data = @progress_data, updated_at = @at
    WHERE id = @id AND status = 'running' AND owner = @owner AND @has_progress`),
  // Served by the index jobs_status: running rows are few however many jobs there are.
  orphans: db.prepare(/* sql */ `
    SELECT * FROM jobs WHERE status = 'running' AND name IN (SELECT value FROM json_each(@types))
      AND (owner IS NULL OR owner NOT IN (SELECT value FROM json_each(@owners)))
    ORDER BY seq`),
  pausedByShutdown: db.prepare(/* sql */ `
    SELECT * FROM jobs WHERE status = 'paused' AND paused_by = 'shutdown' AND name IN (SELECT value FROM json_each(?))
    ORDER BY seq`),
  // The predicate of the partial index jobs_damaged, so the planner reads only that index.
  damaged: db.prepare(/* sql */ `SELECT * FROM jobs WHERE status NOT IN (${ANY_STATUS}) ORDER BY seq`),
  setOverrides: db.prepare(/* sql */ `
    UPDATE jobs SET options = @options, updated_at = @at
    WHERE id = @id AND status = @expect_status AND owner IS @expect_owner AND (@expect_attempts IS NULL OR attempts = @expect_attempts)`),
  request: db.prepare(/* sql */ `
    UPDATE jobs SET request = @request, updated_at = @at
    WHERE id = @id AND status = @expect_status AND owner IS @expect_owner AND (@expect_attempts IS NULL OR attempts = @expect_attempts)`),
  // The partial index jobs_request keeps these cheap however many jobs there are.
  requestsOf: db.prepare(/* sql */ `SELECT id, request FROM jobs WHERE request IS NOT NULL AND owner = ?`),
  upsertLease: db.prepare(/* sql */ `
    INSERT INTO managers (id, pid, host, types, expires_at, listening, concurrency, lease_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, types = excluded.types, listening = excluded.listening,
      concurrency = excluded.concurrency, lease_ms = excluded.lease_ms`),
  deleteLease: db.prepare(/* sql */ `DELETE FROM managers WHERE id = ?`),
  // Only the lease found dead, and only if it is still expired (as PostgreSQL's forgetLease).
  forgetLease: db.prepare(/* sql */ `DELETE FROM managers WHERE id = ? AND expires_at = ? AND expires_at < ?`),
  leases: db.prepare(/* sql */ `SELECT * FROM managers`),
  // A new definition keeps the schedule's creation and its last fire.
  upsertSchedule: db.prepare(/* sql */ `
    INSERT INTO schedules (name, job_name, params, priority, options, cron, timezone, next_run_at, created_at, updated_at)
    VALUES (@name, @jobName, @params, @priority, @options, @cron, @timezone, @nextRunAt, @at, @at)
    ON CONFLICT (name) DO UPDATE SET job_name = excluded.job_name, params = excluded.params, priority = excluded.priority,
      options = excluded.options, cron = excluded.cron, timezone = excluded.timezone, next_run_at = excluded.next_run_at,
      updated_at = excluded.updated_at
    RETURNING *`),
  deleteSchedule: db.prepare(/* sql */ `DELETE FROM schedules WHERE name = ?`),
  schedules: db.prepare(/* sql */ `SELECT * FROM schedules ORDER BY name`),
  // The compare-and-set of a fire: only the manager that still saw this tick due moves it on.
  moveSchedule: db.prepare(/* sql */ `
    UPDATE schedules SET next_run_at = @next, last_run_at = @firedAt, last_job_id = @jobId
    WHERE name = @name AND next_run_at = @due`),
  // Prune, by the index jobs_status (its status prefix): no index on completed_at, which every
  // job's end would pay for; the rows of one resting status are read, the others never.
  nthNewest: db.prepare(/* sql */ `
    SELECT completed_at, seq FROM jobs WHERE status = ? ORDER BY completed_at DESC NULLS LAST, seq DESC LIMIT 1 OFFSET ?`),
  pruneBatch: db.prepare(/* sql */ `
    DELETE FROM jobs WHERE seq IN (
      SELECT seq FROM jobs WHERE status = @status
        AND (@all OR completed_at IS NULL OR completed_at < @completed_at OR (completed_at = @completed_at AND seq < @seq))
      LIMIT @limit)
    RETURNING id`).pluck(),
  pruneLogs: db.prepare(/* sql */ `DELETE FROM job_logs WHERE job_id IN (SELECT value FROM json_each(?))`),
  pruneEvents: db.prepare(/* sql */ `DELETE FROM job_events WHERE job_id IN (SELECT value FROM json_each(?))`),
  insertEvent: db.prepare(/* sql */ `INSERT INTO job_events (job_id, name, writer, type, body, at) VALUES (?, ?, ?, ?, ?, ?)`),
  eventsAfter: db.prepare(/* sql */ `SELECT * FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?`),
  lastEventSeq: db.prepare(/* sql */ `SELECT max(seq) FROM job_events`).pluck(),
  trimEvents: db.prepare(/* sql */ `DELETE FROM job_events WHERE seq < ?`),
})
