import type Database from "better-sqlite3"
import type { LogLevel } from "../../jobs/defineJob.js"
import { logBody, progressBody, statusBody } from "../eventRows.js"
import type { JobWrite, ProgressColumns, RowExpectation } from "../JobStore.js"
import type { LifecycleRow } from "../lifecycleRow.js"
import type { SqliteEvents } from "./events.js"
import type { SqliteFamilies } from "./families.js"

export const lifecycleParams = (lc: LifecycleRow) => ({
  status: lc.status,
  snapshot: lc.snapshot,
  attempts: lc.attempts,
  paused_by: lc.pausedBy,
  error: lc.error,
  error_message: lc.errorMessage,
  terminal: lc.terminal ? 1 : 0,
  failures: lc.failures,
  last_error: lc.lastError,
  run_at: lc.runAt,
  awaiting_children: lc.awaitingChildren ? 1 : 0,
})

const progressParams = (p: ProgressColumns | undefined) =>
  p === undefined ? { has_progress: 0, progress: null, progress_data: null } : { has_progress: 1, progress: p.progress, progress_data: p.progressData }

export const expectation = (e: RowExpectation) => ({ expect_status: e.status, expect_owner: e.owner, expect_attempts: e.attempts ?? null })

/** The writes of a group commit, each guarded, and the job's log lines. */
export const prepareWrites = (db: Database.Database, deps: { readonly events: SqliteEvents; readonly families: SqliteFamilies }) => {
  const { events, families } = deps
  const insertLog = db.prepare(/* sql */ `INSERT INTO job_logs (job_id, at, level, message) VALUES (?, ?, ?, ?)`)
  // The one write of a lifecycle transition; `terminal` and `has_progress` are 0 or 1. OR IGNORE:
  // a retry whose unique key another live job took meanwhile is refused, not an error.
  const transition = db.prepare(/* sql */ `
    UPDATE OR IGNORE jobs SET status = @status, snapshot = @snapshot, attempts = @attempts, paused_by = @paused_by,
      error = @error, error_message = @error_message, failures = @failures, last_error = @last_error, run_at = @run_at,
      awaiting_children = @awaiting_children, completed_at = CASE WHEN @terminal THEN @at ELSE NULL END,
      owner = NULL, request = NULL, output = COALESCE(@output, output),
      progress = CASE WHEN @has_progress THEN @progress ELSE progress END,
      progress_data = CASE WHEN @has_progress THEN @progress_data ELSE progress_data END,
      updated_at = @at
    WHERE id = @id AND status = @expect_status AND owner IS @expect_owner
      -- A takeover names the attempt it ends: a later attempt of the same owner is not it.
      AND (@expect_attempts IS NULL OR attempts = @expect_attempts)`)
  const checkpoint = db.prepare(/* sql */ `
    UPDATE jobs SET data = @data, snapshot = @snapshot, state_version = @state_version, last_checkpoint = @at,
      progress = CASE WHEN @has_progress THEN @progress ELSE progress END,
      progress_data = CASE WHEN @has_progress THEN @progress_data ELSE progress_data END,
      updated_at = @at
    WHERE id = @id AND status = 'running' AND owner = @owner`)
  const progress = db.prepare(/* sql */ `
    UPDATE jobs SET progress = @progress, progress_data = @progress_data, updated_at = @at
    WHERE id = @id AND status = 'running' AND owner = @owner AND @has_progress`)

  const log = (jobId: string, at: string, level: LogLevel, message: string): void => void insertLog.run(jobId, at, level, message)

  /** Applies one write; whether its guard held. A log line is always written. */
  const apply = (w: JobWrite): boolean => {
    switch (w.kind) {
      case "transition": {
        const applied =
          transition.run({ id: w.id, ...lifecycleParams(w.lifecycle), output: w.output ?? null, ...progressParams(w.progress), at: w.at, ...expectation(w.expect) })
            .changes > 0
        if (applied) families.settle(w.id, w.lifecycle, w.parentId)
        if (applied && w.log !== undefined) log(w.id, w.at, w.log.level, w.log.message)
        if (applied && w.event !== undefined) {
          if (w.progress !== undefined) events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
          events.record(w.id, w.event, "status", statusBody(w.lifecycle.status), w.at)
          if (w.log !== undefined) events.record(w.id, w.event, "log", logBody(w.log.level, w.log.message), w.at)
        }
        return applied
      }
      case "checkpoint": {
        const applied =
          checkpoint.run({ id: w.id, owner: w.owner, data: w.data, snapshot: w.snapshot, state_version: w.stateVersion, ...progressParams(w.progress), at: w.at })
            .changes > 0
        if (applied && w.event !== undefined && w.progress !== undefined) events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
        return applied
      }
      case "progress": {
        const applied = progress.run({ id: w.id, owner: w.owner, ...progressParams(w.progress), at: w.at }).changes > 0
        if (applied && w.event !== undefined) events.record(w.id, w.event, "progress", progressBody(w.progress.progressData), w.at)
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
