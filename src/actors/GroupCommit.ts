import type { ClaimRequest, CommitResult, JobStore, JobWrite } from "../persistence/JobStore.js"
import { isStoreFailure } from "../persistence/storeFailure.js"
import type { Clock, ClockTimer } from "./clock.js"
import type { StoreHealth } from "./StoreHealth.js"
import { WriteBatch, type PendingWrite } from "./WriteBatch.js"

/**
 * How long to wait before each retry of a commit that failed for the store's sake; the last
 * wait repeats for as long as the store fails (a running manager outlives an outage of any
 * length). A closing manager tries these three times, then gives up (the engine's `unrecorded`).
 */
const COMMIT_RETRY_DELAYS_MS = [50, 250, 1_000]

/** A claim to make in a commit, and what becomes of it: `ClaimTry` decides its rows. */
export interface ClaimRound {
  readonly request: ClaimRequest
  /** A try failed and the commit is tried again: what the failed try decided is forgotten. */
  retry(): void
  /** The commit landed: before the writes' own callbacks run (what the claim found of the queue). */
  committed(result: CommitResult): void
  /** After them: the claimed jobs start. */
  start(result: CommitResult): void
}

/** What the group commit asks of its engine. */
export interface CommitHooks {
  /** The claim this commit makes, given the writes it carries (an end frees a slot), if any. */
  claimRound(writes: ReadonlyArray<PendingWrite>): ClaimRound | undefined
  /** The manager is closing: a failing commit is given up after a few tries. */
  closing(): boolean
  /** The earliest waiting job is due. */
  due(): void
}

/**
 * The group commit: every write queued during one turn of the event loop (transitions,
 * checkpoints, progress, logs), with a claim for the free slots, goes to the store in one
 * commit; one commit is in flight at a time, and what is queued meanwhile goes in the next.
 * A commit that fails for the store's sake is tried again (every write is guarded, so a second
 * try changes nothing the first did). It also keeps the one timer for the earliest waiting job.
 */
export class GroupCommit {
  private readonly batch = new WriteBatch()
  private tickScheduled = false
  private committing = false
  /** Something asked for a commit while one was in flight: run another right after it. */
  private wakeAfterCommit = false
  /** Set once the store is about to close: a tick still scheduled does nothing. */
  private stopped = false
  /** The wait between two tries of a failing commit, cut short by `hurry`. */
  private retryWait: { readonly timer: NodeJS.Timeout; readonly wake: () => void } | undefined
  /** One timer for the earliest waiting job (a delay, a retry's backoff): no poll per job. */
  private dueTimer: { readonly at: number; readonly timer: ClockTimer } | undefined

  constructor(
    private readonly store: JobStore,
    private readonly health: StoreHealth,
    private readonly clock: Clock,
    private readonly now: () => number,
    private readonly hooks: CommitHooks,
    /** Counted per commit, for tests and benchmarks. */
    private readonly stats: { transactions: number },
  ) {}

  /** Queues a write for the next commit. */
  add(write: PendingWrite) {
    this.batch.add(write)
    this.wake()
  }

  /** Asks for a commit at the next turn of the event loop (one at a time). */
  wake() {
    if (this.committing) {
      this.wakeAfterCommit = true
      return
    }
    if (this.tickScheduled) return
    this.tickScheduled = true
    setImmediate(() => void this.tick())
  }

  /** Sets the one timer for the earliest waiting job, unless an earlier one is set. */
  wakeAt(at: number | null) {
    if (at === null || this.stopped) return
    if (this.dueTimer !== undefined && this.dueTimer.at <= at && this.dueTimer.at > this.now()) return
    this.clock.clearTimeout(this.dueTimer?.timer)
    const timer = this.clock.setTimeout(
      () => {
        this.dueTimer = undefined
        this.hooks.due()
      },
      Math.max(0, at - this.now()),
    )
    this.dueTimer = { at, timer }
  }

  /** Takes back the queued writes that `which` picks (they will not be sent); the others stay. */
  withdraw(which: (write: PendingWrite) => boolean): PendingWrite[] {
    const taken: PendingWrite[] = []
    for (const w of this.batch.take()) {
      if (which(w)) taken.push(w)
      else this.batch.add(w)
    }
    return taken
  }

  /** A commit waiting to try again tries now (the manager is closing). */
  hurry() {
    this.retryWait?.wake()
  }

  /** Waits for the commit in flight, commits what is left, then takes no more. */
  async flush(): Promise<void> {
    while (this.committing) await new Promise((r) => setImmediate(r))
    if (this.batch.size > 0) await this.tick()
    this.stopped = true
  }

  /** Takes no more commits; with `discard`, what is queued is dropped (a crash). */
  stop(discard = false) {
    this.stopped = true
    this.hurry()
    this.clock.clearTimeout(this.dueTimer?.timer)
    if (discard) this.batch.take()
  }

  /** Writes in hand: a commit in flight, or one asked for. */
  get busy(): boolean {
    return this.committing || this.tickScheduled || this.batch.size > 0
  }

  /** Commits pending writes and claims queued jobs for the free slots, in one commit. */
  private async tick() {
    this.tickScheduled = false
    if (this.stopped || this.committing) return
    const writes = this.batch.take()
    const round = this.hooks.claimRound(writes)
    if (writes.length === 0 && round === undefined) return
    this.committing = true
    this.stats.transactions++
    let result: CommitResult
    try {
      result = await this.commitWithRetries(writes, round)
    } catch (error) {
      this.afterCommit()
      for (const w of writes) w.failed?.(error)
      this.health.error(error)
      return
    }
    this.afterCommit()
    round?.committed(result)
    WriteBatch.settle(writes, result.applied)
    round?.start(result)
  }

  private afterCommit() {
    this.committing = false
    if (this.wakeAfterCommit || this.batch.size > 0) {
      this.wakeAfterCommit = false
      this.wake()
    }
  }

  /**
   * Commits, retrying a commit that failed for the store's sake (a dropped connection, a lock):
   * every write is guarded, so applying one twice changes nothing, except that a transition
   * whose first try did commit is refused the second time; such a refusal is checked against
   * the row. A claim whose first try did commit leaves rows this engine owns but does not run:
   * the engine's sweep finds those (`lostOwn`) and puts them back in line.
   */
  private async commitWithRetries(
    writes: ReadonlyArray<PendingWrite>,
    round: ClaimRound | undefined,
  ): Promise<CommitResult> {
    const jobWrites = writes.map((w) => w.write)
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.store.commit(jobWrites, round?.request)
        const confirmed = attempt === 0 ? result : await this.confirmRefusals(jobWrites, result)
        this.health.ok()
        return confirmed
      } catch (error) {
        // A store failure is the store's, not the jobs': their writes wait for it. Only a
        // manager that is closing stops trying (after three tries) and leaves what it could
        // not write to the orphan rule.
        const giveUp =
          !isStoreFailure(error) || this.stopped || (this.hooks.closing() && attempt >= COMMIT_RETRY_DELAYS_MS.length)
        if (giveUp) throw error
        this.health.error(error)
        round?.retry()
        await this.waitBeforeRetry(COMMIT_RETRY_DELAYS_MS[Math.min(attempt, COMMIT_RETRY_DELAYS_MS.length - 1)]!)
      }
    }
  }

  private waitBeforeRetry(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.retryWait = undefined
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.retryWait = { timer, wake }
    })
  }

  /** A transition refused on a retry may be the first try's, committed after all: the row tells. */
  private async confirmRefusals(writes: ReadonlyArray<JobWrite>, result: CommitResult): Promise<CommitResult> {
    const applied = [...result.applied]
    for (const [i, w] of writes.entries()) {
      if (applied[i] || w.kind !== "transition") continue
      const row = await this.store.getJob(w.id)
      if (
        row !== undefined &&
        row.status === w.lifecycle.status &&
        row.owner === null &&
        row.attempts === w.lifecycle.attempts
      )
        applied[i] = true
    }
    return { ...result, applied }
  }
}
