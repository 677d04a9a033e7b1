import Database from "better-sqlite3"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { PersistenceError } from "../jobs/errors.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import type { LogLevel } from "../jobs/defineJob.js"
import { assertNotNewer, migrate } from "./migrations.js"

/** A row of `jobs` as stored. The API type is `JobInfo`; this one is the database's. */
export interface DbJob {
  readonly seq: number
  readonly id: string
  readonly name: string
  readonly params: Buffer
  readonly data: Buffer
  /** Normally a `JobStatus`; a string because a damaged row may hold anything. */
  readonly status: string
  readonly snapshot: Buffer
  readonly priority: number
  readonly progress: number | null
  readonly progress_data: string | null
  readonly output: string | null
  readonly error_message: string | null
  readonly error: string | null
  readonly attempts: number
  readonly state_version: number
  readonly paused_by: string | null
  readonly owner: string | null
  readonly request: string | null
  readonly created_at: string
  readonly started_at: string | null
  readonly completed_at: string | null
  readonly last_checkpoint: string | null
  readonly updated_at: string
}

/** The columns a claim reads. */
export type ClaimRow = Pick<
  DbJob,
  "id" | "name" | "status" | "params" | "data" | "snapshot" | "priority" | "state_version" | "started_at"
>

/** The columns a write may set on a job row (besides `updated_at`, always set). */
export type JobUpdate = Partial<
  Pick<
    DbJob,
    | "status"
    | "snapshot"
    | "data"
    | "progress"
    | "progress_data"
    | "output"
    | "error_message"
    | "error"
    | "attempts"
    | "state_version"
    | "paused_by"
    | "owner"
    | "request"
    | "started_at"
    | "completed_at"
    | "last_checkpoint"
  >
>

/** What a guarded update requires of the row it writes. */
export interface RowGuard {
  readonly status?: string
  readonly owner?: string | null
}

export interface NewJob {
  readonly id: string
  readonly name: string
  readonly params: Buffer
  readonly data: Buffer
  readonly status: JobStatus
  readonly snapshot: Buffer
  readonly priority: number
  readonly created_at: string
}

export interface DbLog {
  readonly seq: number
  readonly job_id: string
  readonly at: string
  readonly level: LogLevel
  readonly message: string
}

export interface ManagerLease {
  readonly id: string
  readonly pid: number
  readonly host: string
  readonly heartbeat_at: number
}

const wrap = <A>(operation: string, reason: "Read" | "Write", f: () => A): A => {
  try {
    return f()
  } catch (cause) {
    if (cause instanceof PersistenceError) throw cause
    throw new PersistenceError({ operation, reason, detail: (cause as Error).message ?? String(cause), cause })
  }
}

/**
 * Switching to WAL needs a moment alone with the file; when another process is opening the
 * same new database, SQLite answers "locked" at once instead of waiting, so wait here.
 */
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

/**
 * The SQLite store: one file, `<dataDir>/jobs.db`, in WAL mode, every statement prepared once.
 * All methods are synchronous (better-sqlite3); failures are `PersistenceError`s.
 */
export class SqliteJobStore {
  readonly file: string
  // Not private: fault-injection tests reach it to set limits.
  readonly db: Database.Database
  private readonly updates = new Map<string, Database.Statement>()
  private closed = false

  private readonly stmts: {
    insert: Database.Statement
    get: Database.Statement
    status: Database.Statement
    runningByOwner: Database.Statement
    runningOf: Database.Statement
    pausedByShutdown: Database.Statement
    statuses: Database.Statement
    nextQueued: Database.Statement
    byStatus: Database.Statement
    all: Database.Statement
    withRequests: Database.Statement
    toRecover: Database.Statement
    insertLog: Database.Statement
    logs: Database.Statement
    upsertLease: Database.Statement
    deleteLease: Database.Statement
    leases: Database.Statement
  }

  /** Opens (creating) `<dataDir>/jobs.db` and migrates it. */
  static open(dataDir: string, options: { readonly busyTimeoutMs?: number } = {}): SqliteJobStore {
    const file = join(dataDir, "jobs.db")
    let db: Database.Database
    try {
      mkdirSync(dataDir, { recursive: true })
      db = new Database(file)
    } catch (cause) {
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${file}: ${(cause as Error).message}`, cause })
    }
    try {
      const busyTimeoutMs = options.busyTimeoutMs ?? 5000
      db.pragma(`busy_timeout = ${busyTimeoutMs}`)
      // Refuse a newer database before changing anything about it, even its journal mode.
      assertNotNewer(db, file)
      setWal(db, busyTimeoutMs)
      db.pragma("synchronous = NORMAL")
      db.pragma("foreign_keys = ON")
      migrate(db, file)
      return new SqliteJobStore(db, file)
    } catch (cause) {
      db.close()
      if (cause instanceof PersistenceError) throw cause
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${file}: ${(cause as Error).message}`, cause })
    }
  }

  private constructor(db: Database.Database, file: string) {
    this.db = db
    this.file = file
    this.stmts = {
      insert: db.prepare(/* sql */ `
        INSERT INTO jobs (id, name, params, data, status, snapshot, priority, created_at, updated_at)
        VALUES (@id, @name, @params, @data, @status, @snapshot, @priority, @created_at, @created_at)`),
      get: db.prepare(/* sql */ `SELECT * FROM jobs WHERE id = ?`),
      status: db.prepare(/* sql */ `SELECT status FROM jobs WHERE id = ?`).pluck(),
      // All three below are served by the index jobs_status; none reads a row it does not return.
      runningByOwner: db.prepare(/* sql */ `SELECT owner, count(*) AS n FROM jobs WHERE status = 'running' GROUP BY owner`),
      runningOf: db.prepare(/* sql */ `SELECT * FROM jobs WHERE status = 'running' AND owner IS ? ORDER BY seq`),
      pausedByShutdown: db.prepare(/* sql */ `SELECT * FROM jobs WHERE status = 'paused' AND paused_by = 'shutdown' ORDER BY seq`),
      statuses: db.prepare(/* sql */ `SELECT DISTINCT status FROM jobs`).pluck(),
      // The index jobs_status serves this: highest priority first, FIFO within.
      // Only what a start needs: better-sqlite3 pays per column and per blob materialised.
      nextQueued: db.prepare(/* sql */ `
        SELECT id, name, status, params, data, snapshot, priority, state_version, started_at
        FROM jobs WHERE status = 'queued' ORDER BY priority DESC, seq LIMIT ?`),
      byStatus: db.prepare(/* sql */ `SELECT * FROM jobs WHERE status = ? ORDER BY seq LIMIT ? OFFSET ?`),
      all: db.prepare(/* sql */ `SELECT * FROM jobs ORDER BY seq LIMIT ? OFFSET ?`),
      // The partial index jobs_request keeps this poll cheap however many jobs there are.
      withRequests: db.prepare(/* sql */ `SELECT id, request FROM jobs WHERE request IS NOT NULL AND owner = ?`),
      toRecover: db.prepare(/* sql */ `SELECT * FROM jobs WHERE status = ? ORDER BY seq`),
      insertLog: db.prepare(/* sql */ `INSERT INTO job_logs (job_id, at, level, message) VALUES (?, ?, ?, ?)`),
      logs: db.prepare(/* sql */ `SELECT * FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
      upsertLease: db.prepare(/* sql */ `
        INSERT INTO managers (id, pid, host, heartbeat_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`),
      deleteLease: db.prepare(/* sql */ `DELETE FROM managers WHERE id = ?`),
      leases: db.prepare(/* sql */ `SELECT * FROM managers`),
    }
  }

  /** Runs `f` in one IMMEDIATE transaction (the write lock is taken up front, so no upgrade deadlock). */
  transaction<A>(operation: string, f: () => A): A {
    this.assertOpen(operation)
    return wrap(operation, "Write", () => this.db.transaction(f).immediate())
  }

  insertJob(job: NewJob): void {
    this.assertOpen("dispatch")
    wrap("dispatch", "Write", () => this.stmts.insert.run(job))
  }

  getJob(id: string): DbJob | undefined {
    this.assertOpen("getJob")
    return wrap("getJob", "Read", () => this.stmts.get.get(id) as DbJob | undefined)
  }

  nextQueued(limit: number): ReadonlyArray<ClaimRow> {
    return wrap("claim", "Read", () => this.stmts.nextQueued.all(limit) as ClaimRow[])
  }

  listJobs(filter: { readonly status?: string; readonly limit?: number; readonly offset?: number }): ReadonlyArray<DbJob> {
    this.assertOpen("listJobs")
    const limit = filter.limit ?? -1
    const offset = filter.offset ?? 0
    return wrap("listJobs", "Read", () =>
      (filter.status === undefined
        ? this.stmts.all.all(limit, offset)
        : this.stmts.byStatus.all(filter.status, limit, offset)) as DbJob[],
    )
  }

  /** How many running jobs each owner has (owner null: a row no manager holds). */
  runningOwners(): ReadonlyArray<{ readonly owner: string | null; readonly n: number }> {
    return wrap("recover", "Read", () => this.stmts.runningByOwner.all() as Array<{ owner: string | null; n: number }>)
  }

  runningRowsOf(owner: string | null): ReadonlyArray<DbJob> {
    return wrap("recover", "Read", () => this.stmts.runningOf.all(owner) as DbJob[])
  }

  pausedByShutdown(): ReadonlyArray<DbJob> {
    return wrap("recover", "Read", () => this.stmts.pausedByShutdown.all() as DbJob[])
  }

  /** The distinct status strings stored (an index-only scan): how recovery finds damaged rows. */
  statuses(): ReadonlyArray<string> {
    return wrap("recover", "Read", () => this.stmts.statuses.all() as string[])
  }

  rowsWithStatus(status: string): ReadonlyArray<DbJob> {
    return wrap("recover", "Read", () => this.stmts.toRecover.all(status) as DbJob[])
  }

  statusOf(id: string): string | undefined {
    return wrap("status", "Read", () => this.stmts.status.get(id) as string | undefined)
  }

  /** Changes whenever another connection commits (PRAGMA data_version). */
  dataVersion(): number {
    return wrap("poll", "Read", () => this.db.pragma("data_version", { simple: true }) as number)
  }

  /** Commands other processes left for the running jobs of `owner`. */
  requestsFor(owner: string): ReadonlyArray<Pick<DbJob, "id" | "request">> {
    return wrap("requests", "Read", () => this.stmts.withRequests.all(owner) as Array<Pick<DbJob, "id" | "request">>)
  }

  /**
   * Sets `fields` on one job. With a guard, only if the row still has that status (another
   * process may have moved it) and, for a running job, that owner (a manager that lost its
   * lease must not write over the one that took the job over). Returns whether it wrote.
   */
  updateJob(id: string, fields: JobUpdate, updatedAt: string, guard?: RowGuard): boolean {
    this.assertOpen("updateJob")
    // One prepared statement per shape of update; each call site always builds its fields in
    // the same order, so the key list is a cheap cache key.
    const keys = Object.keys(fields)
    const guardKey = guard === undefined ? "" : `|${guard.status === undefined ? "" : "s"}${guard.owner === undefined ? "" : "o"}`
    const cacheKey = keys.join() + guardKey
    let stmt = this.updates.get(cacheKey)
    if (stmt === undefined) {
      const sets = [...keys.map((k) => `${k} = @${k}`), "updated_at = @updated_at"].join(", ")
      const where = ["id = @id"]
      if (guard?.status !== undefined) where.push("status = @guard_status")
      if (guard?.owner !== undefined) where.push("owner IS @guard_owner")
      stmt = this.db.prepare(`UPDATE jobs SET ${sets} WHERE ${where.join(" AND ")}`)
      this.updates.set(cacheKey, stmt)
    }
    const params = fields as Record<string, unknown>
    params.id = id
    params.updated_at = updatedAt
    if (guard?.status !== undefined) params.guard_status = guard.status
    if (guard?.owner !== undefined) params.guard_owner = guard.owner
    return wrap("updateJob", "Write", () => stmt.run(params).changes > 0)
  }

  appendLog(jobId: string, at: string, level: LogLevel, message: string): void {
    wrap("log", "Write", () => this.stmts.insertLog.run(jobId, at, level, message))
  }

  logs(jobId: string, afterSeq = 0, limit = -1): ReadonlyArray<DbLog> {
    this.assertOpen("logs")
    return wrap("logs", "Read", () => this.stmts.logs.all(jobId, afterSeq, limit) as DbLog[])
  }

  renewLease(lease: ManagerLease): void {
    wrap("lease", "Write", () => this.stmts.upsertLease.run(lease.id, lease.pid, lease.host, lease.heartbeat_at))
  }

  dropLease(id: string): void {
    wrap("lease", "Write", () => this.stmts.deleteLease.run(id))
  }

  leases(): ReadonlyArray<ManagerLease> {
    return wrap("lease", "Read", () => this.stmts.leases.all() as ManagerLease[])
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private assertOpen(operation: string) {
    if (this.closed) throw new PersistenceError({ operation, reason: "Closed", detail: "the store is closed" })
  }
}
