import { Effect, Stream } from "effect"
import type { JobDefinition, OutputOf, ParamsOf, ProgressOf } from "../jobs/defineJob.js"
import type { EventsOverflow } from "../jobs/errors.js"
import type {
  InvalidOptions,
  InvalidParams,
  InvalidTransition,
  JobCancelled,
  JobFailed,
  JobNotFound,
  ManagerClosed,
  PersistenceError,
  SerializationError,
  UniqueKeyTaken,
  UnknownJobType,
} from "../jobs/errors.js"
import type { JobTypeSchema } from "../jobs/JobRegistry.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import type { EndedCount, JobCount } from "../persistence/JobStore.js"
import type { ManagerEvent } from "./JobEvents.js"
import type { JobHandle } from "./JobHandle.js"
import type { JobInfo, JobLogLine } from "./JobInfo.js"
import type { DispatchOptions, JobManager, ListJobsFilter, RetryOverrides } from "./JobManager.js"
import type { ScheduleInfo, ScheduleOptions } from "./Scheduler.js"
import type { SentEvent } from "../jobs/defineMachineJob.js"
import type { PruneOptions } from "./retention.js"

export type DispatchError =
  | UnknownJobType
  | InvalidParams
  | InvalidOptions
  | PersistenceError
  | SerializationError
  | ManagerClosed
export type CommandError = JobNotFound | InvalidTransition | PersistenceError | SerializationError | ManagerClosed
/** What `send` may fail with. */
export type SendError =
  | JobNotFound
  | InvalidParams
  | InvalidTransition
  | UnknownJobType
  | PersistenceError
  | SerializationError
  | ManagerClosed
export type ResultError = JobFailed | JobCancelled | JobNotFound | PersistenceError | ManagerClosed
export type ScheduleError =
  | UnknownJobType
  | InvalidParams
  | InvalidOptions
  | PersistenceError
  | SerializationError
  | ManagerClosed

const isTagged = (e: unknown): boolean =>
  typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string"

/** A Promise-returning call as an Effect whose tagged rejections are typed failures and the rest defects. */
export const lift = <A, E>(f: () => Promise<A> | A): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    Promise.resolve()
      .then(f)
      .then(
        (a) => resume(Effect.succeed(a)),
        (e) => resume(isTagged(e) ? Effect.fail(e as E) : Effect.die(e)),
      )
  })

/** The manager's operations as Effects with typed errors (`manager.effect`). */
export class JobManagerEffect {
  constructor(private readonly manager: JobManager) {}

  dispatch<D extends JobDefinition>(definition: D, params: ParamsOf<D>, options?: DispatchOptions) {
    return lift<JobHandle<OutputOf<D>, ProgressOf<D>>, DispatchError>(() =>
      this.manager.dispatch(definition, params, options),
    )
  }
  dispatchByName(name: string, params: unknown, options?: DispatchOptions) {
    return lift<JobHandle, DispatchError>(() => this.manager.dispatchByName(name, params, options))
  }
  dispatchMany<D extends JobDefinition>(
    definition: D,
    paramsList: ReadonlyArray<ParamsOf<D>>,
    options?: DispatchOptions | ReadonlyArray<DispatchOptions | undefined>,
  ) {
    return lift<ReadonlyArray<JobHandle<OutputOf<D>, ProgressOf<D>>>, DispatchError>(() =>
      this.manager.dispatchMany(definition, paramsList, options),
    )
  }
  dispatchManyByName(
    name: string,
    paramsList: ReadonlyArray<unknown>,
    options?: DispatchOptions | ReadonlyArray<DispatchOptions | undefined>,
  ) {
    return lift<ReadonlyArray<JobHandle>, DispatchError>(() =>
      this.manager.dispatchManyByName(name, paramsList, options),
    )
  }
  send(id: string, event: SentEvent) {
    return lift<void, SendError>(() => this.manager.send(id, event))
  }
  pause(id: string) {
    return lift<JobStatus, CommandError>(() => this.manager.pause(id))
  }
  resume(id: string) {
    return lift<JobStatus, CommandError>(() => this.manager.resume(id))
  }
  cancel(id: string) {
    return lift<JobStatus, CommandError>(() => this.manager.cancel(id))
  }
  retry(id: string, overrides?: RetryOverrides) {
    return lift<JobStatus, CommandError | UniqueKeyTaken | InvalidOptions>(() => this.manager.retry(id, overrides))
  }
  schedule<D extends JobDefinition>(name: string, definition: D, params: ParamsOf<D>, options: ScheduleOptions) {
    return lift<ScheduleInfo, ScheduleError>(() => this.manager.schedule(name, definition, params, options))
  }
  scheduleByName(name: string, jobName: string, params: unknown, options: ScheduleOptions) {
    return lift<ScheduleInfo, ScheduleError>(() => this.manager.scheduleByName(name, jobName, params, options))
  }
  unschedule(name: string) {
    return lift<boolean, PersistenceError | ManagerClosed>(() => this.manager.unschedule(name))
  }
  listSchedules() {
    return lift<ReadonlyArray<ScheduleInfo>, PersistenceError>(() => this.manager.listSchedules())
  }
  result<O = unknown>(id: string) {
    return lift<O, ResultError>(() => this.manager.resultOf(id) as Promise<O>)
  }
  getJobSchema(name: string) {
    return lift<JobTypeSchema, UnknownJobType>(() => this.manager.getJobSchema(name))
  }
  /** `InvalidOptions` for a filter that names no status, a cursor with an offset, or an unknown cursor. */
  listJobs(filter?: ListJobsFilter) {
    return lift<ReadonlyArray<JobInfo>, InvalidOptions | PersistenceError>(() => this.manager.listJobs(filter))
  }
  listRunningJobs() {
    return lift<ReadonlyArray<JobInfo>, PersistenceError>(() => this.manager.listRunningJobs())
  }
  getJobInfo(id: string) {
    return lift<JobInfo, JobNotFound | PersistenceError>(() => this.manager.getJobInfo(id))
  }
  getJobLogs(id: string, options?: { readonly afterSeq?: number; readonly limit?: number }) {
    return lift<ReadonlyArray<JobLogLine>, PersistenceError>(() => this.manager.getJobLogs(id, options))
  }
  getJobParams(id: string) {
    return lift<unknown, JobNotFound | SerializationError | PersistenceError>(() => this.manager.getJobParams(id))
  }
  countJobs() {
    return lift<ReadonlyArray<JobCount>, PersistenceError>(() => this.manager.countJobs())
  }
  endedPerMinute(since: Date | number) {
    return lift<ReadonlyArray<EndedCount>, PersistenceError>(() => this.manager.endedPerMinute(since))
  }
  findJobIds(prefix: string, limit?: number) {
    return lift<ReadonlyArray<string>, PersistenceError>(() => this.manager.findJobIds(prefix, limit))
  }
  listJobTypes() {
    return Effect.sync(() => this.manager.listJobTypes())
  }
  prune(options: PruneOptions) {
    return lift<number, InvalidOptions | PersistenceError | ManagerClosed>(() => this.manager.prune(options))
  }
  handle(id: string) {
    return lift<JobHandle, JobNotFound | PersistenceError>(() => this.manager.handle(id))
  }
  close() {
    return lift<void, PersistenceError>(() => this.manager.close())
  }
  /**
   * `manager.events` as a Stream: each run is its own subscription from the moment it starts,
   * ends when the manager closes, and fails with `EventsOverflow` if it falls too far behind.
   */
  get events(): Stream.Stream<ManagerEvent, EventsOverflow> {
    // The subscription's iterator throws nothing else.
    return Stream.fromAsyncIterable(this.manager.events, (error) => error as EventsOverflow)
  }
}
