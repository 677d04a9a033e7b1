import type Database from "better-sqlite3"
import { statusBody } from "../eventRows.js"
import type { DbSchedule, NewJob, ScheduleFire, ScheduleWrite } from "../JobStore.js"
import type { SqliteEvents } from "./events.js"
import type { SqliteWrites } from "./writes.js"

/** Schedules, and the fire of a tick: its compare-and-set and its job, in one transaction. */
export const prepareSchedules = (
  db: Database.Database,
  deps: {
    readonly insert: (job: Omit<NewJob, "event">) => void
    readonly writes: SqliteWrites
    readonly events: SqliteEvents
  },
) => {
  const { insert, writes, events } = deps
  // A new definition keeps the schedule's creation and its last fire.
  const upsert = db.prepare(/* sql */ `
    INSERT INTO schedules (name, job_name, params, priority, options, cron, timezone, next_run_at, created_at, updated_at)
    VALUES (@name, @jobName, @params, @priority, @options, @cron, @timezone, @nextRunAt, @at, @at)
    ON CONFLICT (name) DO UPDATE SET job_name = excluded.job_name, params = excluded.params, priority = excluded.priority,
      options = excluded.options, cron = excluded.cron, timezone = excluded.timezone, next_run_at = excluded.next_run_at,
      updated_at = excluded.updated_at
    RETURNING *`)
  const remove = db.prepare(/* sql */ `DELETE FROM schedules WHERE name = ?`)
  const all = db.prepare(/* sql */ `SELECT * FROM schedules ORDER BY name`)
  // The compare-and-set of a fire: only the manager that still saw this tick due moves it on.
  const move = db.prepare(/* sql */ `
    UPDATE schedules SET next_run_at = @next, last_run_at = @firedAt, last_job_id = @jobId
    WHERE name = @name AND next_run_at = @due`)
  return {
    upsertSchedule: (schedule: ScheduleWrite): DbSchedule => upsert.get(schedule) as DbSchedule,
    deleteSchedule: (name: string): boolean => remove.run(name).changes > 0,
    listSchedules: (): DbSchedule[] => all.all() as DbSchedule[],
    fireSchedule: (fire: ScheduleFire): boolean => {
      const { job } = fire
      return db
        .transaction(() => {
          const moved =
            move.run({ name: fire.name, due: fire.due, next: fire.nextRunAt, firedAt: fire.firedAt, jobId: job.id })
              .changes > 0
          if (!moved) return false
          insert(job)
          writes.log(job.id, job.createdAt, "info", fire.log)
          if (job.event !== undefined) events.record(job.id, job.event, "status", statusBody("queued"), job.createdAt)
          return true
        })
        .immediate()
    },
  }
}
