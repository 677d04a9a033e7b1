import type { StoredError } from "../jobs/errors.js"
import { isJobStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import type { DbJob } from "../persistence/SqliteJobStore.js"

/** What `getJobInfo` / `listJobs` return about a job. */
export interface JobInfo {
  readonly id: string
  readonly name: string
  readonly status: JobStatus
  readonly priority: number
  /** 0..1 when the last progress had a fraction. */
  readonly progress: number | null
  readonly progressData: Progress<unknown> | null
  /** The schema-encoded output (JSON), when completed. */
  readonly output: unknown
  readonly error: StoredError | null
  readonly attempts: number
  /** Checkpoints written. */
  readonly stateVersion: number
  readonly pausedBy: "user" | "shutdown" | null
  readonly createdAt: string
  readonly startedAt: string | null
  readonly completedAt: string | null
  readonly lastCheckpoint: string | null
}

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

export const toJobInfo = (row: DbJob): JobInfo => ({
  id: row.id,
  name: row.name,
  // A damaged status is reported as failed; recovery marks such rows failed on open.
  status: isJobStatus(row.status) ? row.status : "failed",
  priority: row.priority,
  progress: row.progress,
  progressData: parse(row.progress_data) as Progress<unknown> | null,
  output: parse(row.output),
  error: parse(row.error) as StoredError | null,
  attempts: row.attempts,
  stateVersion: row.state_version,
  pausedBy: row.paused_by === "user" || row.paused_by === "shutdown" ? row.paused_by : null,
  createdAt: row.created_at,
  startedAt: row.started_at,
  completedAt: row.completed_at,
  lastCheckpoint: row.last_checkpoint,
})
