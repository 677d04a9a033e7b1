import type { JobStatus } from "../jobs/JobStatus.js"
import type { LogLevel } from "../jobs/defineJob.js"
import type { Progress } from "../jobs/Progress.js"

/** What a handle hears about one job. */
export type JobEvent =
  | { readonly type: "status"; readonly status: JobStatus }
  | { readonly type: "progress"; readonly progress: Progress<unknown> }
  /** A checkpoint committed: its number (the job's checkpoint count after it). */
  | { readonly type: "checkpoint"; readonly checkpoint: number }
  /** The write that would have recorded the job's end failed; the store still says `running`. */
  | { readonly type: "unrecorded"; readonly error: unknown }

/** Listeners per job id: only jobs someone follows cost anything. */
export class JobEvents {
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>()

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    let set = this.listeners.get(id)
    if (set === undefined) this.listeners.set(id, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.listeners.delete(id)
    }
  }

  emit(id: string, event: JobEvent) {
    const set = this.listeners.get(id)
    if (set !== undefined) for (const l of [...set]) l(event)
  }
}

/**
 * What `manager.events` yields: a job's status change, progress or log line, with the job's
 * id and type, when it happened (`at`, ISO 8601, the time stored with the change) and the
 * manager that made it (`manager`: this one's id for its own jobs and commands).
 */
export type ManagerEvent =
  | {
      readonly type: "status"
      readonly id: string
      readonly name: string
      readonly status: JobStatus
      readonly at: string
      readonly manager: string | null
    }
  | {
      readonly type: "progress"
      readonly id: string
      readonly name: string
      readonly progress: Progress<unknown>
      readonly at: string
      readonly manager: string | null
    }
  | {
      readonly type: "log"
      readonly id: string
      readonly name: string
      readonly level: LogLevel
      readonly message: string
      readonly at: string
      readonly manager: string | null
    }

/** Listeners of every job's events (`manager.events`); empty, it costs one check per event. */
export class ManagerEventListeners {
  private readonly listeners = new Set<(event: ManagerEvent) => void>()

  get active(): boolean {
    return this.listeners.size > 0
  }

  subscribe(listener: (event: ManagerEvent) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  emit(event: ManagerEvent) {
    for (const l of this.listeners) l(event)
  }
}
