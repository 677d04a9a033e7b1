import type Database from "better-sqlite3"
import type { DbInboxEntry, InboxSend, SendResult } from "../JobStore.js"
import { isRestingStatus } from "../../jobs/JobStatus.js"
import type { SqliteFamilies } from "./families.js"

/** Machine jobs' inboxes: an event stored after the ones before it, and read in order. */
export const prepareInbox = (db: Database.Database, families: SqliteFamilies) => {
  const jobOf = db.prepare(/* sql */ `SELECT status, name FROM jobs WHERE id = ?`)
  const insert = db.prepare(/* sql */ `INSERT INTO job_inbox (job_id, event, sent_at) VALUES (?, ?, ?)`)
  const after = db.prepare(/* sql */ `
    SELECT seq, job_id, event, child_id, sent_at FROM job_inbox WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`)
  const send: (send: InboxSend) => SendResult = (send) => {
    const job = jobOf.get(send.id) as { status: string; name: string } | undefined
    if (job === undefined) return { found: false }
    if (isRestingStatus(job.status)) return { found: true, status: job.status, name: job.name, seq: null }
    const seq = Number(insert.run(send.id, send.event, send.at).lastInsertRowid)
    families.endRest(send.id)
    return { found: true, status: job.status, name: job.name, seq }
  }
  const sendInTransaction = db.transaction(send)
  return {
    /** One IMMEDIATE transaction: the job's status read, the entry stored, a resting job let go. */
    send: (event: InboxSend): SendResult => sendInTransaction.immediate(event),
    after: (jobId: string, afterSeq: number, limit: number): DbInboxEntry[] =>
      after.all(jobId, afterSeq, limit) as DbInboxEntry[],
  }
}
