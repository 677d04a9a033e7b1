import { randomUUID } from "node:crypto"
import { Context, Effect, Exit, Layer, Schema } from "effect"
import { createActor, type Actor, type InspectionEvent, type Observer } from "xstate"
import type { JobDefinition, OutputOf, ParamsOf, ProgressOf } from "../jobs/defineJob.js"
import {
  InvalidParams,
  InvalidTransition,
  JobCancelled,
  JobFailed,
  JobNotFound,
  ManagerClosed,
  UnknownJobType,
  type DuplicateJobType,
  type PersistenceError,
  type SerializationError,
} from "../jobs/errors.js"
import { JobRegistry, type JobTypeSchema } from "../jobs/JobRegistry.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import { managerMachine } from "../machines/managerMachine.js"
import { pack, packWith, schemaIssues } from "../persistence/codec.js"
import { SqliteJobStore, type DbLog } from "../persistence/SqliteJobStore.js"
import { JobEngine } from "./JobEngine.js"
import { JobHandle, type JobHandleSource } from "./JobHandle.js"
import { JobWatchers } from "./JobWatchers.js"
import { toJobInfo, type JobInfo } from "./JobInfo.js"
import { liveOwners, thisHost } from "./leases.js"
import { encodeLifecycle, initialLifecycle, statusOf } from "./lifecycle.js"
import { recoverJobs } from "./recovery.js"
import { commandEvent } from "./remoteCommand.js"

export interface JobManagerOptions {
  /** Where `jobs.db` and each job's private directory live. */
  readonly dataDir: string
  readonly jobs: ReadonlyArray<JobDefinition>
  /** Jobs running at once. Default 4. */
  readonly concurrency?: number
  /** At most one progress write per job per this many ms; the last value is always written. Default 250. */
  readonly progressThrottleMs?: number
  /** How long pause, cancel and close wait for a job's next interrupt point before interrupting it. Default 10 000. */
  readonly interruptGraceMs?: number
  /** How often to look for jobs and commands from other processes. Default 100. */
  readonly pollIntervalMs?: number
  /** A manager whose lease is older than this is dead and its running jobs are recovered. Default 5 000. */
  readonly leaseMs?: number
  /** How long a write waits for another process's lock. Default 5 000. */
  readonly busyTimeoutMs?: number
  /** An XState inspection observer (e.g. the Stately inspector's `inspect`) for the manager and every job actor. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** Time source (ms since the epoch), for deterministic tests. */
  readonly now?: () => number
  readonly generateId?: () => string
  /** Called with errors no caller is waiting for (a failed background write). Default: console.error. */
  readonly onError?: (error: unknown) => void
}

export interface DispatchOptions {
  /** Higher runs first; see `JobPriority`. Default 0. */
  readonly priority?: number
}

export interface ListJobsFilter {
  readonly status?: JobStatus
  readonly limit?: number
  readonly offset?: number
}

export type DispatchError = UnknownJobType | InvalidParams | PersistenceError | SerializationError | ManagerClosed
export type CommandError = JobNotFound | InvalidTransition | PersistenceError | SerializationError | ManagerClosed
export type ResultError = JobFailed | JobCancelled | JobNotFound | PersistenceError | ManagerClosed

const isTagged = (e: unknown): boolean => typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string"

/** A Promise-returning call as an Effect whose tagged rejections are typed failures and the rest defects. */
const lift = <A, E>(f: () => Promise<A> | A): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    Promise.resolve()
      .then(f)
      .then(
        (a) => resume(Effect.succeed(a)),
        (e) => resume(isTagged(e) ? Effect.fail(e as E) : Effect.die(e)),
      )
  })

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
  private readonly timers: NodeJS.Timeout[] = []
  private readonly watchers: JobWatchers
  private seenDataVersion = -1
  private closing: Promise<void> | undefined
  private readonly generateId: () => string
  private readonly now: () => number
  private readonly onError: (error: unknown) => void
  private readonly leaseMs: number
  readonly id: string

  /** Opens a manager on `options.dataDir`, recovering interrupted jobs before it returns. */
  static async open(options: JobManagerOptions): Promise<JobManager> {
    const manager = new JobManager(options)
    await manager.recover()
    return manager
  }

  private constructor(readonly options: JobManagerOptions) {
    const registry = new JobRegistry(options.jobs)
    this.now = options.now ?? Date.now
    this.generateId = options.generateId ?? randomUUID
    this.id = randomUUID()
    this.leaseMs = options.leaseMs ?? 5_000
    this.actor = createActor(managerMachine, { inspect: options.inspect })
    this.actor.start()
    let store: SqliteJobStore
    try {
      store = SqliteJobStore.open(options.dataDir, { busyTimeoutMs: options.busyTimeoutMs })
    } catch (error) {
      this.actor.send({ type: "OPEN_FAILED", message: String((error as Error).message ?? error) })
      this.actor.stop()
      throw error
    }
    const onError = (this.onError = options.onError ?? ((e: unknown) => console.error("[jobstate]", e)))
    this.engine = new JobEngine(
      store,
      registry,
      {
        dataDir: options.dataDir,
        concurrency: Math.max(1, options.concurrency ?? 4),
        progressThrottleMs: options.progressThrottleMs ?? 250,
        interruptGraceMs: options.interruptGraceMs ?? 10_000,
        inspect: options.inspect,
        now: this.now,
        managerId: this.id,
      },
      onError,
    )
    this.watchers = new JobWatchers(this.engine)
  }

  /** Recovery on open; jobs recovered early start while later ones are still being recovered. */
  private async recover() {
    try {
      this.renewLease()
      const report = await recoverJobs(this.engine, liveOwners(this.engine.store, this.id, this.now(), this.leaseMs), { onOpen: true })
      this.actor.send({ type: "RECOVERED", resumed: report.resumed, failed: report.failed })
      this.engine.wake(true)
      const poll = setInterval(() => this.poll(), this.options.pollIntervalMs ?? 100)
      const sweep = setInterval(() => this.sweepDeadOwners(), Math.max(50, Math.floor(this.leaseMs / 2)))
      poll.unref()
      sweep.unref()
      this.timers.push(poll, sweep)
    } catch (error) {
      this.actor.send({ type: "OPEN_FAILED", message: String((error as Error).message ?? error) })
      this.actor.stop()
      this.engine.stop()
      this.engine.store.close()
      throw error
    }
  }

  private leaseRenewedAt = Number.NEGATIVE_INFINITY

  /** Renews the lease a few times per lease period: often enough to stay alive, rarely enough to cost nothing. */
  private renewLease() {
    const now = this.now()
    if (now - this.leaseRenewedAt < this.leaseMs / 4) return
    this.engine.store.renewLease({ id: this.id, pid: process.pid, host: thisHost, heartbeat_at: now })
    this.leaseRenewedAt = now
  }

  /**
   * Looks for what other processes did. `data_version` changes only when another connection
   * commits, so a manager alone on its database pays one pragma per poll and nothing more.
   */
  private poll() {
    try {
      this.renewLease()
      const version = this.engine.store.dataVersion()
      if (version === this.seenDataVersion) return
      this.seenDataVersion = version
      this.applyRequests()
      this.engine.wake(true)
      this.watchers.checkRemote()
    } catch (error) {
      this.onError(error)
    }
  }

  /** Commands that other processes (the CLI) left on the rows of jobs this manager runs. */
  private applyRequests() {
    for (const { id, request } of this.engine.store.requestsFor(this.id)) {
      this.engine.store.updateJob(id, { request: null }, this.engine.iso())
      const event = request === null ? undefined : commandEvent(request)
      if (event === undefined || !this.engine.live.has(id)) continue
      try {
        this.engine.command(id, event).catch(this.onError)
      } catch (error) {
        // An event the job's state does not accept (it moved on meanwhile): nothing to do.
        if (!(error instanceof InvalidTransition)) this.onError(error)
      }
    }
  }

  private sweeping = false

  private sweepDeadOwners() {
    if (this.sweeping) return
    this.sweeping = true
    Promise.resolve()
      .then(() => recoverJobs(this.engine, liveOwners(this.engine.store, this.id, this.now(), this.leaseMs), { onOpen: false }))
      .catch(this.onError)
      .finally(() => (this.sweeping = false))
  }

  // ---------------------------------------------------------------- dispatch

  /** Dispatches a job of a registered type with typed params. */
  dispatch<D extends JobDefinition>(
    definition: D,
    params: ParamsOf<D>,
    options: DispatchOptions = {},
  ): Promise<JobHandle<OutputOf<D>, ProgressOf<D>>> {
    try {
      return Promise.resolve(this.dispatchSync(definition, params, options) as JobHandle<OutputOf<D>, ProgressOf<D>>)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Dispatches by type name with JSON params, validated against the type's params schema. */
  dispatchByName(name: string, params: unknown, options: DispatchOptions = {}): Promise<JobHandle> {
    try {
      this.engine.assertAccepting()
      const { definition, params: decoded } = this.engine.registry.decodeParams(name, params)
      return Promise.resolve(this.dispatchSync(definition, decoded, options))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  private dispatchSync(definition: JobDefinition, params: unknown, options: DispatchOptions): JobHandle {
    this.engine.assertAccepting()
    const registered = this.engine.registry.get(definition.name)
    if (registered !== definition) {
      throw new UnknownJobType({ name: definition.name, known: this.engine.registry.names() })
    }
    const encoded = Schema.encodeUnknownExit(definition.params)(params, { errors: "all" })
    if (Exit.isFailure(encoded)) throw new InvalidParams({ jobName: definition.name, issues: schemaIssues(encoded.cause) })
    const id = this.generateId()
    const priority = options.priority ?? 0
    if (!Number.isInteger(priority)) {
      throw new InvalidParams({ jobName: definition.name, issues: [{ path: "(priority)", message: `Expected an integer, got ${priority}` }] })
    }
    this.engine.store.insertJob({
      id,
      name: definition.name,
      params: pack(encoded.value),
      data: packWith(definition.state, definition.initialState(params), `initial state of job ${id}`),
      status: "queued",
      snapshot: encodeLifecycle(initialLifecycle(id)),
      priority,
      created_at: this.engine.iso(),
    })
    this.engine.wake(true)
    return new JobHandle(id, definition.name, this)
  }

  // ---------------------------------------------------------------- commands

  /** Pauses a job; resolves once it is paused and stored (or with the status it ended in first). */
  pause(id: string): Promise<JobStatus> {
    return this.commandPromise(id, { type: "PAUSE", by: "user" })
  }

  /** Resumes a paused job from its last checkpoint; resolves once it is queued again (it runs when a slot is free). */
  resume(id: string): Promise<JobStatus> {
    return this.commandPromise(id, { type: "RESUME" })
  }

  /** Cancels a queued, running or paused job; resolves once it is cancelled and stored (or ended first). */
  cancel(id: string): Promise<JobStatus> {
    return this.commandPromise(id, { type: "CANCEL" })
  }

  private commandPromise(id: string, event: Parameters<JobEngine["command"]>[1]): Promise<JobStatus> {
    try {
      this.engine.assertAccepting()
      return this.engine.command(id, event)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  // ---------------------------------------------------------------- queries

  /** Registered job type names. */
  listJobTypes(): ReadonlyArray<string> {
    return this.engine.registry.names()
  }

  /** JSON Schemas of a type's params, output and progress. Throws `UnknownJobType`. */
  getJobSchema(name: string): JobTypeSchema {
    return this.engine.registry.schema(name)
  }

  async listJobs(filter: ListJobsFilter = {}): Promise<ReadonlyArray<JobInfo>> {
    return this.engine.store.listJobs(filter).map((row) => this.withLiveProgress(toJobInfo(row)))
  }

  async listRunningJobs(): Promise<ReadonlyArray<JobInfo>> {
    return [...this.engine.live.keys()].flatMap((id) => {
      const row = this.engine.store.getJob(id)
      return row === undefined ? [] : [this.withLiveProgress(toJobInfo(row))]
    })
  }

  /** Everything stored about a job. Rejects with `JobNotFound`. */
  async getJobInfo(id: string): Promise<JobInfo> {
    const row = this.engine.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return this.withLiveProgress(toJobInfo(row))
  }

  /** The job's log lines, oldest first. */
  async getJobLogs(id: string, options: { readonly afterSeq?: number; readonly limit?: number } = {}): Promise<ReadonlyArray<DbLog>> {
    return this.engine.store.logs(id, options.afterSeq, options.limit)
  }

  /** A handle on an existing job (e.g. one dispatched before a restart). Throws `JobNotFound`. */
  handle(id: string): JobHandle {
    const row = this.engine.store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    return new JobHandle(id, row.name, this)
  }

  /** Counters of the engine's writes, for tests and benchmarks. */
  stats() {
    return { ...this.engine.stats, running: this.engine.live.size }
  }

  private withLiveProgress(info: JobInfo): JobInfo {
    const live = this.engine.live.get(info.id)
    if (live === undefined || live.latestProgress === null) return info
    return { ...info, progressData: live.latestProgress }
  }

  // ---------------------------------------------------------------- JobHandleSource

  statusOf(id: string): JobStatus {
    const live = this.engine.live.get(id)
    if (live !== undefined) return statusOf(live.actor.getSnapshot().value)
    const row = this.engine.store.getJob(id)
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
   * writes everything, and closes the database.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.actor.send({ type: "CLOSE" })
      for (const t of this.timers) clearInterval(t)
      await this.engine.drain()
      this.watchers.closeAll()
      try {
        this.engine.store.dropLease(this.id)
      } finally {
        this.engine.store.close()
        this.actor.send({ type: "CLOSED" })
        this.actor.stop()
      }
    })()
    return this.closing
  }

  /** The manager lifecycle state: "recovering" | "ready" | "closing" | "closed". */
  get lifecycle(): string {
    return String(this.actor.getSnapshot().value)
  }

  // ---------------------------------------------------------------- Effect twins

  /** The same operations as Effects with typed errors. */
  readonly effect = {
    dispatch: <D extends JobDefinition>(definition: D, params: ParamsOf<D>, options?: DispatchOptions) =>
      lift<JobHandle<OutputOf<D>, ProgressOf<D>>, DispatchError>(() => this.dispatch(definition, params, options)),
    dispatchByName: (name: string, params: unknown, options?: DispatchOptions) =>
      lift<JobHandle, DispatchError>(() => this.dispatchByName(name, params, options)),
    pause: (id: string) => lift<JobStatus, CommandError>(() => this.pause(id)),
    resume: (id: string) => lift<JobStatus, CommandError>(() => this.resume(id)),
    cancel: (id: string) => lift<JobStatus, CommandError>(() => this.cancel(id)),
    result: <O = unknown>(id: string) => lift<O, ResultError>(() => this.resultOf(id) as Promise<O>),
    getJobSchema: (name: string) => lift<JobTypeSchema, UnknownJobType>(() => this.getJobSchema(name)),
    listJobs: (filter?: ListJobsFilter) => lift<ReadonlyArray<JobInfo>, PersistenceError>(() => this.listJobs(filter)),
    listRunningJobs: () => lift<ReadonlyArray<JobInfo>, PersistenceError>(() => this.listRunningJobs()),
    getJobInfo: (id: string) => lift<JobInfo, JobNotFound | PersistenceError>(() => this.getJobInfo(id)),
    getJobLogs: (id: string, options?: { readonly afterSeq?: number; readonly limit?: number }) =>
      lift<ReadonlyArray<DbLog>, PersistenceError>(() => this.getJobLogs(id, options)),
    listJobTypes: () => Effect.sync(() => this.listJobTypes()),
    handle: (id: string) => lift<JobHandle, JobNotFound | PersistenceError>(() => this.handle(id)),
    close: () => lift<void, PersistenceError>(() => this.close()),
  }
}

/** The manager as an Effect service. */
export class JobManagerService extends Context.Service<JobManagerService, JobManager>()("jobstate/JobManager") {}

/** Opens a manager for the layer's scope and closes it (gracefully) when the scope ends. */
export const JobManagerLayer = (options: JobManagerOptions): Layer.Layer<JobManagerService, PersistenceError | DuplicateJobType> =>
  Layer.effect(JobManagerService)(
    Effect.acquireRelease(
      lift<JobManager, PersistenceError | DuplicateJobType>(() => JobManager.open(options)),
      (manager) => Effect.promise(() => manager.close()),
    ),
  )
