import type pg from "pg"
import { isRestingStatus } from "../../jobs/JobStatus.js"
import type { DbInboxEntry, InboxSend, SendResult } from "../JobStore.js"
import { inTransaction, type Queryable, type Tables } from "./connection.js"
import { endRests } from "./families.js"

/**
 * Stores an event in a job's inbox. The job's row is locked first: sends to one job commit one
 * after another, each entry's seq above every entry committed before it (a reader never sees a
 * later entry while an earlier one is still to commit), and a job coming to rest meanwhile
 * (which locks its row too) either sees the entry or is let go by this send.
 */
export const sendEvent = (pool: pg.Pool, t: Tables, send: InboxSend): Promise<SendResult> =>
  inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ status: string; name: string }>({
      name: "jobstate.lockForSend",
      text: /* sql */ `SELECT status, name FROM ${t.jobs} WHERE id = $1 FOR UPDATE`,
      values: [send.id],
    })
    const job = rows[0]
    if (job === undefined) return { found: false }
    if (isRestingStatus(job.status)) return { found: true, status: job.status, name: job.name, seq: null }
    const inserted = await client.query<{ seq: string }>({
      name: "jobstate.sendEvent",
      text: /* sql */ `INSERT INTO ${t.inbox} (job_id, event, sent_at) VALUES ($1, $2, $3) RETURNING seq`,
      values: [send.id, send.event, send.at],
    })
    await endRests(client, t, [send.id])
    return { found: true, status: job.status, name: job.name, seq: Number(inserted.rows[0]!.seq) }
  })

export const inboxAfter = async (
  db: Queryable,
  t: Tables,
  jobId: string,
  afterSeq: number,
  limit: number,
): Promise<DbInboxEntry[]> => {
  const { rows } = await db.query<DbInboxEntry & { seq: string }>({
    name: "jobstate.inboxAfter",
    text: /* sql */ `
      SELECT seq, job_id, event, child_id, sent_at FROM ${t.inbox} WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    values: [jobId, afterSeq, limit],
  })
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }))
}
