import type { Clock as EffectClock } from "effect"
import { createActor, type InspectionEvent, type Observer } from "xstate"
import type { LogLevel } from "../jobs/defineJob.js"
import { InvalidTransition, PersistenceError, toStoredError, type StoredError } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import { Progress } from "../jobs/Progress.js"
import type { RetryPolicy } from "../jobs/retryPolicy.js"
import {
  jobLifecycleMachine,
  type JobLifecycleActor,
  type JobLifecycleSnapshot,
  type PausedBy,
} from "../machines/jobLifecycleMachine.js"
import type { ClaimRow, DbJob, EventMeta, JobStore, JobWrite } from "../persistence/JobStore.js"
import { lifecycleRow, type LifecycleRow } from "../persistence/lifecycleRow.js"
import { failedRowLifecycle, liveSnapshot, reportedSnapshot, statusOf, type PersistedLifecycle } from "./snapshots.js"
import { ClaimTry, type Prepared } from "./claim.js"
import { LiveJob, type StatusWaiter } from "./LiveJob.js"
import { Cleanups } from "./cleanup.js"
import { makeRunJobWorker, startAttempt, type WorkerReport } from "./runJobWorker.js"
import { JobCalls, lostOwnership } from "./JobCalls.js"
import { JobEvents, ManagerEventListeners, type JobEvent } from "./JobEvents.js"
import { commandThroughStore, type CommandOutcome } from "./remoteCommand.js"
import type { CommandEvent } from "../machines/jobLifecycleMachine.js"
import type { PendingWrite } from "./WriteBatch.js"
import { GroupCommit, type ClaimRound } from "./GroupCommit.js"
import type { JobTelemetry } from "./telemetry.js"
import { cascadeToChildren } from "./children.js"
import { realClock, toEffectClock, type Clock } from "./clock.js"
import type { StoreHealth } from "./StoreHealth.js"

export interface EngineOptions {
  readonly dataDir: string
  /** Jobs running at once; 0 for a producer that runs none. */
  readonly concurrency: number
  /** The job types this engine claims (a subset of the registry). */
  readonly types: ReadonlyArray<string>
  /** When set, only these jobs are claimed (a manager that runs only what it dispatched, and their children). */
  readonly ownOnly: Set<string> | undefined
  readonly progressThrottleMs: number
  readonly interruptGraceMs: number
  readonly inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined
  readonly now: () => number
  /** The timers of delays, retries, attempt timeouts and the progress throttle; `now` is its `now`, unless the manager was given `now` alone. */
  readonly clock: Clock
  readonly managerId: string
  /** Ids of new jobs (children spawned by running jobs). */
  readonly generateId: () => string
  /** Spans and metrics, when the manager was opened with `telemetry`. */
  readonly telemetry?: JobTelemetry | undefined
}

const MAX_CLAIMS_PER_TICK = 32

/** What the engine publishes of a job (see `publish`). */
export type Published =
  | {
      readonly type: "status"
      readonly status: JobStatus
      readonly log?: { readonly level: LogLevel; readonly message: string }
    }
  | { readonly type: "log"; readonly level: LogLevel; readonly message: string }
  | Exclude<JobEvent, { readonly type: "status" }>

/**
 * The log line a live job's transition out of `running` writes. Completion writes none: the row
 * has its time, and a drain of short jobs should not pay a log write each.
 */
const lifecycleLine = (
  lifecycle: LifecycleRow,
  checkpoints: number,
  retry: RetryPolicy | undefined,
  requeuedFor: StoredError | undefined,
): { level: LogLevel; message: string } | undefined => {
  switch (lifecycle.status) {
    case "queued": {
      if (lifecycle.awaitingChildren)
        return { level: "info", message: `waiting for its children, after checkpoint ${checkpoints}` }
      if (lifecycle.awaitingEvents) {
        const timer = lifecycle.runAt === null ? "" : ` or its timer at ${new Date(lifecycle.runAt).toISOString()}`
        return { level: "debug", message: `resting: waiting for an event${timer}, after checkpoint ${checkpoints}` }
      }
      if (requeuedFor !== undefined) {
        return {
          level: "warn",
          message: `attempt stopped by a store failure (${requeuedFor.message}); back in line from checkpoint ${checkpoints}, no retry spent`,
        }
      }
      // A failed attempt that the retry policy retries.
      const error = lifecycle.lastError === null ? undefined : (JSON.parse(lifecycle.lastError) as StoredError)
      const when = lifecycle.runAt === null ? "now" : `at ${new Date(lifecycle.runAt).toISOString()}`
      return {
        level: "warn",
        message: `attempt failed: [${error?._tag}] ${error?.message}; retry ${lifecycle.failures} of ${retry?.maxRetries ?? 0} ${when}, from checkpoint ${checkpoints}`,
      }
    }
    case "paused":
      return {
        level: "info",
        message: `paused by ${pausedByText[lifecycle.pausedBy ?? "user"]} after checkpoint ${checkpoints}`,
      }
    case "failed":
      return { level: "error", message: `failed: ${lifecycle.errorMessage}` }
    case "cancelled":
      return { level: "info", message: `cancelled after checkpoint ${checkpoints}` }
    default:
      return undefined
  }
}

const pausedByText: Record<PausedBy, string> = {
  user: "a user",
  shutdown: "its manager's shutdown",
  parent: "its parent",
}

/** Why a job stopped where it stood when its manager could not renew its lease. */
const leaseLost = (id: string) =>
  new PersistenceError({
    operation: "renew lease",
    reason: "Write",
    detail: `job ${id} was stopped: its manager could not renew its lease in time (the store failed), so another manager may take the job over; it resumes from its last checkpoint`,
  })

/**
 * The engine behind `JobManager`: live jobs and their slots, the group commit, and the
 * lifecycle events applied to jobs with or without a live actor.
 *
 * Writes from all jobs are grouped: everything queued during one event-loop turn (transitions,
 * checkpoints, progress, logs) goes to the store in one commit, which also claims queued jobs
 * for the slots that are free. One commit is in flight at a time; a job's actor starts only
 * once its claim has committed, and promises that depend on a write (checkpoint, pause,
 * result) settle only after its commit.
 */
export class JobEngine {
  private readonly live = new Map<string, LiveJob>()
  /** Live jobs per type, for the types with a `concurrency` of their own. */
  private readonly liveOfType = new Map<string, number>()
  private readonly events = new JobEvents()
  /** Listeners of every job's events (`manager.events`), with the job's name. */
  readonly allEvents = new ManagerEventListeners()
  /**
   * Some other live manager listens to events (its lease says so): record this engine's status
   * changes, progress writes and log lines in `job_events`, in the commits that make them.
   */
  recordEvents = false
  private readonly machine
  /** Writes and claims go to the store in group commits. */
  private readonly commits: GroupCommit
  /** What a running job's context calls do (`ctx.checkpoint`, `ctx.log`, …). */
  private readonly calls: JobCalls
  /** Counts what may have queued a job, so a claim that read before it does not clear `maybeQueued`. */
  private queuedSignals = 0
  /** False once a claim found fewer queued jobs than free slots; set again by anything that queues. */
  private maybeQueued = true
  private accepting = true
  /** The lease could not be renewed (see `fence`): claim nothing until it is again. */
  private fenced = false
  /** The guard of every write a live job makes: still running, still ours. */
  private readonly owned: { readonly status: "running"; readonly owner: string }
  private isoCache = { ms: Number.NaN, text: "" }
  /** The newest state version any claimed type writes: rows beyond it are not even read. */
  private readonly maxStateVersion: number
  /** Writes by kind, for tests and benchmarks. */
  readonly stats = { transactions: 0, progressWrites: 0, checkpoints: 0, claims: 0 }
  /** The resource cleanup of jobs cancelled or failed for good, and of pruned jobs' directories. */
  readonly cleanups: Cleanups
  /** Effect's `Clock` for jobs' runs; none on the real clock, which Effect has already. */
  readonly effectClock: EffectClock.Clock | undefined

  private readonly onError: (error: unknown) => void

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
    private readonly options: EngineOptions,
    /** Reports errors, each store failure once per outage, and hears when the store answers again. */
    private readonly health: StoreHealth,
  ) {
    this.onError = health.error
    this.owned = { status: "running", owner: options.managerId }
    this.maxStateVersion = Math.max(1, ...options.types.map((t) => registry.get(t)?.stateVersion ?? 1))
    this.cleanups = new Cleanups(options.dataDir, this.onError)
    this.effectClock = options.clock === realClock ? undefined : toEffectClock(options.clock)
    this.calls = new JobCalls({
      store,
      registry,
      options,
      stats: this.stats,
      effectClock: this.effectClock,
      liveJob: (id) => this.live.get(id),
      enqueue: (write) => this.commits.add(write),
      publish: (id, name, event, at) => this.publish(id, name, event, at),
      eventMeta: (name) => this.eventMeta(name),
      iso: () => this.iso(),
      wake: () => this.wake(true),
      cancel: (id) => this.command(id, { type: "CANCEL" }),
      onError: (error) => this.onError(error),
    })
    this.commits = new GroupCommit(
      store,
      health,
      options.clock,
      options.now,
      { claimRound: (writes) => this.claimRound(writes), closing: () => !this.accepting, due: () => this.wake(true) },
      this.stats,
    )
    this.machine = jobLifecycleMachine.provide({
      actors: { runJob: makeRunJobWorker(this.calls) },
      delays: { interruptGrace: options.interruptGraceMs },
    })
  }

  now(): number {
    return this.options.now()
  }

  /** Now as ISO 8601; formatted once per millisecond, since a busy tick asks for it per job. */
  iso(): string {
    const ms = this.options.now()
    if (ms !== this.isoCache.ms) this.isoCache = { ms, text: new Date(ms).toISOString() }
    return this.isoCache.text
  }

  // ---------------------------------------------------------------- what the manager reads

  get runningCount() {
    return this.live.size
  }

  liveIds(): ReadonlyArray<string> {
    return [...this.live.keys()]
  }

  isLive(id: string): boolean {
    return this.live.has(id)
  }

  /** The status of a job this engine runs, from its actor; `undefined` when it is not live. */
  liveStatus(id: string): JobStatus | undefined {
    const job = this.live.get(id)
    return job === undefined ? undefined : statusOf(job.value)
  }

  liveProgress(id: string): Progress<unknown> | null {
    return this.live.get(id)?.latestProgress ?? null
  }

  // ---------------------------------------------------------------- the group commit

  /** Asks for a commit at the next turn of the event loop; `queued`: something may have queued a job. */
  wake(queued = false) {
    if (queued) {
      this.maybeQueued = true
      this.queuedSignals++
    }
    this.commits.wake()
  }

  private enqueue(write: PendingWrite) {
    this.commits.add(write)
  }

  /**
   * The claim of the next commit, for the slots free once its writes land (an end frees one):
   * none while the manager closes, its lease is lost, or the last claim found the queue empty
   * and nothing has queued a job since.
   */
  private claimRound(writes: ReadonlyArray<PendingWrite>): ClaimRound | undefined {
    const released = writes.reduce((n, w) => n + (w.releasesSlot ? 1 : 0), 0)
    const wanted = this.options.concurrency - this.live.size + released
    const { types, ownOnly } = this.options
    const claimable = types.length > 0 && (ownOnly === undefined || ownOnly.size > 0) && !this.fenced
    const free = this.accepting && this.maybeQueued && claimable ? Math.min(wanted, MAX_CLAIMS_PER_TICK) : 0
    // A full worker's ticks (checkpoints, progress) claim nothing: decided before anything else.
    if (free <= 0) return undefined
    // Types at their own limit are not asked for; the claim passes over rows past what is left.
    const room = this.roomByType()
    const claimTypes = room.size === 0 ? types : types.filter((t) => room.get(t) !== 0)
    if (claimTypes.length === 0) return undefined
    let attempt = new ClaimTry(this.registry, room)
    const at = this.iso()
    const signalsBefore = this.queuedSignals
    return {
      request: {
        owner: this.options.managerId,
        limit: free,
        types: claimTypes,
        ...(ownOnly === undefined ? {} : { ids: [...ownOnly] }),
        at,
        nowMs: this.options.now(),
        maxStateVersion: this.maxStateVersion,
        decide: (row: ClaimRow) => attempt.decide(row),
        events: this.recordEvents,
      },
      // A try that failed may have decided some rows already: the next one decides afresh.
      retry: () => {
        attempt = new ClaimTry(this.registry, this.roomByType())
      },
      committed: (result) => {
        // Fewer rows than slots: the queue was empty when the claim read it. A job queued since
        // (a dispatch while the commit was in flight) must not be forgotten, nor one passed over
        // for its type's limit.
        const short = result.claimed.length + attempt.failed.length < free
        if (short && this.queuedSignals === signalsBefore && attempt.skipped === 0) this.maybeQueued = false
        else if (wanted > free) this.wake()
        if (result.nextRunAt !== undefined) this.commits.wakeAt(result.nextRunAt)
      },
      start: (result) => {
        for (const { id, name } of attempt.failed) this.publish(id, name, { type: "status", status: "failed" }, at)
        for (const row of result.claimed) this.startClaimed(row, attempt.started.get(row.id)!, at)
      },
    }
  }

  private suspects = new Set<string>()

  /**
   * Of the rows the store says this engine runs, those it has no actor for, seen so by two
   * sweeps in a row: their claim committed in a try that looked failed, or their end could not
   * be written. The orphan rule applies to them as to a dead manager's.
   */
  lostOwn(rows: ReadonlyArray<DbJob>): DbJob[] {
    const seen = new Set<string>()
    const lost: DbJob[] = []
    for (const row of rows) {
      if (this.live.has(row.id)) continue
      if (this.suspects.has(row.id)) lost.push(row)
      else seen.add(row.id)
    }
    this.suspects = seen
    return lost
  }

  /**
   * Builds the live job of a committed claim and starts its attempt. The job gets its actor
   * only when something must talk to it (see `actorOf`), or at once for an inspector.
   */
  private startClaimed(row: ClaimRow, prepared: Prepared, at: string) {
    const job = new LiveJob(
      row.id,
      prepared.definition,
      prepared.params,
      prepared.started,
      prepared.state,
      row.state_version,
      prepared.retry,
      prepared.timeoutMs,
      row.parent_id,
    )
    job.inboxApplied = Number(row.inbox_applied)
    // The claim committed it running: said before the job can say anything itself.
    this.publish(row.id, row.name, { type: "status", status: "running" }, at)
    try {
      this.live.set(row.id, job)
      this.countLive(job, 1)
      if (this.options.telemetry !== undefined) job.trace = this.traceAttempt(this.options.telemetry, row, prepared)
      job.run = startAttempt(job, this.calls, (report) => this.reported(job, report))
      if (this.options.inspect !== undefined) this.actorOf(job)
      this.stats.claims++
      // A first start is in the row (started_at); a later one says where it resumes from.
      const attempt = prepared.started.context.attempt
      if (attempt > 1) this.calls.log(job, `resumed from checkpoint ${row.state_version} (attempt ${attempt})`, "info")
    } catch (error) {
      if (this.live.delete(row.id)) this.countLive(job, -1)
      job.run?.stop()
      job.trace?.end("failed", toStoredError(error))
      job.actor?.stop()
      this.failOwned(row, error)
    }
  }

  /**
   * The job's lifecycle actor, started now in the job's running snapshot if it has none: the
   * machine takes over the lifecycle (its `pausing` and `cancelling`, the grace timer, the
   * inspector's view), and its worker attaches to the attempt in progress.
   */
  private actorOf(job: LiveJob): JobLifecycleActor {
    if (job.actor !== undefined) return job.actor
    const actor = createActor(this.machine, {
      snapshot: liveSnapshot(job.lifecycle, job.id),
      input: { jobId: job.id },
      inspect: this.options.inspect,
      // Named after the job, so the inspector shows which job each actor is.
      id: `${job.definition.name}:${job.id}`,
    })
    job.actor = actor
    actor.subscribe({ next: (s) => this.onSnapshot(job, s), error: (e) => this.onError(e) })
    actor.start()
    return actor
  }

  /** The span of an attempt that starts now; its queue wait runs from when the job was put in line, or its `runAt`. */
  private traceAttempt(telemetry: JobTelemetry, row: ClaimRow, prepared: Prepared) {
    const queuedAt = Math.max(Date.parse(row.updated_at), prepared.runAt ?? 0)
    return telemetry.attempt({
      id: row.id,
      type: row.name,
      attempt: prepared.started.context.attempt,
      checkpoint: row.state_version,
      queueWaitMs: Number.isFinite(queuedAt) ? Math.max(0, this.options.now() - queuedAt) : undefined,
    })
  }

  /** Fails a job this engine claimed but could not start. */
  private failOwned(row: Pick<DbJob, "id" | "name" | "snapshot" | "parent_id">, cause: unknown) {
    const at = this.iso()
    this.enqueue({
      write: {
        kind: "transition",
        id: row.id,
        expect: this.owned,
        lifecycle: failedRowLifecycle(row, cause),
        at,
        event: this.eventMeta(row.name),
        parentId: row.parent_id,
      },
      committed: () => this.publish(row.id, row.name, { type: "status", status: "failed" }, at),
      failed: () => {},
    })
  }

  // ---------------------------------------------------------------- live transitions

  /** How the attempt ended, from its worker: to the job's actor, or through the machine offline. */
  private reported(job: LiveJob, report: WorkerReport) {
    if (job.actor !== undefined) {
      // From its worker, as the machine would have it.
      if (job.run?.attached !== undefined) job.run.attached(report)
      else job.actor.send(report)
      return
    }
    if (job.leaving) return
    const next = reportedSnapshot(job.lifecycle, report, job.id)
    if (next === undefined) {
      this.onError(
        new Error(
          `job ${job.id}: the lifecycle machine takes no ${report.type} in state ${JSON.stringify(job.lifecycle.value)}`,
        ),
      )
      return
    }
    job.lifecycle = next
    this.leave(job, next)
  }

  private onSnapshot(job: LiveJob, snapshot: JobLifecycleSnapshot) {
    if (job.leaving || statusOf(snapshot.value) === "running") return
    this.leave(job, { value: snapshot.value, context: snapshot.context })
  }

  /** The job left `running` (paused, completed, failed, cancelled, queued again): one write records it all. */
  private leave(job: LiveJob, snapshot: PersistedLifecycle) {
    job.phase = "leaving"
    this.options.clock.clearTimeout(job.progressTimer)
    const lifecycle: LifecycleRow = lifecycleRow(snapshot)
    const { status } = lifecycle
    const progress = job.takeProgress()
    const line = lifecycleLine(lifecycle, job.stateVersion, job.retry, job.requeuedFor)
    const write: JobWrite = {
      kind: "transition",
      id: job.id,
      expect: { ...this.owned, attempts: job.context.attempt },
      lifecycle,
      ...(status === "completed" && job.outputJson !== null ? { output: job.outputJson } : {}),
      ...(progress === undefined ? {} : { progress }),
      ...(line === undefined ? {} : { log: line }),
      at: this.iso(),
      event: this.eventMeta(job.definition.name),
      parentId: job.parentId,
    }
    this.enqueue({
      write,
      releasesSlot: true,
      committed: () => {
        this.settleLive(job, status)
        this.publish(
          job.id,
          job.definition.name,
          { type: "status", status, ...(line === undefined ? {} : { log: line }) },
          write.at,
        )
      },
      refused: () => this.unrecorded(job, lostOwnership(job.id)),
      failed: (error) => this.unrecorded(job, error),
    })
  }

  /** After the write that took a job out of `running` committed. */
  private settleLive(job: LiveJob, status: JobStatus) {
    this.forget(job)
    // A cancel() or a fail resolves once the job's resources are released.
    const cleaned = this.cleanups.ended(status, {
      id: job.id,
      definition: job.definition,
      params: job.params,
      state: job.state,
    })
    if (cleaned === undefined) this.settleWaiters(job.waiters, status)
    else void cleaned.then(() => this.settleWaiters(job.waiters, status))
    // A retry that may run at once, a slot of a type with its own limit, or a parent this job's
    // end let go: look at the queue again.
    this.wake(status === "queued" || job.definition.concurrency !== undefined || job.parentId !== null)
    // A machine job running here that invoked this one hears of its end (its inbox has it).
    if (job.parentId !== null && isTerminalStatus(status)) this.live.get(job.parentId)?.onNews?.()
    // A parent that fails for good takes its live children with it: nobody awaits them now.
    if (status === "failed") this.cascade(job.id, { type: "CANCEL" }).catch(this.onError)
  }

  /** Takes a job that left `running` off the live set and stops its actor and its run. */
  private forget(job: LiveJob) {
    if (this.live.delete(job.id)) this.countLive(job, -1)
    job.actor?.stop()
    job.run?.stop()
  }

  private countLive(job: LiveJob, delta: 1 | -1) {
    const { name, concurrency } = job.definition
    if (concurrency !== undefined) this.liveOfType.set(name, (this.liveOfType.get(name) ?? 0) + delta)
  }

  /** How many more jobs each type with a limit of its own may start now. */
  private roomByType(): Map<string, number> {
    const room = new Map<string, number>()
    for (const name of this.options.types) {
      const limit = this.registry.get(name)?.concurrency
      if (limit !== undefined) room.set(name, Math.max(0, limit - (this.liveOfType.get(name) ?? 0)))
    }
    return room
  }

  /**
   * The write that would record the job's end failed (disk full, say) or was refused (the job
   * is no longer ours). Nothing claims it ended: the store still says `running`, and the orphan
   * rule resumes it from its last checkpoint on the next open, or when another manager finds
   * this one's lease expired.
   */
  private unrecorded(job: LiveJob, error: unknown) {
    this.forget(job)
    for (const w of job.waiters.splice(0)) w.reject(error)
    this.publish(job.id, job.definition.name, { type: "unrecorded", error }, this.iso())
    this.wake()
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

  // ---------------------------------------------------------------- commands

  /**
   * Applies a user command (pause, resume, cancel) through the job's lifecycle machine. While
   * the store fails, a command on a live job fails at once with the store's error (its write
   * could not be recorded) instead of waiting for the store to come back.
   */
  async command(id: string, event: CommandEvent): Promise<CommandOutcome> {
    for (let looks = 0; ; looks++) {
      const job = this.live.get(id)
      const failing = this.health.failing
      if (job !== undefined && failing !== undefined) throw failing
      if (job !== undefined && !job.leaving) {
        const actor = this.actorOf(job)
        const snapshot = actor.getSnapshot()
        if (!snapshot.can(event))
          throw new InvalidTransition({ id, event: event.type, status: statusOf(snapshot.value) })
        const until = event.type === "CANCEL" ? isTerminalStatus : (s: JobStatus) => s !== "running"
        const done = this.waitFor(job, until)
        actor.send(event)
        return { status: await done }
      }
      if (job !== undefined) {
        // It has left `running` and the write recording it is on its way: ask the row once that
        // write has settled (committed, or unrecorded and the job left to the orphan rule).
        await this.waitFor(job, () => true).catch(() => undefined)
        continue
      }
      // Queued, paused, finished, or running in another process: through the store.
      const outcome = await commandThroughStore(this.store, this.registry, id, event, {
        self: this.options.managerId,
        at: () => this.iso(),
        // Ours in the store but not live here for a while: its end could not be written.
        ownButGone: looks >= 200,
        cleanup: (row, status) => this.cleanups.ended(status, { row, registry: this.registry }),
        recordEvents: () => this.recordEvents,
      })
      if (outcome.ownedHere) {
        // Its claim is committing (the actor starts right after) or its end is: look again.
        await new Promise((r) => setTimeout(r, 5))
        continue
      }
      // A change written here is announced; one that another process made (it ran the job) is
      // that process's event on manager.events, and only this job's followers hear it from here.
      const { name, at, log } = outcome.written ?? { name: "", at: this.iso(), log: undefined }
      this.publish(
        id,
        name,
        { type: "status", status: outcome.status, ...(log === undefined ? {} : { log }) },
        at,
        outcome.written !== undefined,
      )
      if (outcome.status === "queued") this.wake(true)
      return outcome
    }
  }

  /** Another process may have sent the machine jobs running here an event, or ended a child of one: they look. */
  machineNews() {
    for (const job of this.live.values()) job.onNews?.()
  }

  /** An event was sent to this job: if it runs here, it reads its inbox now. */
  machineNewsFor(id: string) {
    this.live.get(id)?.onNews?.()
  }

  /** Carries a command given to a parent to its live children, and theirs (see `cascadeToChildren`). */
  cascade(parentId: string, event: CommandEvent): Promise<void> {
    return cascadeToChildren(this.store, parentId, event, (id, childEvent) => this.command(id, childEvent))
  }

  private waitFor(job: LiveJob, until: (s: JobStatus) => boolean): Promise<JobStatus> {
    return new Promise((resolve, reject) => job.waiters.push({ until, resolve, reject }))
  }

  /** Queues one transition of a row without a live actor (recovery, the orphan rule); resolves with whether it was written. */
  recordOffline(
    row: Pick<DbJob, "id" | "name" | "status" | "owner" | "attempts" | "parent_id">,
    lifecycle: LifecycleRow,
    logLine?: string,
  ): Promise<boolean> {
    const log =
      logLine === undefined
        ? undefined
        : { level: lifecycle.status === "failed" ? ("error" as const) : ("info" as const), message: logLine }
    const at = this.iso()
    return new Promise((resolve, reject) =>
      this.enqueue({
        write: {
          kind: "transition",
          id: row.id,
          // The attempt it ends, read with the row: not a later one the same owner claimed since.
          expect: { status: row.status, owner: row.owner, attempts: row.attempts },
          lifecycle,
          ...(log === undefined ? {} : { log }),
          at,
          event: this.eventMeta(row.name),
          parentId: row.parent_id,
        },
        committed: () => {
          this.publish(
            row.id,
            row.name,
            { type: "status", status: lifecycle.status, ...(log === undefined ? {} : { log }) },
            at,
          )
          if (lifecycle.status === "queued" || row.parent_id !== null) this.wake(true)
          resolve(true)
        },
        refused: () => resolve(false),
        failed: reject,
      }),
    )
  }

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    return this.events.subscribe(id, listener)
  }

  /** What a write records about itself in `job_events`, while some other manager listens. */
  eventMeta(name: string): EventMeta | undefined {
    return this.recordEvents ? { name, writer: this.options.managerId } : undefined
  }

  /**
   * The one way the engine tells of a job: its followers (handles, `result()`) hear statuses,
   * progress, checkpoints and an unrecorded end; `manager.events` hears statuses (with their
   * lifecycle line), progress and log lines, unless `announce` is false (a change another
   * process made, which that process announces); telemetry counts statuses.
   */
  publish(id: string, name: string, event: Published, at: string, announce = true) {
    if (event.type !== "log")
      this.events.emit(id, event.type === "status" ? { type: "status", status: event.status } : event)
    if (event.type === "status" && announce) this.options.telemetry?.statusChanged(name, event.status)
    if (!announce || !this.allEvents.active || event.type === "checkpoint" || event.type === "unrecorded") return
    const manager = this.options.managerId
    if (event.type === "status") {
      this.allEvents.emit({ type: "status", id, name, status: event.status, at, manager })
      if (event.log !== undefined)
        this.allEvents.emit({ type: "log", id, name, level: event.log.level, message: event.log.message, at, manager })
    } else if (event.type === "progress")
      this.allEvents.emit({ type: "progress", id, name, progress: event.progress, at, manager })
    else this.allEvents.emit({ type: "log", id, name, level: event.level, message: event.message, at, manager })
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * The manager could not renew its lease in time: by now another manager may judge it dead and
   * take its jobs over. Each live job is stopped where it stands, writing nothing (as a crash
   * would), so that it never runs beside its next attempt; the store still says it runs here,
   * and the orphan rule puts it back in line (this manager's next sweep, or another's).
   */
  fence() {
    this.fenced = true
    // A job whose end is being written runs no more: its write lands, or is refused, as it is.
    const fenced = new Set([...this.live.values()].filter((job) => !job.leaving).map((job) => job.id))
    if (fenced.size === 0) return
    // Their writes not yet sent would only be refused, or land after a takeover.
    for (const w of this.commits.withdraw((w) => fenced.has(w.write.id))) w.failed?.(leaseLost(w.write.id))
    for (const job of [...this.live.values()]) {
      if (!fenced.has(job.id)) continue
      job.phase = "leaving"
      this.options.clock.clearTimeout(job.progressTimer)
      this.forget(job)
      // A pause or cancel waiting on it fails; `result()` waits on, for the attempt that resumes it.
      for (const w of job.waiters.splice(0)) w.reject(leaseLost(job.id))
      // Seen once already: the next sweep that finds it still running here recovers it.
      this.suspects.add(job.id)
    }
    this.onError(
      new PersistenceError({
        operation: "renew lease",
        reason: "Write",
        detail: `this manager could not renew its lease in time; it stopped its ${fenced.size} running job(s), which resume from their last checkpoint once the store answers`,
      }),
    )
    this.wake()
  }

  /** The lease was renewed: claim again. */
  leaseRenewed() {
    if (!this.fenced) return
    this.fenced = false
    this.wake(true)
  }

  /** Stops claiming; asks every running job to pause (by shutdown) and waits until all are out. */
  async drain(): Promise<void> {
    this.accepting = false
    // A commit waiting to try again tries now, and gives up soon (see `GroupCommit`).
    this.commits.hurry()
    const waits: Promise<unknown>[] = []
    for (const job of this.live.values()) {
      waits.push(this.waitFor(job, (s) => s !== "running").catch(() => undefined))
      if (job.leaving) continue
      const actor = this.actorOf(job)
      if (actor.getSnapshot().can({ type: "PAUSE", by: "shutdown" })) actor.send({ type: "PAUSE", by: "shutdown" })
    }
    await Promise.all(waits)
    // Flush what is left (progress and logs of the last turn), then take no more commits.
    await this.commits.flush()
    await this.cleanups.idle()
  }

  /**
   * Stops as a killed process would: no more commits (what is queued is lost), every live job's
   * worker interrupted without a word to the store. The store still says those jobs run, under
   * this manager: the orphan rule finds them once its lease expires.
   */
  crash() {
    this.accepting = false
    this.commits.stop(true)
    for (const job of this.live.values()) {
      job.phase = "leaving"
      job.run?.stop()
      job.actor?.stop()
    }
    this.live.clear()
    this.liveOfType.clear()
  }

  /** Takes no more commits (the store is closing). */
  stop() {
    this.accepting = false
    this.commits.stop()
  }

  get isAccepting() {
    return this.accepting
  }

  /** Writes in hand: a commit in flight, or one asked for. */
  get busy(): boolean {
    return this.commits.busy
  }
}
