import type { Queryable, Tables } from "./connection.js"
import type { RestingStatus } from "../../jobs/JobStatus.js"
import type { PruneCutoff } from "../prune.js"

/**
 * Pruning on PostgreSQL: each batch is one statement (so one transaction) that deletes the
 * rows, their log lines and their events. The batch is picked in a materialized CTE: as an
 * `IN (subquery … LIMIT)` the planner may run the subquery again per row and delete past the limit. `FOR UPDATE SKIP LOCKED` passes over a row that a
 * retry is changing, and the outer `status =` re-checks the row once it is locked, so a job
 * that left its resting status meanwhile stays. Comparisons of `completed_at` are byte-wise
 * (`COLLATE "C"`): ISO 8601 text sorts as time that way, whatever the database's collation.
 */
export const nthNewest = async (db: Queryable, t: Tables, status: RestingStatus, n: number) => {
  const { rows } = await db.query<{ completed_at: string | null; seq: string }>({
    name: "jobstate.nthNewest",
    text: /* sql */ `
      SELECT completed_at, seq FROM ${t.jobs} WHERE status = $1
      ORDER BY completed_at COLLATE "C" DESC NULLS LAST, seq DESC LIMIT 1 OFFSET $2`,
    values: [status, n - 1],
  })
  const row = rows[0]
  return row === undefined ? undefined : { completedAt: row.completed_at, seq: Number(row.seq) }
}

export const deleteBatch = async (
  db: Queryable,
  t: Tables,
  status: RestingStatus,
  cutoff: Exclude<PruneCutoff, { kind: "none" }>,
  limit: number,
): Promise<ReadonlyArray<string>> => {
  const below = cutoff.kind === "below" ? [false, cutoff.completedAt, cutoff.seq] : [true, "", 0]
  const { rows } = await db.query<{ id: string }>({
    name: "jobstate.pruneBatch",
    text: /* sql */ `
      WITH picked AS MATERIALIZED (
        SELECT seq FROM ${t.jobs} WHERE status = $1
          AND ($2::boolean OR completed_at IS NULL OR completed_at COLLATE "C" < $3::text
               OR (completed_at = $3::text AND seq < $4::bigint))
        LIMIT $5 FOR UPDATE SKIP LOCKED),
      doomed AS (
        DELETE FROM ${t.jobs} j USING picked WHERE j.seq = picked.seq AND j.status = $1
        RETURNING j.id),
      logs AS (DELETE FROM ${t.logs} WHERE job_id IN (SELECT id FROM doomed)),
      events AS (DELETE FROM ${t.events} WHERE job_id IN (SELECT id FROM doomed)),
      inbox AS (DELETE FROM ${t.inbox} WHERE job_id IN (SELECT id FROM doomed))
      SELECT id FROM doomed`,
    values: [status, ...below, limit],
  })
  return rows.map((r) => r.id)
}
