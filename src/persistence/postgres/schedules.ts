import type pg from "pg"
import { newJobValues } from "../jobColumns.js"
import type { DbSchedule, ScheduleFire, ScheduleWrite } from "../JobStore.js"
import { inTransaction, type Queryable, type Tables } from "./connection.js"
import { insertStatements } from "./inserts.js"
import { statusBody } from "../eventRows.js"
import { storableText } from "./storableText.js"

/*
 * Schedules. A change to one is news for the other managers (they re-read their timers), so
 * it NOTIFYs the schema's channel in its own transaction, as the jobs trigger does for jobs.
 * A fire needs no NOTIFY of its own: the job it inserts runs the jobs trigger.
 */

const scheduleColumns = /* sql */ `name, job_name, params, priority, options, cron, timezone, next_run_at, last_run_at, last_job_id, created_at, updated_at`

export const upsertSchedule = (pool: pg.Pool, t: Tables, channel: string, s: ScheduleWrite): Promise<DbSchedule> =>
  inTransaction(pool, async (client) => {
    const { rows } = await client.query<DbSchedule>(
      /* sql */ `
        INSERT INTO ${t.schedules} (name, job_name, params, priority, options, cron, timezone, next_run_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
        ON CONFLICT (name) DO UPDATE SET job_name = excluded.job_name, params = excluded.params, priority = excluded.priority,
          options = excluded.options, cron = excluded.cron, timezone = excluded.timezone, next_run_at = excluded.next_run_at,
          updated_at = excluded.updated_at
        RETURNING ${scheduleColumns}`,
      [s.name, s.jobName, s.params, s.priority, s.options, s.cron, s.timezone, s.nextRunAt, s.at],
    )
    await client.query(/* sql */ `SELECT pg_notify($1, '')`, [channel])
    return rows[0]!
  })

export const deleteSchedule = (pool: pg.Pool, t: Tables, channel: string, name: string): Promise<boolean> =>
  inTransaction(pool, async (client) => {
    const deleted = await client.query(/* sql */ `DELETE FROM ${t.schedules} WHERE name = $1`, [name])
    if ((deleted.rowCount ?? 0) === 0) return false
    await client.query(/* sql */ `SELECT pg_notify($1, '')`, [channel])
    return true
  })

export const listSchedules = async (db: Queryable, t: Tables): Promise<DbSchedule[]> => {
  const { rows } = await db.query<DbSchedule>(
    /* sql */ `SELECT ${scheduleColumns} FROM ${t.schedules} ORDER BY name COLLATE "C"`,
  )
  return rows
}

/** The compare-and-set and the job's insert, in one transaction: only the manager that still saw this tick due stores a job. */
export const fireSchedule = (pool: pg.Pool, t: Tables, fire: ScheduleFire): Promise<boolean> =>
  inTransaction(pool, async (client) => {
    const moved = await client.query(
      /* sql */ `UPDATE ${t.schedules} SET next_run_at = $3, last_run_at = $4, last_job_id = $5 WHERE name = $1 AND next_run_at = $2`,
      [fire.name, fire.due, fire.nextRunAt, fire.firedAt, fire.job.id],
    )
    if ((moved.rowCount ?? 0) === 0) return false
    const job = fire.job
    const insert = insertStatements(t).plain
    await client.query(insert.text, insert.params.bind(newJobValues(job)))
    await client.query(/* sql */ `INSERT INTO ${t.logs} (job_id, at, level, message) VALUES ($1, $2, 'info', $3)`, [
      job.id,
      job.createdAt,
      storableText(fire.log),
    ])
    // Other processes' manager.events hear of the job as of a dispatch's.
    if (job.event !== undefined) {
      await client.query(
        /* sql */ `INSERT INTO ${t.events} (job_id, name, writer, type, body, at) VALUES ($1, $2, $3, 'status', $4, $5)`,
        [job.id, job.event.name, job.event.writer, statusBody("queued"), job.createdAt],
      )
    }
    return true
  })
