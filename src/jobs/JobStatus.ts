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

/**
 * The statuses of a live job: it holds its unique key, its parent waits for it, a cancel
 * reaches it. The statuses sets are decided here; SQL is built from them (`persistence/sqlStatuses`).
 */
export const liveStatuses = [JobStatus.Queued, JobStatus.Running, JobStatus.Paused] as const
export type LiveStatus = (typeof liveStatuses)[number]

export const isLiveStatus = (s: unknown): s is LiveStatus => (liveStatuses as ReadonlyArray<unknown>).includes(s)

/** The statuses a job rests in: it leaves them only by a retry. Only these may be pruned. */
export const restingStatuses = [JobStatus.Completed, JobStatus.Failed, JobStatus.Cancelled] as const
export type RestingStatus = (typeof restingStatuses)[number]

export const isRestingStatus = (s: unknown): s is RestingStatus =>
  (restingStatuses as ReadonlyArray<unknown>).includes(s)

/** Statuses a job never leaves on its own (a retry starts it again). */
export const isTerminalStatus = (s: JobStatus): boolean => isRestingStatus(s)

export const isJobStatus = (s: unknown): s is JobStatus => jobStatuses.includes(s as JobStatus)
