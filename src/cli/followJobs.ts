import type { JobInfo } from "../actors/JobInfo.js"
import type { JobManager } from "../actors/JobManager.js"
import { isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import type { ProgressView } from "./render.js"

const currentStatus = (manager: JobManager, id: string): Promise<JobStatus | undefined> =>
  // Removed meanwhile: the poll reports it.
  manager.statusOf(id).catch(() => undefined)

export interface FollowedJob {
  readonly id: string
  readonly label: string
}

export interface Following {
  /** Every job's info once all of them have ended (or at `stop()`). */
  readonly done: Promise<ReadonlyMap<string, JobInfo>>
  stop(): void
}

/**
 * Shows jobs of this manager's data dir until each ends. Progress comes from the handles, so
 * bars move as the job reports; status comes from polling the row, because a job may be
 * finished by another process's manager (a worker that claimed it after a resume), whose
 * events this process never hears.
 */
export const followJobs = (
  manager: JobManager,
  jobs: ReadonlyArray<FollowedJob>,
  view: ProgressView,
  options: {
    readonly pollMs?: number
    readonly onProgress?: (id: string, progress: Progress<unknown>) => void
    readonly onStatus?: (info: JobInfo, previous: JobStatus | undefined) => void
  } = {},
): Following => {
  const latest = new Map<string, JobInfo>()
  const status = new Map<string, JobStatus>()
  let stopped = false
  let finish: () => void = () => {}
  const done = new Promise<ReadonlyMap<string, JobInfo>>((resolve) => (finish = () => resolve(latest)))
  const iterators: Array<AsyncIterator<Progress<unknown>>> = []

  for (const job of jobs) {
    const iterator = manager.progressOf(job.id)[Symbol.asyncIterator]()
    iterators.push(iterator)
    void (async () => {
      for (;;) {
        const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }))
        if (next.done || stopped) return
        options.onProgress?.(job.id, next.value)
        // The status shown with new progress is the job's own, read now (its actor's, when this
        // manager runs it): the last poll's may be older than the progress ("38% [queued]").
        const current = (await currentStatus(manager, job.id)) ?? status.get(job.id)
        if (current !== undefined && !isTerminalStatus(current)) view.update(job.id, job.label, current, next.value)
      }
    })()
  }

  const poll = async () => {
    while (!stopped) {
      for (const job of jobs) {
        const previous = status.get(job.id)
        if (previous !== undefined && isTerminalStatus(previous)) continue
        const info = await manager.getJobInfo(job.id)
        latest.set(job.id, info)
        status.set(job.id, info.status)
        if (info.status !== previous) options.onStatus?.(info, previous)
        // A finished job's bar stays, showing how it ended.
        view.update(job.id, job.label, info.status, info.progressData)
      }
      if (jobs.every((job) => isTerminalStatus(status.get(job.id) ?? "queued"))) break
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200))
    }
    stopped = true
    for (const iterator of iterators) void iterator.return?.()
    finish()
  }

  const polling = poll()
  return {
    done: polling.then(() => done),
    stop() {
      stopped = true
    },
  }
}
