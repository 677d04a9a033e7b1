import type { DbEvent } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"

/*
 * `job_events`: what happened to jobs, for `manager.events` listeners in other processes. The
 * rows are written by the statements whose change they record (writes, claim, inserts); here
 * they are read and trimmed.
 */

/**
 * Rows after `afterSeq`, and the `gaps`: sequence numbers skipped by an earlier read because
 * their commit was not yet visible (concurrent commits take numbers in one order and become
 * visible in another).
 */
export const eventsAfter = async (
  db: Queryable,
  t: Tables,
  afterSeq: number,
  gaps: ReadonlyArray<number>,
  limit: number,
): Promise<DbEvent[]> => {
  const { rows } = await db.query<DbEvent>({
    name: "jobstate.eventsAfter",
    text: /* sql */ `
      SELECT seq, job_id, name, writer, type, body, at FROM ${t.events}
      WHERE seq > $1 OR seq = ANY($2::bigint[])
      ORDER BY seq LIMIT $3`,
    values: [afterSeq, gaps, limit],
  })
  return rows
}

export const lastEventSeq = async (db: Queryable, t: Tables): Promise<number> => {
  const { rows } = await db.query<{ last: number | null }>(`SELECT max(seq) AS last FROM ${t.events}`)
  return rows[0]?.last ?? 0
}

export const trimEvents = async (db: Queryable, t: Tables, belowSeq: number): Promise<void> => {
  await db.query(`DELETE FROM ${t.events} WHERE seq < $1`, [belowSeq])
}
