import type { JobStatus } from "../jobs/JobStatus.js"
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
