import type Database from "better-sqlite3"
import type { DbEvent, EventMeta } from "../JobStore.js"

/**
 * `job_events`: what happened to jobs, for `manager.events` listeners in other processes. A row
 * is written in the transaction of the change it records.
 */
export const prepareEvents = (db: Database.Database) => {
  const insert = db.prepare(
    /* sql */ `INSERT INTO job_events (job_id, name, writer, type, body, at) VALUES (?, ?, ?, ?, ?, ?)`,
  )
  const after = db.prepare(/* sql */ `SELECT * FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?`)
  const last = db.prepare(/* sql */ `SELECT max(seq) FROM job_events`).pluck()
  const trim = db.prepare(/* sql */ `DELETE FROM job_events WHERE seq < ?`)
  return {
    record: (jobId: string, event: EventMeta, type: "status" | "progress" | "log", body: string, at: string): void =>
      void insert.run(jobId, event.name, event.writer, type, body, at),
    // One writer at a time, and a rowid is given inside its commit: no row ever appears below
    // one already read, so there are no gaps to look at again.
    after: (afterSeq: number, limit: number): DbEvent[] => after.all(afterSeq, limit) as DbEvent[],
    last: (): number => (last.get() as number | null) ?? 0,
    // Below a seq that was the newest once: the newest row stays, so no rowid is reused.
    trim: (belowSeq: number): void => void trim.run(belowSeq),
  }
}

export type SqliteEvents = ReturnType<typeof prepareEvents>
