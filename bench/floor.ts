/**
 * The floor: a bare better-sqlite3 queue doing the minimum a durable queue needs. WAL,
 * synchronous=NORMAL; per job one INSERT on enqueue, one UPDATE to claim and one UPDATE to
 * complete, each its own (autocommit) transaction. Params are MessagePack, as in jobstate.
 */
import Database from "better-sqlite3"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Packr } from "msgpackr"

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

export interface FloorJob {
  readonly seq: number
  readonly id: string
  readonly name: string
  readonly params: unknown
}

export class FloorQueue {
  readonly db: Database.Database
  private readonly insert: Database.Statement
  private readonly claimNext: Database.Statement
  private readonly completeJob: Database.Statement
  private readonly setProgress: Database.Statement

  static open(dir: string): FloorQueue {
    return new FloorQueue(new Database(join(dir, "floor.db")))
  }

  private constructor(db: Database.Database) {
    this.db = db
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    db.exec(/* sql */ `
      CREATE TABLE IF NOT EXISTS jobs (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        name         TEXT NOT NULL,
        params       BLOB NOT NULL,
        status       TEXT NOT NULL,
        progress     TEXT,
        output       TEXT,
        created_at   TEXT NOT NULL,
        started_at   TEXT,
        completed_at TEXT
      );
      CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);`)
    this.insert = db.prepare(`INSERT INTO jobs (id, name, params, status, created_at) VALUES (?, ?, ?, 'queued', ?)`)
    this.claimNext = db.prepare(/* sql */ `
      UPDATE jobs SET status = 'running', started_at = ?
      WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)
      RETURNING seq, id, name, params`)
    this.completeJob = db.prepare(`UPDATE jobs SET status = 'completed', output = ?, completed_at = ? WHERE seq = ?`)
    this.setProgress = db.prepare(`UPDATE jobs SET progress = ? WHERE seq = ?`)
  }

  enqueue(name: string, params: unknown): string {
    const id = randomUUID()
    this.insert.run(id, name, packr.pack(params), new Date().toISOString())
    return id
  }

  claim(): FloorJob | undefined {
    const row = this.claimNext.get(new Date().toISOString()) as
      | { seq: number; id: string; name: string; params: Buffer }
      | undefined
    return row === undefined ? undefined : { ...row, params: packr.unpack(row.params) }
  }

  complete(seq: number, output: unknown) {
    this.completeJob.run(JSON.stringify(output ?? null), new Date().toISOString(), seq)
  }

  progress(seq: number, progress: unknown) {
    this.setProgress.run(JSON.stringify(progress), seq)
  }

  /** Rows by status (for checking a run did what it claims). */
  counts(): Record<string, number> {
    const rows = this.db.prepare(`SELECT status, count(*) AS n FROM jobs GROUP BY status`).all() as {
      status: string
      n: number
    }[]
    return Object.fromEntries(rows.map((r) => [r.status, r.n]))
  }

  close() {
    this.db.close()
  }
}

/** Counts rows by status in a jobstate database (a separate connection, for checks after a run). */
export const jobstateCounts = (dataDir: string): Record<string, number> => {
  const db = new Database(join(dataDir, "jobs.db"))
  try {
    const rows = db.prepare(`SELECT status, count(*) AS n FROM jobs GROUP BY status`).all() as {
      status: string
      n: number
    }[]
    return Object.fromEntries(rows.map((r) => [r.status, r.n]))
  } finally {
    db.close()
  }
}
