import type Database from "better-sqlite3"
import type { LogLevel } from "../../jobs/defineJob.js"
import { logBody, progressBody, statusBody } from "../eventRows.js"
import {
  checkpointSet,
  checkpointValues,
  expectGuard,
  progressSet,
  progressWriteValues,
  transitionSet,
  transitionValues,
} from "../jobColumns.js"
import type { JobWrite } from "../JobStore.js"
import { bindable, sqliteRefs } from "./connection.js"
import type { SqliteEvents } from "./events.js"
import type { SqliteFamilies } from "./families.js"

/** The writes of a group commit, each guarded, and the job's log lines. */
export const prepareWrites = (
  db: Database.Database,
  deps: { readonly events: SqliteEvents; readonly families: SqliteFamilies },
) => {
  const { events, families } = deps
  const insertLog = db.prepare(/* sql */ `INSERT INTO job_logs (job_id, at, level, message) VALUES (?, ?, ?, ?)`)
  // The one write of a lifecycle transition. OR IGNORE: a retry whose unique key another live
  // job took meanwhile is refused, not an error.
  const transition = db.prepare(
    /* sql */ `UPDATE OR IGNORE jobs SET ${transitionSet(sqliteRefs)} WHERE ${expectGuard(sqliteRefs)}`,
  )
  const checkpoint = db.prepare(
    /* sql */ `UPDATE jobs SET ${checkpointSet(sqliteRefs)} WHERE id = @id AND status = 'running' AND owner = @owner`,
  )
  const progress = db.prepare(
    /* sql */ `UPDATE jobs SET ${progressSet(sqliteRefs)} WHERE id = @id AND status = 'running' AND owner = @owner AND @has_progress`,
  )

  const log = (jobId: string, at: string, level: LogLevel, message: string): void =>
    void insertLog.run(jobId, at, level, message)

  /** Applies one write; whether its guard held. A log line is always written. */
  const apply = (w: JobWrite): boolean => {
    switch (w.kind) {
      case "transition": {
        const applied = transition.run(bindable(transitionValues(w))).changes > 0
        if (applied) families.settle(w.id, w.lifecycle, w.parentId, w.at)
        if (applied && w.log !== undefined) log(w.id, w.at, w.log.level, w.log.message)
        if (applied && w.event !== undefined) {
          if (w.progress !== undefined)
            events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
          events.record(w.id, w.event, "status", statusBody(w.lifecycle.status), w.at)
          if (w.log !== undefined) events.record(w.id, w.event, "log", logBody(w.log.level, w.log.message), w.at)
        }
        return applied
      }
      case "checkpoint": {
        const applied = checkpoint.run(bindable(checkpointValues(w))).changes > 0
        if (applied && w.event !== undefined && w.progress !== undefined)
          events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
        return applied
      }
      case "progress": {
        const applied = progress.run(bindable(progressWriteValues(w))).changes > 0
        if (applied && w.event !== undefined)
          events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
        return applied
      }
      case "log":
        log(w.id, w.at, w.level, w.message)
        if (w.event !== undefined) events.record(w.id, w.event, "log", logBody(w.level, w.message), w.at)
        return true
    }
  }

  return { apply, log }
}

export type SqliteWrites = ReturnType<typeof prepareWrites>
