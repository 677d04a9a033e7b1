import type { JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"

/** What a handle reads through; implemented by `JobManager`. */
export interface JobHandleSource {
  statusOf(id: string): Promise<JobStatus>
  progressOf(id: string): AsyncIterable<Progress<unknown>>
  resultOf(id: string): Promise<unknown>
}

/** A dispatched job, typed by its output and structured progress. */
export class JobHandle<O = unknown, Pr = unknown> {
  constructor(
    readonly id: string,
    readonly name: string,
    private readonly source: JobHandleSource,
  ) {}

  /** The job's current status. */
  status(): Promise<JobStatus> {
    return this.source.statusOf(this.id)
  }

  /**
   * The job's progress as it is reported, ending when the job ends. A slow reader gets the
   * latest value, not a backlog.
   */
  get progress(): AsyncIterable<Progress<Pr>> {
    return this.source.progressOf(this.id) as AsyncIterable<Progress<Pr>>
  }

  /**
   * The output, once the job's completion is committed. Rejects with `JobFailed` (carrying the
   * stored error) or `JobCancelled`; a paused job keeps it pending until it is resumed and ends.
   */
  result(): Promise<O> {
    return this.source.resultOf(this.id) as Promise<O>
  }
}
