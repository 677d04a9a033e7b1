import type { JobInfo, JobLogLine } from "../actors/JobInfo.js"
import type { JobStatus } from "../jobs/JobStatus.js"

/** A status a job entered, and when (the same `at` as the status event its transition sent). */
export interface HistoryStep {
  readonly status: JobStatus
  readonly at: string
}

const BY_COMMAND = String.raw`(?: while \w+| \(its manager had stopped\))?`

/**
 * The lines the engine writes with a transition, in the same commit and with the same `at`, and
 * the status each one records. Only the engine's own wording at its own level counts, so a job's
 * own log lines do not move its path (test/ui/jobHistory.test.ts drives every transition through
 * a real manager and fails if this list and the engine's wording part).
 */
const TRANSITION_LINES: ReadonlyArray<{
  readonly level: JobLogLine["level"]
  readonly pattern: RegExp
  readonly status: (m: RegExpExecArray) => JobStatus
}> = [
  // The engine's, as a job leaves running (JobEngine's lifecycleLine) or starts again.
  { level: "warn", pattern: /^attempt failed: /, status: () => "queued" },
  { level: "info", pattern: /^resumed from checkpoint \d+ \(attempt \d+\)$/, status: () => "running" },
  {
    level: "info",
    pattern: /^paused by (?:a user|its manager's shutdown) after checkpoint \d+$/,
    status: () => "paused",
  },
  { level: "info", pattern: /^cancelled after checkpoint \d+$/, status: () => "cancelled" },
  // A parent that awaits its children goes back in line (queued.children) until the last one ends.
  { level: "info", pattern: /^waiting for its children, after checkpoint \d+$/, status: () => "queued" },
  // A command written to a job no live manager runs (remoteCommand's): `… while <status>`, or
  // `… (its manager had stopped)` for a stalled one.
  { level: "info", pattern: new RegExp(`^paused (?:by a user|with its parent)${BY_COMMAND}$`), status: () => "paused" },
  { level: "info", pattern: new RegExp(`^cancelled by a user${BY_COMMAND}$`), status: () => "cancelled" },
  {
    level: "info",
    pattern: new RegExp(`^(?:resumed|put back in line) by a user${BY_COMMAND}$`),
    status: () => "queued",
  },
  {
    level: "info",
    pattern: /^(queued|paused|cancelled) \(its manager had stopped\)$/,
    status: (m) => m[1] as JobStatus,
  },
  // Recovery's, when a manager opens on jobs a dead one left.
  { level: "info", pattern: /^recovered \(.*\); (queued|paused|cancelled)\b/, status: (m) => m[1] as JobStatus },
  { level: "error", pattern: /^failed(?: on recovery)?: /, status: () => "failed" },
]

const statusOfLine = (line: JobLogLine): JobStatus | undefined => {
  for (const t of TRANSITION_LINES) {
    if (t.level !== line.level) continue
    const m = t.pattern.exec(line.message)
    if (m !== null) return t.status(m)
  }
  return undefined
}

/**
 * The statuses a job went through, oldest first, from what is stored: its dispatch, the
 * transition lines of its log (in commit order), its first start (`startedAt`: a start after the
 * first writes a line of its own, `resumed from checkpoint`), its end (a completion writes no
 * line but sets `completedAt`). The page adds the status events it hears after this, by `at`.
 */
export const jobHistory = (job: JobInfo, logs: ReadonlyArray<JobLogLine>): HistoryStep[] => {
  const steps: HistoryStep[] = [{ status: "queued", at: job.createdAt }]
  for (const line of logs) {
    const status = statusOfLine(line)
    if (status !== undefined) steps.push({ status, at: line.at })
  }
  if (job.startedAt !== null) insertStart(steps, job.startedAt)
  if (job.status === "completed" && job.completedAt !== null) steps.push({ status: "completed", at: job.completedAt })
  // A status whose line is not written yet (a restart's line follows its commit): the newest.
  const last = steps[steps.length - 1]!
  if (last.status !== job.status) steps.push({ status: job.status, at: last.at })
  return collapse(steps)
}

/**
 * The first start, among the lines by its time. A line of the same millisecond that put the job
 * in line (a retry, a resume) came before it; one that took it out of running came after.
 */
const insertStart = (steps: HistoryStep[], at: string) => {
  const i = steps.findIndex((s, i) => i > 0 && (s.at > at || (s.at === at && s.status !== "queued")))
  steps.splice(i === -1 ? steps.length : i, 0, { status: "running", at })
}

/** Consecutive steps of the same status are one (a restart's event and its line, a moment apart). */
const collapse = (steps: ReadonlyArray<HistoryStep>): HistoryStep[] =>
  steps.filter((s, i) => i === 0 || steps[i - 1]!.status !== s.status)
