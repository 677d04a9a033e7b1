import type Database from "better-sqlite3"
import type { RestingStatus } from "../../jobs/JobStatus.js"
import type { PruneCutoff } from "../prune.js"
import { json } from "./connection.js"

/**
 * Pruning on SQLite, by the index jobs_status (its status prefix): the rows of one resting
 * status are read, the others never.
 */
export const preparePrune = (db: Database.Database) => {
  const nthNewest = db.prepare(/* sql */ `
    SELECT completed_at, seq FROM jobs WHERE status = ? ORDER BY completed_at DESC NULLS LAST, seq DESC LIMIT 1 OFFSET ?`)
  const pruneBatch = db
    .prepare(/* sql */ `
    DELETE FROM jobs WHERE seq IN (
      SELECT seq FROM jobs WHERE status = @status
        AND (@all OR completed_at IS NULL OR completed_at < @completed_at OR (completed_at = @completed_at AND seq < @seq))
      LIMIT @limit)
    RETURNING id`)
    .pluck()
  const pruneLogs = db.prepare(/* sql */ `DELETE FROM job_logs WHERE job_id IN (SELECT value FROM json_each(?))`)
  const pruneEvents = db.prepare(/* sql */ `DELETE FROM job_events WHERE job_id IN (SELECT value FROM json_each(?))`)
  const pruneInbox = db.prepare(/* sql */ `DELETE FROM job_inbox WHERE job_id IN (SELECT value FROM json_each(?))`)
  return {
    nthNewest: (status: RestingStatus, n: number) => {
      const row = nthNewest.get(status, n - 1) as { completed_at: string | null; seq: number } | undefined
      return row === undefined ? undefined : { completedAt: row.completed_at, seq: row.seq }
    },
    /** One IMMEDIATE transaction per batch: the rows, then their logs, events and inboxes. */
    deleteBatch: (status: RestingStatus, cutoff: Exclude<PruneCutoff, { kind: "none" }>, limit: number): string[] => {
      const below =
        cutoff.kind === "below"
          ? { all: 0, completed_at: cutoff.completedAt, seq: cutoff.seq }
          : { all: 1, completed_at: "", seq: 0 }
      return db
        .transaction(() => {
          const ids = pruneBatch.all({ status, ...below, limit }) as string[]
          if (ids.length > 0) {
            const list = json(ids)
            pruneLogs.run(list)
            pruneEvents.run(list)
            pruneInbox.run(list)
          }
          return ids
        })
        .immediate()
    },
  }
}
