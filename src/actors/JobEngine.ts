import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { createActor, type InspectionEvent, type Observer } from "xstate"
import type { JobDefinition, LogLevel } from "../jobs/defineJob.js"
import { InvalidTransition, JobInterrupted, ManagerClosed, PersistenceError } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import { Progress } from "../jobs/Progress.js"
import { jobLifecycleMachine, type JobLifecycleEvent, type JobLifecycleSnapshot } from "../machines/jobLifecycleMachine.js"
import { encodeWith, packWith, unpackWith } from "../persistence/codec.js"
import type { ClaimRow, DbJob, JobUpdate, SqliteJobStore } from "../persistence/SqliteJobStore.js"
import { decodeLifecycle, encodeLifecycle, startedSnapshot, statusOf } from "./lifecycle.js"
import { LiveJob, type StatusWaiter } from "./LiveJob.js"
import { makeRunJobWorker, type JobHost } from "./runJobWorker.js"
import { JobEvents, type JobEvent } from "./JobEvents.js"
import { errorFields, failedRowFields } from "./failedRow.js"
import { commandThroughStore } from "./remoteCommand.js"

export interface EngineOptions {
  readonly dataDir: string
  readonly concurrency: number
  readonly progressThrottleMs: number
  readonly interruptGraceMs: number
  readonly inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined
  readonly now: () => number
  readonly managerId: string
}

const MAX_CLAIMS_PER_TICK = 32

const lostOwnership = (id: string) =>
  new PersistenceError({
    operation: "write",
    reason: "Write",
    detail: `job ${id} is no longer running under this manager (its lease expired and another manager took it over)`,
  })

/** One write queued for the next tick's transaction. */
interface PendingWrite {
  /** Returns an error when this write alone could not be made (the others still commit). */
  readonly apply: () => PersistenceError | void
  readonly committed?: () => void
  readonly failed?: (error: unknown) => void
  /** The write moves a live job out of `running`: its slot is free for this tick's claims. */
  readonly releasesSlot?: boolean
}

/**
 * The engine behind `JobManager`: live jobs and their slots, the claim/write tick, and the
 * lifecycle events applied to jobs with or without a live actor.
 *
 * Writes from all jobs are grouped: everything queued during one event-loop turn (transitions,
 * checkpoints, progress, logs) is applied in one transaction at the next `setImmediate`, and
 * the same transaction claims queued jobs for the slots that are free. Promises that depend on
 * a write (checkpoint, pause, result) settle only after that transaction commits.
 */
export class JobEngine implements JobHost {
  readonly live = new Map<string, LiveJob>()
  private readonly events = new JobEvents()
  private readonly machine
  private pending: PendingWrite[] = []
  private tickScheduled = false
  /** False once a claim found fewer queued jobs than free slots; set again by anything that queues. */
  private maybeQueued = true
  private accepting = true
  /** Set once the store is about to close: a tick still scheduled does nothing. */
  private stopped = false
  /** Writes by kind, for tests and benchmarks. */
  readonly stats = { transactions: 0, progressWrites: 0, checkpoints: 0, claims: 0 }

  constructor(
    readonly store: SqliteJobStore,
    readonly registry: JobRegistry,
    readonly options: EngineOptions,
    private readonly onError: (error: unknown) => void,
  ) {
    this.owned = { status: "running", owner: options.managerId }
    this.machine = jobLifecycleMachine.provide({
      actors: { runJob: makeRunJobWorker(this) },
      delays: { interruptGrace: options.interruptGraceMs },
    })
  }

  /** The guard of every write a live job makes: still running, still ours. */
  private readonly owned: { readonly status: "running"; readonly owner: string }

  private isoCache = { ms: Number.NaN, text: "" }

  /** Now as ISO 8601; formatted once per millisecond, since a busy tick asks for it per job. */
  iso(): string {
    const ms = this.options.now()
    if (ms !== this.isoCache.ms) this.isoCache = { ms, text: new Date(ms).toISOString() }
    return this.isoCache.text
  }

  // ---------------------------------------------------------------- the tick

  /** Asks for a tick at the next turn of the event loop (one at a time). */
  wake(queued = false) {
    if (queued) this.maybeQueued = true
    if (this.tickScheduled) return
    this.tickScheduled = true
    setImmediate(() => this.tick())
  }

  private enqueue(write: PendingWrite) {
    this.pending.push(write)
    this.wake()
  }

  private enqueueAwaited(apply: PendingWrite["apply"]): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ apply, committed: resolve, failed: reject }))
  }

  /** Applies pending writes and claims queued jobs, in one transaction. */
  tick() {
    this.tickScheduled = false
    if (this.stopped) return
    const writes = this.pending
    this.pending = []
    // Filled as jobs start, so a transaction that fails after some started can undo them all.
    const started: LiveJob[] = []
    const refusals = new Map<number, PersistenceError>()
    try {
      this.stats.transactions++
      this.store.transaction("tick", () => {
        let released = 0
        writes.forEach((w, i) => {
          const refused = w.apply()
          if (refused !== undefined) refusals.set(i, refused)
          if (w.releasesSlot) released++
        })
        this.claim(released, started)
      })
    } catch (error) {
      for (const job of started) this.abandon(job)
      for (const w of writes) w.failed?.(error)
      this.onError(error)
      return
    }
    writes.forEach((w, i) => {
      const refused = refusals.get(i)
      if (refused === undefined) w.committed?.()
      else w.failed?.(refused)
    })
  }

  private claim(released: number, started: LiveJob[]) {
    // Capped per tick, so a large concurrency fills up over a few turns instead of one long stall.
    const free = Math.min(this.options.concurrency - this.live.size + released, MAX_CLAIMS_PER_TICK)
    if (free <= 0 || !this.maybeQueued || !this.accepting) return
    const rows = this.store.nextQueued(free)
    if (rows.length < free) this.maybeQueued = false
    else if (this.options.concurrency - this.live.size + released > free) this.wake()
    for (const row of rows) {
      const job = this.start(row)
      if (job !== undefined) {
        started.push(job)
        this.stats.claims++
      }
    }
  }

  /** Builds the live job from its row and starts its actor; inside the claim transaction. */
  private start(row: ClaimRow): LiveJob | undefined {
    let job: LiveJob | undefined
    try {
      const definition = this.definitionOf(row)
      const persisted = decodeLifecycle(row.snapshot, row.id)
      const params = unpackWith(definition.params, row.params, `params of job ${row.id}`)
      const state = unpackWith(definition.state, row.data, `state of job ${row.id}`)
      job = new LiveJob(row.id, definition, params, state, row.state_version)
      // Restoring straight into the running snapshot starts the worker as START would.
      const started = startedSnapshot(persisted, row.id)
      const actor = createActor(this.machine, { snapshot: started ?? persisted, input: { jobId: row.id }, inspect: this.options.inspect })
      if (actor.getSnapshot().status === "error") throw actor.getSnapshot().error
      job.actor = actor
      this.live.set(row.id, job)
      const live = job
      actor.subscribe({ next: (s) => this.onSnapshot(live, s), error: (e) => this.onError(e) })
      actor.start()
      if (started === undefined) actor.send({ type: "START" })
      const snapshot = actor.getSnapshot()
      const now = this.iso()
      if (statusOf(snapshot.value) !== "running") throw new Error(`the lifecycle machine did not start it (state ${JSON.stringify(snapshot.value)})`)
      const claimed = this.store.updateJob(
        row.id,
        {
          status: "running",
          snapshot: encodeLifecycle(started ?? actor.getPersistedSnapshot()),
          attempts: snapshot.context.attempt,
          owner: this.options.managerId,
          started_at: row.started_at ?? now,
          request: null,
        },
        now,
        { status: "queued" },
      )
      if (!claimed) {
        // Another manager took it between our read and write.
        this.abandon(job)
        return undefined
      }
      this.emit(row.id, { type: "status", status: "running" })
      return job
    } catch (error) {
      if (job !== undefined) this.abandon(job)
      // The store failing is no fault of the job: fail the tick, and the claim is retried.
      if (error instanceof PersistenceError) throw error
      this.failRow(row, error)
      return undefined
    }
  }

  /** Drops a live job without writing anything (its claim did not commit). */
  private abandon(job: LiveJob) {
    job.finished = true
    this.live.delete(job.id)
    job.actor?.stop()
  }

  // ---------------------------------------------------------------- live transitions

  private onSnapshot(job: LiveJob, snapshot: JobLifecycleSnapshot) {
    const status = statusOf(snapshot.value)
    if (status === "running" || job.leaving) return
    // The job left `running` (paused, completed, failed, cancelled): one write records it all.
    job.leaving = true
    job.finished = true
    clearTimeout(job.progressTimer)
    const now = this.iso()
    const fields: JobUpdate = {
      status,
      snapshot: encodeLifecycle(job.actor.getPersistedSnapshot()),
      owner: null,
      paused_by: status === "paused" ? snapshot.context.pausedBy : null,
      ...this.progressFields(job),
      ...(isTerminalStatus(status) ? { completed_at: now } : {}),
      ...(status === "completed" ? { output: job.outputJson } : {}),
      ...(status === "failed" ? errorFields(snapshot.context.error) : {}),
    }
    this.enqueue({
      apply: () => {
        if (!this.store.updateJob(job.id, fields, now, this.owned)) return lostOwnership(job.id)
      },
      releasesSlot: true,
      committed: () => this.settleLive(job, status),
      failed: (error) => this.unrecorded(job, error),
    })
  }

  private progressFields(job: LiveJob): JobUpdate {
    const p = job.latestProgress
    if (p === null || !job.progressDirty) return {}
    job.progressDirty = false
    return { progress: Progress.fraction(p), progress_data: JSON.stringify(p) }
  }

  /** After the write that took a job out of `running` committed. */
  private settleLive(job: LiveJob, status: JobStatus) {
    this.live.delete(job.id)
    job.actor.stop()
    this.emit(job.id, { type: "status", status })
    this.settleWaiters(job.waiters, status)
    this.wake()
  }

  /**
   * The write that would record the job's end failed (disk full, say). Nothing claims it ended:
   * the store still says `running`, and recovery resumes it from its last checkpoint on the
   * next open, or when another manager finds this one's lease expired.
   */
  private unrecorded(job: LiveJob, error: unknown) {
    this.live.delete(job.id)
    job.actor.stop()
    for (const w of job.waiters.splice(0)) w.reject(error)
    this.emit(job.id, { type: "unrecorded", error })
  }

  private settleWaiters(waiters: StatusWaiter[], status: JobStatus) {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!
      if (w.until(status)) {
        waiters.splice(i, 1)
        w.resolve(status)
      }
    }
  }

  // ---------------------------------------------------------------- JobHost: calls from running jobs

  liveJob(jobId: string) {
    return this.live.get(jobId)
  }

  checkpoint(job: LiveJob, state: unknown): Promise<void> {
    if (job.finished) return Promise.reject(new JobInterrupted({ reason: job.interruptReason ?? "cancel" }))
    let data: Buffer
    try {
      data = packWith(job.definition.state, state, `state of job ${job.id}`)
    } catch (error) {
      return Promise.reject(error)
    }
    job.state = state
    job.stateVersion++
    this.stats.checkpoints++
    const now = this.iso()
    const fields: JobUpdate = {
      data,
      status: "running",
      snapshot: job.encodedSnapshot(),
      state_version: job.stateVersion,
      last_checkpoint: now,
      ...this.progressFields(job),
    }
    return this.enqueueAwaited(() => {
      if (!this.store.updateJob(job.id, fields, now, this.owned)) return lostOwnership(job.id)
    })
  }

  progress(job: LiveJob, progress: Progress<unknown>) {
    if (job.finished) return
    if (progress._tag === "Structured" && job.definition.progress !== undefined) {
      encodeWith(job.definition.progress, progress.data, `progress of job ${job.id}`)
    }
    job.latestProgress = progress
    job.progressDirty = true
    this.emit(job.id, { type: "progress", progress })
    const wait = job.progressWrittenAt + this.options.progressThrottleMs - this.options.now()
    if (wait <= 0) this.writeProgress(job)
    else job.progressTimer ??= setTimeout(() => this.writeProgress(job), wait)
  }

  private writeProgress(job: LiveJob) {
    job.progressTimer = undefined
    if (job.finished || !job.progressDirty) return
    job.progressWrittenAt = this.options.now()
    const fields = this.progressFields(job)
    const now = this.iso()
    this.stats.progressWrites++
    // A progress write refused (the job moved on) or lost with a failed tick is superseded anyway.
    this.enqueue({ apply: () => void this.store.updateJob(job.id, fields, now, this.owned), failed: () => {} })
  }

  log(job: LiveJob, message: string, level: LogLevel) {
    if (job.finished) return
    const at = this.iso()
    this.enqueue({ apply: () => this.store.appendLog(job.id, at, level, message), failed: () => {} })
  }

  dataDir(job: LiveJob): string {
    const dir = join(this.options.dataDir, "jobs", job.id)
    mkdirSync(dir, { recursive: true })
    return dir
  }

  // ---------------------------------------------------------------- commands

  assertAccepting() {
    if (!this.accepting) throw new ManagerClosed()
  }

  /** Applies a user command (pause, resume, cancel) through the job's lifecycle machine. */
  command(id: string, event: Extract<JobLifecycleEvent, { type: "PAUSE" | "RESUME" | "CANCEL" }>): Promise<JobStatus> {
    const job = this.live.get(id)
    if (job !== undefined) {
      const snapshot = job.actor.getSnapshot()
      if (!snapshot.can(event)) throw new InvalidTransition({ id, event: event.type, status: statusOf(snapshot.value) })
      const until = event.type === "CANCEL" ? isTerminalStatus : (s: JobStatus) => s !== "running"
      const done = this.waitFor(job, until)
      job.actor.send(event)
      return done
    }
    // Queued, paused, finished, or running in another process: through the store.
    return commandThroughStore(this.store, id, event, { self: this.options.managerId }).then((status) => {
      this.emit(id, { type: "status", status })
      if (status === "queued") this.wake(true)
      return status
    })
  }

  private waitFor(job: LiveJob, until: (s: JobStatus) => boolean): Promise<JobStatus> {
    return new Promise((resolve, reject) => job.waiters.push({ until, resolve, reject }))
  }

  /** Marks a row failed from outside its run (unknown type, undecodable data, not resumable). */
  failRow(row: Pick<DbJob, "id" | "name" | "status" | "snapshot">, cause: unknown) {
    const now = this.iso()
    this.store.updateJob(row.id, failedRowFields(row, cause, now), now, { status: row.status })
    this.emit(row.id, { type: "status", status: "failed" })
  }

  definitionOf(row: Pick<DbJob, "name">): JobDefinition {
    return this.registry.require(row.name)
  }

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    return this.events.subscribe(id, listener)
  }

  private emit(id: string, event: JobEvent) {
    this.events.emit(id, event)
  }

  // ---------------------------------------------------------------- shutdown

  /** Stops claiming; asks every running job to pause (by shutdown) and waits until all are out. */
  async drain(): Promise<void> {
    this.accepting = false
    const waits: Promise<unknown>[] = []
    for (const job of this.live.values()) {
      const snapshot = job.actor.getSnapshot()
      const until = (s: JobStatus) => s !== "running"
      waits.push(this.waitFor(job, until).catch(() => undefined))
      if (snapshot.can({ type: "PAUSE", by: "shutdown" })) job.actor.send({ type: "PAUSE", by: "shutdown" })
    }
    await Promise.all(waits)
    // Flush what is left (progress and logs of the last turn), then take no more ticks.
    if (this.pending.length > 0) this.tick()
    this.stopped = true
  }

  /** Takes no more ticks (the store is closing). */
  stop() {
    this.accepting = false
    this.stopped = true
  }

  get isAccepting() {
    return this.accepting
  }
}
