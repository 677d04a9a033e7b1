import type { JobWrite } from "../persistence/JobStore.js"

/** One write queued for the next group commit, with what to do once it is decided. */
export interface PendingWrite {
  readonly write: JobWrite
  /** Committed, and its guard held. */
  readonly committed?: () => void
  /** Committed, but its guard did not hold: the row had moved on (another owner, say). */
  readonly refused?: () => void
  /** The whole commit failed. */
  readonly failed?: (error: unknown) => void
  /** The write moves a live job out of `running`: its slot is free for the same commit's claims. */
  readonly releasesSlot?: boolean
}

/**
 * The writes made during one turn of the event loop, committed together. Taking the batch
 * empties it; writes queued while a commit is in flight go into the next one.
 */
export class WriteBatch {
  private writes: PendingWrite[] = []

  get size() {
    return this.writes.length
  }

  add(write: PendingWrite) {
    this.writes.push(write)
  }

  take(): PendingWrite[] {
    const taken = this.writes
    this.writes = []
    return taken
  }

  /** Settles each write by the commit's answer. */
  static settle(writes: ReadonlyArray<PendingWrite>, applied: ReadonlyArray<boolean>) {
    writes.forEach((w, i) => (applied[i] ? w.committed?.() : w.refused?.()))
  }
}
