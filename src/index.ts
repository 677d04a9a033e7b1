/** jobstate: an embeddable, persistent job engine. This file is its main public entry. */

/** Defines a job type: schemas for params, state, output and progress, plus `run`. */
export { defineJob } from "./jobs/defineJob.js"
export type {
  JobDefinition,
  JobContext,
  JobCleanupInfo,
  JobOp,
  JobSchema,
  LogLevel,
  ParamsOf,
  OutputOf,
  ProgressOf,
} from "./jobs/defineJob.js"
/** Machine jobs: a job whose logic is an XState machine, durable at every transition; `fromJob` invokes a child job from it. */
export { defineMachineJob, fromJob, fromStep } from "./jobs/defineMachineJob.js"
export type {
  MachineJobDefinition,
  MachineJobInput,
  MachineJobState,
  MachineTimer,
  EventsOf,
  SentEvent,
  StepArgs,
} from "./jobs/defineMachineJob.js"
/** Progress values: `Progress.percentage(0.5)`, `Progress.structured(data)`, `Progress.indeterminate()`, `Progress.count(3, 10)`. */
export { Progress } from "./jobs/Progress.js"
/** The six statuses, as a frozen constant and a union type. */
export { JobStatus, isTerminalStatus } from "./jobs/JobStatus.js"
/** Dispatch priorities: `LOW = -1`, `NORMAL = 0`, `HIGH = 1`, `CRITICAL = 10`. */
export { JobPriority } from "./jobs/JobPriority.js"
/** The registry of job types a manager knows (names, JSON Schemas, validation). */
export type { JobRegistry, JobTypeSchema } from "./jobs/JobRegistry.js"
/** Tagged errors users see; stored errors are plain `StoredError` data. */
export {
  UnknownJobType,
  InvalidParams,
  JobNotFound,
  InvalidTransition,
  JobFailed,
  JobCancelled,
  JobInterrupted,
  JobCleanupFailed,
  JobCallIgnored,
  DuplicateJobType,
  PersistenceError,
  StoreRecovered,
  SerializationError,
  ManagerClosed,
  InvalidOptions,
  JobTimeout,
  UniqueKeyTaken,
  ChildJobFailed,
  StateMigrationFailed,
  EventsOverflow,
  type StoredError,
  type ParamsIssue,
} from "./jobs/errors.js"
/** When a failed attempt is tried again, and how long to wait. */
export type { RetryPolicy, Backoff } from "./jobs/retryPolicy.js"
/** The manager: open, dispatch, pause, resume, cancel, list, close; `manager.effect` has the Effect twins. */
export {
  JobManager,
  type JobManagerOptions,
  type DispatchOptions,
  type ListJobsFilter,
  type RetryOverrides,
  type ManagerInfo,
} from "./actors/JobManager.js"
/** The `clock` option of `JobManager.open`: where the engine reads the time and sets its timers (`testClock()` in `jobstate/testing`). */
export type { Clock, ClockTimer } from "./actors/clock.js"
/** Cron schedules: `manager.schedule(name, Job, params, { cron, timezone?, priority? })` (`scheduleByName` with JSON params), `unschedule`, `listSchedules`. */
export type { ScheduleInfo, ScheduleOptions } from "./actors/Scheduler.js"
/** `manager.prune(options)` and the `retention` option of `JobManager.open`. */
export type { PruneOptions, RetentionPolicy, RestingStatus } from "./actors/retention.js"
/** The manager as an Effect service, a scoped layer that opens and closes it, and the typed failures of `manager.effect`'s calls. */
export { JobManagerService, JobManagerLayer } from "./actors/JobManagerLayer.js"
export {
  type JobManagerEffect,
  type DispatchError,
  type CommandError,
  type ResultError,
  type ScheduleError,
  type SendError,
} from "./actors/JobManagerEffect.js"
/** The `telemetry` option of `JobManager.open`, the outcomes attempt spans carry, and the span, attribute and metric names. */
export { TelemetryNames, type TelemetryLayer, type AttemptOutcome } from "./actors/telemetry.js"
/** What `manager.events` (and its Stream twin `manager.effect.events`) yields. */
export type { ManagerEvent } from "./actors/JobEvents.js"
/** A dispatched job: `status()`, `progress` (async iterable), `result()`. */
export type { JobHandle } from "./actors/JobHandle.js"
/** What `getJobInfo` and `listJobs` return, and one line of a job's log. */
export type { JobInfo, JobLogLine } from "./actors/JobInfo.js"
/** What a job in a given status accepts (`JobInfo.commands`): pause, resume, cancel, retry. */
export type { JobCommand } from "./machines/jobLifecycleMachine.js"
/** The store interface both stores implement (for tools that read a store directly). */
export type { JobStore } from "./persistence/JobStore.js"
/** The pure lifecycle machine (for `xstate/graph`, visualisation and the inspector). */
export { jobLifecycleMachine } from "./machines/jobLifecycleMachine.js"
/** The manager's own lifecycle machine. */
export { managerMachine } from "./machines/managerMachine.js"

// Not here, each its own entry point that `jobstate` never loads: `jobstate/builtin` (FileCopyJob,
// IndexerJob), `jobstate/dashboard` (the web dashboard) and `jobstate/testing`.
