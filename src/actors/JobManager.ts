import { randomUUID } from "node:crypto"
import { createActor, type Actor, type AnyStateMachine, type EventObject } from "xstate"
import type { JobDefinition, OutputOf, ParamsOf, ProgressOf } from "../jobs/defineJob.js"
import {
  InvalidOptions,
  InvalidParams,
  InvalidTransition,
  JobNotFound,
  ManagerClosed,
  PersistenceError,
  StoreRecovered,
  UnknownJobType,
} from "../jobs/errors.js"
import { JobRegistry, type JobTypeSchema } from "../jobs/JobRegistry.js"
import { isJobStatus, jobStatuses, type JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import { accepts, commandEvent, type CommandEvent } from "../machines/jobLifecycleMachine.js"
import { acceptsWork, managerMachine } from "../machines/managerMachine.js"
import { isMachineJob, type SentEvent } from "../jobs/defineMachineJob.js"
import { encodeJsonWith, unpack } from "../persistence/codec.js"
import type { EndedCount, JobCount, JobStore, NewJob } from "../persistence/JobStore.js"
import { openStore } from "../persistence/openStore.js"
import { withChildren } from "./children.js"
import { JobEngine } from "./JobEngine.js"
import type { JobEvent, ManagerEvent } from "./JobEvents.js"
import { JobHandle, type JobHandleSource } from "./JobHandle.js"
import { JobManagerEffect } from "./JobManagerEffect.js"
import { machineInfo, toJobInfo, toJobLogLine, type JobInfo, type JobLogLine } from "./JobInfo.js"
import { JobWatchers } from "./JobWatchers.js"
import { ManagerEvents } from "./ManagerEvents.js"
import { ManagerPresence } from "./ManagerPresence.js"
import type { Owners } from "./owners.js"
import { recoverJobs } from "./recovery.js"
import { Scheduler, type ScheduleInfo, type ScheduleOptions } from "./Scheduler.js"
import { pruneJobs, Retention, type PruneOptions } from "./retention.js"
import { JobTelemetry } from "./telemetry.js"
import { StoreHealth } from "./StoreHealth.js"
import { resolveOptions, type JobManagerOptions, type ResolvedOptions } from "./managerOptions.js"
import { newJob, overridesJson, type DispatchOptions, type NewJobContext, type RetryOverrides } from "./newJob.js"

export type { JobManagerOptions } from "./managerOptions.js"
export type { DispatchOptions, RetryOverrides } from "./newJob.js"

export interface ListJobsFilter {
  readonly status?: JobStatus
  /** Only jobs of this type. */
  readonly name?: string
  /** Only the children of this job. */
  readonly parentId?: string
  /** Only jobs created at or after this time (a `Date` or ms since the epoch). */
  readonly createdAfter?: Date | number
  /** Only jobs created before this time. */
  readonly createdBefore?: Date | number
  readonly limit?: number
  readonly offset?: number
  /** Default `oldest` (dispatch order). */
  readonly order?: "oldest" | "newest"
  /**
   * Keyset pages: the jobs after the job with this id in the list's order (the next page: pass
   * the last id of a page), or before it (the previous page: pass the first). A page costs the
   * same at any depth, where `offset` reads every row it skips. Not both.
   */
  readonly after?: string
  readonly before?: string
}

/** A manager with a live (or expired, not yet swept) lease on the store: who runs what. */
export interface ManagerInfo {
  readonly id: string
  readonly host: string
  readonly pid: number
  /** The job types it claims; empty for a producer. */
  readonly types: ReadonlyArray<string>
  /** How many jobs it runs at once at most (0 for a producer). */
  readonly concurrency: number
  /** The ids of the jobs it runs now, oldest first. */
  readonly running: ReadonlyArray<string>
  readonly leaseMs: number
  /** How long ago it last renewed its lease, by the store's clock (a live one: under `leaseMs`). */
  readonly renewedAgoMs: number
  /** `live`, or why it is taken for dead (its jobs are recovered by the next sweep). */
  readonly state: "live" | "lease expired" | "process gone"
  /** The manager asking. */
  readonly self: boolean
}

/**
 * Stores a retry's overrides on a failed or cancelled job, over the dispatch's own (what is not
 * given stays as it was), guarded by the row as read; the caller then sends the job `RETRY`.
 * `InvalidOptions` for a bad override, `JobNotFound`, `InvalidTransition` for a job in any other
 * status (`statusOf` says which, when the row changed under it). Nothing given: nothing written.
 * `manager.retry` and `jobstate retry` share it.
 */
export const storeRetryOverrides = async (
  store: JobStore,
  id: string,
  overrides: RetryOverrides,
  statusOf: (id: string) => Promise<JobStatus> = async (id) => {
    const row = await store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return toJobInfo(row).status
  },
): Promise<void> => {
  const given = overridesJson(overrides)
  if (given === null) return
  const row = await store.getJob(id)
  if (row === undefined) throw new JobNotFound({ id })
  const { status } = toJobInfo(row)
  if (!accepts(status, "retry")) throw new InvalidTransition({ id, event: "RETRY", status })
  // Over the dispatch's own: what is not given stays as it was.
  const merged = JSON.stringify({ ...(row.options === null ? {} : JSON.parse(row.options)), ...JSON.parse(given) })
  if (!(await store.setOverrides(id, { status: row.status, owner: row.owner, attempts: row.attempts }, merged))) {
    throw new InvalidTransition({ id, event: "RETRY", status: await statusOf(id) })
  }
}

/**
 * Without `onError`: a store failure or its end is one line (its message says what and why);
 * anything else is printed whole, with its stack.
 */
const reportToConsole = (error: unknown) => {
  if (error instanceof PersistenceError || error instanceof StoreRecovered) console.error(`[jobstate] ${error.message}`)
  else console.error("[jobstate]", error)
}

/**
 * The job manager: opens the store, recovers what a previous process left, runs jobs in
 * priority order within a concurrency limit, and applies pause, resume and cancel.
 *
 * @example
 * const manager = await JobManager.open({ dataDir: "./.jobstate", jobs: [FileCopyJob] })
 * const handle = await manager.dispatch(FileCopyJob, { sources: ["a"], destination: "b" })
 * console.log(await handle.result())
 * await manager.close()
 */
export class JobManager implements JobHandleSource {
  private readonly engine: JobEngine
  private readonly actor: Actor<typeof managerMachine>
  private readonly watchers: JobWatchers
  private readonly presence: ManagerPresence
  private readonly scheduler: Scheduler
  private readonly feed: ManagerEvents
  private readonly registry: JobRegistry
  private readonly types: ReadonlyArray<string>
  private readonly own: Set<string> | undefined
  private closing: Promise<void> | undefined
  private readonly generateId: () => string
  private readonly onError: (error: unknown) => void
  /** What onError hears of store failures: each kind once per outage, then StoreRecovered. */
  private readonly health: StoreHealth
  private readonly retention: Retention | undefined
  /** Stops reporting this manager's work in hand to a test clock. */
  private readonly detachClock: (() => void) | undefined
  readonly id: string
  /** The same operations as Effects with typed errors. */
  readonly effect: JobManagerEffect

  /** Opens a manager, recovering interrupted jobs of its types before it returns. */
  static async open(given: JobManagerOptions): Promise<JobManager> {
    const options = resolveOptions(given)
    const actor = createActor(managerMachine, { inspect: options.inspect })
    actor.start()
    let store: JobStore
    let telemetry: JobTelemetry | undefined
    try {
      telemetry = options.telemetry === undefined ? undefined : await JobTelemetry.open(options.telemetry)
      store = await openStore(options)
    } catch (error) {
      actor.send({ type: "OPEN_FAILED", message: String((error as Error).message ?? error) })
      actor.stop()
      await telemetry?.close()
      throw error
    }
    const manager = new JobManager(options, store, actor, telemetry)
    try {
      await manager.recover()
    } catch (error) {
      await telemetry?.close()
      throw error
    }
    return manager
  }

  private constructor(
    readonly options: ResolvedOptions,
    private readonly store: JobStore,
    actor: Actor<typeof managerMachine>,
    private readonly telemetry: JobTelemetry | undefined,
  ) {
    this.registry = new JobRegistry(options.jobs)
    this.actor = actor
    const { clock, now, concurrency, leaseMs } = options
    this.generateId = options.generateId
    this.id = randomUUID()
    this.types = concurrency === 0 ? [] : (options.types ?? this.registry.names())
    this.own = options.runOnlyOwn ? new Set() : undefined
    const report = options.onError ?? reportToConsole
    // Each kind of store failure once per outage, then one StoreRecovered (see StoreHealth).
    const health = (this.health = new StoreHealth(report))
    // A background read that raced close() found the store closed: that is the close, not an error.
    const onError = (this.onError = (e: unknown) => {
      if (this.closing !== undefined && e instanceof PersistenceError && e.reason === "Closed") return
      health.error(e)
    })
    this.engine = new JobEngine(
      store,
      this.registry,
      {
        dataDir: options.dataDir,
        concurrency,
        types: this.types,
        ownOnly: this.own,
        progressThrottleMs: options.progressThrottleMs,
        interruptGraceMs: options.interruptGraceMs,
        inspect: options.inspect,
        now,
        clock,
        managerId: this.id,
        generateId: this.generateId,
        telemetry,
      },
      health,
    )
    telemetry?.countJobs(() => store.countJobs(), onError)
    this.watchers = new JobWatchers(this.engine, store, this.registry)
    this.presence = new ManagerPresence(
      store,
      {
        managerId: this.id,
        types: this.own === undefined ? this.types : [],
        leaseMs,
        concurrency,
        pollIntervalMs: options.pollIntervalMs,
      },
      {
        onNews: () => this.onNews(),
        onLeases: (owners) => this.updateEventGate(owners),
        onSweep: (owners) => {
          this.updateEventGate(owners)
          return this.recoverWith(owners, false).then(() => undefined)
        },
        onLeaseLost: () => this.engine.fence(),
        onRenewed: () => {
          health.ok()
          this.engine.leaseRenewed()
        },
        onError,
      },
    )
    this.scheduler = new Scheduler(store, this.registry, {
      now,
      clock,
      newJobContext: () => this.newJobContext(),
      onFired: (job) => this.queued(job),
      onError,
    })
    this.retention =
      options.retention === undefined
        ? undefined
        : new Retention(
            store,
            options.retention,
            options.retentionIntervalMs,
            now,
            (ids) => this.engine.cleanups.removeDirs(ids),
            onError,
          )
    this.feed = new ManagerEvents(this.engine.allEvents, store, {
      managerId: this.id,
      bufferSize: options.eventBufferSize,
      onListening: (listening) => this.presence.setListening(listening),
      onError,
    })
    this.effect = new JobManagerEffect(this)
    this.detachClock = clock.attach?.(() => this.engine.busy || this.scheduler.busy)
    // A manager that runs jobs keeps its process alive until close(), idle or not: a worker's
    // main that opens it and waits must not exit when nothing is due (a job may be dispatched,
    // or come due, later). A producer (concurrency 0) holds nothing open.
    if (concurrency > 0) this.keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  }

  /** Holds the event loop open while a manager that runs jobs is open. */
  private keepAlive: NodeJS.Timeout | undefined

  /** Recovery on open; jobs recovered early start while later ones are still being recovered. */
  private async recover() {
    try {
      await this.presence.renewLease()
      const owners = await this.presence.owners()
      this.updateEventGate(owners)
      const report = await this.recoverWith(owners, true)
      this.actor.send({ type: "RECOVERED", resumed: report.resumed, failed: report.failed })
      this.engine.wake(true)
      this.presence.start()
      this.scheduler.start()
      this.retention?.start()
    } catch (error) {
      this.actor.send({ type: "OPEN_FAILED", message: String((error as Error).message ?? error) })
      this.actor.stop()
      this.engine.stop()
      clearInterval(this.keepAlive)
      await this.store.close()
      throw error
    }
  }

  private async recoverWith(owners: Awaited<ReturnType<ManagerPresence["owners"]>>, onOpen: boolean) {
    // A manager that runs only its own jobs takes on nobody else's.
    const types = this.own === undefined ? this.types : []
    const report = await recoverJobs(this.engine, this.store, this.registry, types, owners, { onOpen })
    for (const line of report.lines) this.options.onRecovered?.(line)
    return report
  }

  /** Another process changed the store: commands for our jobs, new jobs, jobs it finished. */
  private async onNews() {
    for (const { id, request } of await this.store.requestsFor(this.id)) {
      const event = commandEvent(request)
      // Heard again at every look until the job's transition clears it: a job already pausing
      // or cancelling does not accept it twice, and that refusal is ignored below.
      if (event === undefined || !this.engine.isLive(id)) continue
      this.engine.command(id, event).catch((error) => {
        // An event the job's state does not accept (it moved on meanwhile): nothing to do.
        if (!(error instanceof InvalidTransition)) this.onError(error)
      })
    }
    this.engine.wake(true)
    this.engine.machineNews()
    this.scheduler.refresh()
    await this.watchers.checkRemote()
    // Whether another manager has started (or stopped) listening to events: its lease says.
    // At most a few looks a second; the sweep looks too.
    await this.presence.readLeases()
    await this.feed.poll()
  }

  /** Records events in `job_events` while another live manager listens. */
  private updateEventGate(owners: Owners) {
    this.engine.recordEvents = owners.othersListen()
  }

  // ---------------------------------------------------------------- events

  /**
   * Every job's events: `status`, `progress` and `log`, each with the job's `id` and `name`,
   * when it happened (`at`) and the manager that made it. This manager's own events as they
   * happen; other processes' from the store, when it reports news. Each `for await` is its own
   * subscription from the moment it starts, with its own buffer (see `eventBufferSize`), and
   * ends when the manager closes.
   */
  get events(): AsyncIterable<ManagerEvent> {
    return this.feed.iterable
  }

  /**
   * Settles once other processes record their events for this manager's subscribers: at once
   * while its lease says it listens (a subscriber, or one that left less than `leaseMs` ago);
   * after a first subscriber, `pollIntervalMs` + 400 ms after its lease says so, time for the
   * others (polling no slower than this manager) to read it. A view that subscribes, then
   * reads the jobs it shows, reads them after this and misses no change another process makes.
   */
  othersRecording(): Promise<void> {
    return this.presence.othersRecording()
  }

  // ---------------------------------------------------------------- dispatch

  /** Dispatches a job of a registered type with typed params. */
  async dispatch<D extends JobDefinition>(
    definition: D,
    params: ParamsOf<D>,
    options: DispatchOptions = {},
  ): Promise<JobHandle<OutputOf<D>, ProgressOf<D>>> {
    this.assertAccepting()
    const registered = this.registry.get(definition.name)
    if (registered !== definition) throw new UnknownJobType({ name: definition.name, known: this.registry.names() })
    return (await this.insert(definition, params, options)) as JobHandle<OutputOf<D>, ProgressOf<D>>
  }

  /** Dispatches by type name with JSON params, validated against the type's params schema. */
  async dispatchByName(name: string, params: unknown, options: DispatchOptions = {}): Promise<JobHandle> {
    this.assertAccepting()
    const { definition, params: decoded } = this.registry.decodeParams(name, params)
    return this.insert(definition, decoded, options)
  }

  /**
   * Dispatches many jobs of one type in one transaction, all or none: each item's params are
   * validated first (`InvalidParams` naming the index of the first bad item; nothing stored),
   * and `options` (one for every item, or an array with each item's own) apply per item, as
   * `dispatch` applies them (a unique key a live job holds, or an earlier item: that job's
   * handle). Resolves with the handles in order. On SQLite the event loop waits for the
   * transaction: give a long list in chunks of about 10,000 (each then all or none).
   */
  async dispatchMany<D extends JobDefinition>(
    definition: D,
    paramsList: ReadonlyArray<ParamsOf<D>>,
    options?: DispatchOptions | ReadonlyArray<DispatchOptions | undefined>,
  ): Promise<ReadonlyArray<JobHandle<OutputOf<D>, ProgressOf<D>>>> {
    this.assertAccepting()
    const registered = this.registry.get(definition.name)
    if (registered !== definition) throw new UnknownJobType({ name: definition.name, known: this.registry.names() })
    return (await this.insertMany(definition, paramsList, options)) as ReadonlyArray<
      JobHandle<OutputOf<D>, ProgressOf<D>>
    >
  }

  /** `dispatchMany` by type name with JSON params, each validated as `dispatchByName` validates them. */
  async dispatchManyByName(
    name: string,
    paramsList: ReadonlyArray<unknown>,
    options?: DispatchOptions | ReadonlyArray<DispatchOptions | undefined>,
  ): Promise<ReadonlyArray<JobHandle>> {
    this.assertAccepting()
    const definition = this.registry.require(name)
    const decoded = itemsOf(paramsList).map((params, index) =>
      atIndex(index, () => this.registry.decodeParams(name, params).params),
    )
    return this.insertMany(definition, decoded, options)
  }

  private async insertMany(
    definition: JobDefinition,
    paramsList: ReadonlyArray<unknown>,
    options: DispatchOptions | ReadonlyArray<DispatchOptions | undefined> | undefined,
  ): Promise<ReadonlyArray<JobHandle>> {
    const items = itemsOf(paramsList)
    if (Array.isArray(options) && options.length !== items.length)
      throw new InvalidOptions({
        option: "dispatchMany options",
        detail: `${options.length} options for ${items.length} items: give one for all, or one per item`,
      })
    const context = this.newJobContext()
    const jobs = items.map((params, index) => {
      const own: DispatchOptions = (Array.isArray(options) ? options[index] : options) ?? {}
      return atIndex(index, () => newJob(definition, params, own, context, `[${index}].`))
    })
    const stored = await this.store.insertJobs(jobs)
    return jobs.map((job, i) => {
      const result = stored[i]!
      if (!result.inserted) return new JobHandle(result.existing.id, result.existing.name, this)
      this.queued(job)
      return new JobHandle(job.id, definition.name, this)
    })
  }

  private async insert(definition: JobDefinition, params: unknown, options: DispatchOptions): Promise<JobHandle> {
    const job = newJob(definition, params, options, this.newJobContext())
    const stored = await this.store.insertJob(job)
    if (!stored.inserted) return new JobHandle(stored.existing.id, stored.existing.name, this)
    this.queued(job)
    return new JobHandle(job.id, definition.name, this)
  }

  /** What `newJob` needs of this manager, for a dispatch and for a schedule's tick. */
  private newJobContext(): NewJobContext {
    return {
      generateId: this.generateId,
      now: this.engine.now(),
      iso: this.engine.iso(),
      event: (name) => this.engine.eventMeta(name),
    }
  }

  /** A job this manager stored: announced on `manager.events`, and run (by this manager, with `runOnlyOwn`). */
  private queued(job: NewJob) {
    this.engine.publish(job.id, job.name, { type: "status", status: "queued" }, job.createdAt)
    this.own?.add(job.id)
    this.engine.wake(true)
  }

  /** With `runOnlyOwn`: let this manager run an existing job too (e.g. one it resumes). */
  runJob(id: string) {
    this.own?.add(id)
    this.engine.wake(true)
  }

  // ---------------------------------------------------------------- schedules

  /**
   * Stores a schedule that dispatches `Job` with `params` at each tick of `options.cron` (read
   * in `options.timezone`, default UTC), or replaces the definition of the schedule with this
   * name. Params are validated as `dispatch` validates them (`InvalidParams`); a bad cron
   * expression or zone is an `InvalidOptions` naming it; nothing is stored then. Each tick
   * fires once across every manager on the store that registered the type.
   */
  async schedule<D extends JobDefinition>(
    name: string,
    definition: D,
    params: ParamsOf<D>,
    options: ScheduleOptions,
  ): Promise<ScheduleInfo> {
    this.assertAccepting()
    return this.scheduler.schedule(name, definition, params, options)
  }

  /**
   * `schedule` by type name with JSON params, read as `dispatchByName` reads them (the type's
   * JSON form: an ISO string for a `Schema.Date`); `UnknownJobType` for a type this manager
   * does not know, `InvalidParams` and `InvalidOptions` as `schedule`.
   */
  async scheduleByName(
    name: string,
    jobName: string,
    params: unknown,
    options: ScheduleOptions,
  ): Promise<ScheduleInfo> {
    this.assertAccepting()
    const { definition, params: decoded } = this.registry.decodeParams(jobName, params)
    return this.scheduler.schedule(name, definition, decoded, options)
  }

  /** Deletes a schedule (jobs it dispatched stay); resolves with whether it existed. */
  async unschedule(name: string): Promise<boolean> {
    this.assertAccepting()
    return this.scheduler.unschedule(name)
  }

  /** Every schedule on the store, by name, with its next tick and last fire. */
  listSchedules(): Promise<ReadonlyArray<ScheduleInfo>> {
    return this.scheduler.list()
  }

  // ---------------------------------------------------------------- commands

  /**
   * Sends an event to a machine job (`defineMachineJob`). The event is checked against the
   * type's `events` schema (`InvalidParams` naming what is wrong) and stored in the job's inbox;
   * resolves once it is stored. The job applies its events in the order stored, each exactly
   * once, whether it is running, resting, queued, paused or its worker is down: a resting job is
   * woken, a paused one applies them once resumed. Rejects with `JobNotFound`, and with
   * `InvalidTransition` for a job at rest (completed, failed, cancelled: nothing is stored).
   */
  async send(id: string, event: SentEvent): Promise<void> {
    this.assertAccepting()
    const row = await this.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    const { definition, event: decoded } = this.registry.decodeEvent(row.name, event)
    const encoded = encodeJsonWith(definition.machine.events, decoded, `event for job ${id}`)
    const sent = await this.store.sendEvent({ id, event: JSON.stringify(encoded), at: new Date().toISOString() })
    if (!sent.found) throw new JobNotFound({ id })
    if (sent.seq === null)
      throw new InvalidTransition({
        id,
        event: `send ${JSON.stringify((event as EventObject).type)} to`,
        status: sent.status as JobStatus,
      })
    // Running here: it reads its inbox now; resting: the send let it go, and a slot may take it.
    this.engine.machineNewsFor(id)
    this.engine.wake(true)
  }

  /** Pauses a job; resolves once it is paused and stored (or with the status it ended in first). */
  pause(id: string): Promise<JobStatus> {
    return this.command(id, { type: "PAUSE", by: "user" })
  }

  /**
   * Resumes a paused job from its last checkpoint; resolves once it is queued again (it runs
   * when a slot is free). A stalled job (its manager is gone) is put back in line the same way.
   */
  resume(id: string): Promise<JobStatus> {
    return this.command(id, { type: "RESUME" })
  }

  /** Cancels a queued, running or paused job; resolves once it is cancelled and stored (or ended first). */
  cancel(id: string): Promise<JobStatus> {
    return this.command(id, { type: "CANCEL" })
  }

  /**
   * Puts a failed or cancelled job back in line with a fresh retry budget; it continues from
   * its last checkpoint. Resolves once it is queued. Rejects with `InvalidTransition` for a job
   * in any other status, and `UniqueKeyTaken` when another live job holds its unique key.
   * `overrides` (`timeoutMs`, `retry`) replace the dispatch's own for the attempts it starts, so
   * a job that timed out can be retried with more time (`InvalidOptions` when one is bad).
   */
  async retry(id: string, overrides: RetryOverrides = {}): Promise<JobStatus> {
    this.assertAccepting()
    await storeRetryOverrides(this.store, id, overrides, (id) => this.statusOf(id))
    // A cleanup still removing the job's files must not race its next attempt.
    await this.engine.cleanups.pending(id)
    return this.command(id, { type: "RETRY" })
  }

  private async command(id: string, event: CommandEvent): Promise<JobStatus> {
    this.assertAccepting()
    // A parent's pause, resume, cancel or retry is its children's too.
    const { status } = await withChildren(
      event,
      () => this.engine.command(id, event),
      () => this.engine.cascade(id, event),
    )
    return status
  }

  // ---------------------------------------------------------------- retention

  /**
   * Deletes the jobs at rest in `statuses` (only `completed`, `failed`, `cancelled`; a live status
   * is an `InvalidOptions` and nothing is deleted) that ended more than `olderThanMs` ago (0: all),
   * with their log lines, events and private directories. Resolves with how many were deleted.
   */
  async prune(options: PruneOptions): Promise<number> {
    this.assertAccepting()
    return pruneJobs(this.store, options, this.engine.now(), (ids) => this.engine.cleanups.removeDirs(ids))
  }

  /** Applies the `retention` option now (it also runs after open and periodically). @internal */
  applyRetention(): Promise<void> {
    return this.retention?.pass() ?? Promise.resolve()
  }

  // ---------------------------------------------------------------- queries

  /** Registered job type names. */
  listJobTypes(): ReadonlyArray<string> {
    return this.registry.names()
  }

  /** JSON Schemas of a type's params, output and progress (and a machine job's events). Throws `UnknownJobType`. */
  getJobSchema(name: string): JobTypeSchema {
    return this.registry.schema(name)
  }

  /**
   * A machine job type's machine (`defineMachineJob`), to draw or inspect it; undefined for a
   * type that is not one. Throws `UnknownJobType`.
   */
  getJobMachine(name: string): AnyStateMachine | undefined {
    const definition = this.registry.require(name)
    return isMachineJob(definition) ? definition.machine.machine : undefined
  }

  async listJobs(filter: ListJobsFilter = {}): Promise<ReadonlyArray<JobInfo>> {
    const { createdAfter, createdBefore, after, before, ...rest } = filter
    if (rest.status !== undefined && !isJobStatus(rest.status))
      throw new InvalidOptions({
        option: "listJobs.status",
        detail: `${JSON.stringify(rest.status)} is not a status: one of ${jobStatuses.join(", ")}`,
      })
    if (rest.offset !== undefined && (after !== undefined || before !== undefined))
      throw new InvalidOptions({
        option: "listJobs.offset",
        detail: "a keyset page (`after` or `before`) takes no `offset`: the cursor is the place",
      })
    const query = {
      ...rest,
      ...isoBound(createdAfter, "createdAfter"),
      ...isoBound(createdBefore, "createdBefore"),
      ...(await this.cursor(after, before)),
    }
    const [rows, owners] = await Promise.all([this.store.listJobs(query), this.presence.owners()])
    return rows.map((row) => this.withLiveProgress(toJobInfo(row, owners)))
  }

  /** A keyset cursor's `seq`: the job it names must exist (a page of a pruned job has no place). */
  private async cursor(after: string | undefined, before: string | undefined) {
    if (after !== undefined && before !== undefined)
      throw new InvalidOptions({ option: "listJobs", detail: "give `after` or `before`, not both" })
    const option = after !== undefined ? "after" : "before"
    const id = after ?? before
    if (id === undefined) return {}
    const row = typeof id === "string" ? await this.store.getJob(id) : undefined
    if (row === undefined)
      throw new InvalidOptions({ option: `listJobs.${option}`, detail: `no job ${JSON.stringify(id)} to page from` })
    return option === "after" ? { afterSeq: Number(row.seq) } : { beforeSeq: Number(row.seq) }
  }

  /** Every manager on the store (this one too): host, pid, types, concurrency, running jobs, lease age. */
  async listManagers(): Promise<ReadonlyArray<ManagerInfo>> {
    const [owners, running] = await Promise.all([this.presence.owners(), this.store.listJobs({ status: "running" })])
    const runningBy = new Map<string, string[]>()
    for (const row of running)
      if (row.owner !== null) runningBy.set(row.owner, [...(runningBy.get(row.owner) ?? []), row.id])
    return owners.leases().map((lease) => ({
      id: lease.id,
      host: lease.host,
      pid: lease.pid,
      types: lease.types,
      concurrency: lease.concurrency,
      running: runningBy.get(lease.id) ?? [],
      leaseMs: lease.leaseMs,
      renewedAgoMs: lease.renewedAgoMs,
      state: owners.deadOwner(lease.id)?.reason ?? "live",
      self: lease.id === this.id,
    }))
  }

  async listRunningJobs(): Promise<ReadonlyArray<JobInfo>> {
    const owners = await this.presence.owners()
    const rows = await Promise.all(this.engine.liveIds().map((id) => this.store.getJob(id)))
    return rows.flatMap((row) => (row === undefined ? [] : [this.withLiveProgress(toJobInfo(row, owners))]))
  }

  /** Everything stored about a job. Rejects with `JobNotFound`. */
  async getJobInfo(id: string): Promise<JobInfo> {
    const [row, owners, counts] = await Promise.all([
      this.store.getJob(id),
      this.presence.owners(),
      this.store.childCounts(id),
    ])
    if (row === undefined) throw new JobNotFound({ id })
    const info = { ...this.withLiveProgress(toJobInfo(row, owners)), ...machineInfo(row) }
    if (counts.length === 0) return info
    return { ...info, children: Object.fromEntries(counts.map((c) => [c.status, c.count])) }
  }

  /** The job's log lines, oldest first. */
  async getJobLogs(
    id: string,
    options: { readonly afterSeq?: number; readonly limit?: number } = {},
  ): Promise<ReadonlyArray<JobLogLine>> {
    return (await this.store.logs(id, options.afterSeq, options.limit)).map(toJobLogLine)
  }

  /** The job's params as stored (schema-encoded, JSON-ready). Rejects with `JobNotFound`, or `SerializationError` for a damaged row. */
  async getJobParams(id: string): Promise<unknown> {
    const row = await this.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return unpack(row.params, `params of job ${id}`)
  }

  /** How many jobs are stored per status and type (counts kept with the rows: cheap at any size): for dashboards. */
  countJobs(): Promise<ReadonlyArray<JobCount>> {
    return this.store.countJobs()
  }

  /** How many jobs ended since `since` (a `Date` or epoch ms), per minute and status: throughput. */
  endedPerMinute(since: Date | number): Promise<ReadonlyArray<EndedCount>> {
    return this.store.endedPerMinute(new Date(since).toISOString())
  }

  /** Ids of stored jobs that start with `prefix`, at most `limit` (10), in id order. */
  findJobIds(prefix: string, limit = 10): Promise<ReadonlyArray<string>> {
    return this.store.idsWithPrefix(prefix, limit)
  }

  /** A handle on an existing job (e.g. one dispatched before a restart). Rejects with `JobNotFound`. */
  async handle(id: string): Promise<JobHandle> {
    const row = await this.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return new JobHandle(id, row.name, this)
  }

  /** Counters of the engine's writes, for tests and benchmarks. */
  stats() {
    return { ...this.engine.stats, running: this.engine.runningCount }
  }

  private withLiveProgress(info: JobInfo): JobInfo {
    const live = this.engine.liveProgress(info.id)
    return live === null ? info : { ...info, progressData: live }
  }

  // ---------------------------------------------------------------- JobHandleSource

  async statusOf(id: string): Promise<JobStatus> {
    const live = this.engine.liveStatus(id)
    if (live !== undefined) return live
    const row = await this.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return toJobInfo(row).status
  }

  resultOf(id: string): Promise<unknown> {
    return this.watchers.result(id)
  }

  progressOf(id: string): AsyncIterable<Progress<unknown>> {
    return this.watchers.progress(id)
  }

  // ---------------------------------------------------------------- close

  /**
   * Graceful shutdown: stops claiming, asks running jobs to pause at their next interrupt point
   * (they resume on the next open), interrupts those that do not within `interruptGraceMs`,
   * writes everything, and closes the store.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // The store's connections do not hold the process open; until close() resolves, this does.
      const keepAlive = setInterval(() => {}, 1_000)
      try {
        await this.closeNow()
      } finally {
        clearInterval(keepAlive)
      }
    })()
    return this.closing
  }

  private async closeNow() {
    clearInterval(this.keepAlive)
    this.actor.send({ type: "CLOSE" })
    this.detachClock?.()
    // Its last lease write lands before the lease is dropped, not after.
    const leaseWritten = this.presence.stop()
    await this.scheduler.stop()
    await this.retention?.stop()
    await this.engine.drain()
    this.health.settle()
    this.watchers.closeAll()
    this.feed.close()
    try {
      await leaseWritten.catch(() => undefined)
      // A store that fails now (an outage at shutdown) keeps the lease until it expires: said, not thrown.
      await this.store.dropLease(this.id).catch(this.onError)
    } finally {
      await this.store.close()
      this.actor.send({ type: "CLOSED" })
      this.actor.stop()
      // Last: the spans of the attempts close() paused have ended, and are flushed now.
      await this.telemetry?.close().catch(this.onError)
    }
  }

  /**
   * Stops this manager as if its process were killed: no more writes, no graceful pause, its
   * lease left to expire. For testing resumability (`jobstate/testing`); not for apps.
   * @internal
   */
  async simulateCrash(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.keepAlive)
      const keepAlive = setInterval(() => {}, 1_000)
      this.detachClock?.()
      void this.presence.stop()
      void this.scheduler.stop()
      void this.retention?.stop()
      this.actor.send({ type: "CRASHED" })
      this.engine.crash()
      this.watchers.closeAll()
      this.feed.close()
      await this.store.close().finally(() => clearInterval(keepAlive))
      this.actor.stop()
      await this.telemetry?.close().catch(this.onError)
    })()
    return this.closing
  }

  /** Follows a job's events as this manager sees them (status, progress, committed checkpoints). @internal */
  subscribeJob(id: string, listener: (event: JobEvent) => void): () => void {
    return this.engine.subscribe(id, listener)
  }

  /** Refuses work unless the manager's machine is in a state that takes it (`ready`). */
  private assertAccepting() {
    if (!acceptsWork(this.actor.getSnapshot())) throw new ManagerClosed()
  }

  /** The manager lifecycle state: "recovering" | "ready" | "closing" | "closed". */
  get lifecycle(): string {
    return String(this.actor.getSnapshot().value)
  }
}

/** A `listJobs` time bound as the store compares it (ISO 8601), or an `InvalidOptions` naming it. */
const isoBound = (value: Date | number | undefined, option: "createdAfter" | "createdBefore") => {
  if (value === undefined) return {}
  const ms = value instanceof Date ? value.getTime() : value
  if (!(typeof ms === "number" && Number.isFinite(ms)))
    throw new InvalidOptions({ option, detail: `expected a Date or ms since the epoch, got ${String(value)}` })
  return { [option]: new Date(ms).toISOString() }
}

/** The items of a `dispatchMany`: an array, or an `InvalidOptions` saying what was given. */
const itemsOf = (paramsList: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  if (!Array.isArray(paramsList))
    throw new InvalidOptions({
      option: "dispatchMany",
      detail: `expected an array of params, got ${typeof paramsList}`,
    })
  return paramsList
}

/** Runs `make` for item `index`; an `InvalidParams` it throws names the item. */
const atIndex = <A>(index: number, make: () => A): A => {
  try {
    return make()
  } catch (error) {
    if (error instanceof InvalidParams && error.index === undefined)
      throw new InvalidParams({
        jobName: error.jobName,
        issues: error.issues,
        index,
        ...(error.of ? { of: error.of } : {}),
      })
    throw error
  }
}
