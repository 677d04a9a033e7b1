/** The six statuses of a job. The lifecycle machine's top-level states carry these names. */
export const JobStatus = {
  Queued: "queued",
  Running: "running",
  Paused: "paused",
  Completed: "completed",
  Failed: "failed",
  Cancelled: "cancelled",
} as const

export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus]

export const jobStatuses: ReadonlyArray<JobStatus> = Object.values(JobStatus)

/** Statuses a job never leaves. */
export const isTerminalStatus = (s: JobStatus): boolean =>
  s === JobStatus.Completed || s === JobStatus.Failed || s === JobStatus.Cancelled

export const isJobStatus = (s: unknown): s is JobStatus => jobStatuses.includes(s as JobStatus)
