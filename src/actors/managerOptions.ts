import { randomUUID } from "node:crypto"
import { Layer } from "effect"
import type { InspectionEvent, Observer } from "xstate"
import type { JobDefinition } from "../jobs/defineJob.js"
import { InvalidOptions } from "../jobs/errors.js"
import { DEFAULT_BUSY_TIMEOUT_MS } from "../persistence/SqliteJobStore.js"
import { realClock, type Clock } from "./clock.js"
import { validateRetention, type RetentionPolicy } from "./retention.js"
import type { TelemetryLayer } from "./telemetry.js"
import { nearNames } from "./nearNames.js"

export interface JobManagerOptions {
  /** Where each job's private directory lives, and (without `databaseUrl`) `jobs.db`. */
  readonly dataDir: string
  /** `postgres://…`: keep jobs in PostgreSQL (many processes on many machines). Default: SQLite at `<dataDir>/jobs.db`. */
  readonly databaseUrl?: string
  readonly jobs: ReadonlyArray<JobDefinition>
  /** Jobs running at once. Default 4; 0 is a producer that dispatches, queries and controls jobs and runs none. */
  readonly concurrency?: number
  /** Run only jobs of these registered types (default: all registered). */
  readonly types?: ReadonlyArray<string>
  /** Run only the jobs this manager dispatched or was asked to `runJob` (for a CLI that runs one job). */
  readonly runOnlyOwn?: boolean
  /** At most one progress write per job per this many ms; the last value is always written. Default 250. */
  readonly progressThrottleMs?: number
  /** How long pause, cancel and close wait for a job's next interrupt point before interrupting it. Default 10 000. */
  readonly interruptGraceMs?: number
  /** How often to look for jobs and commands from other processes. Default 100. */
  readonly pollIntervalMs?: number
  /** This manager's lease: others judge it dead once it has gone this long unrenewed by the store's clock. Default 5 000. */
  readonly leaseMs?: number
  /** How long a write waits for another process's lock (SQLite). Default 5 000. */
  readonly busyTimeoutMs?: number
  /** An XState inspection observer (e.g. the Stately inspector's `inspect`) for the manager and every job actor. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** Time source (ms since the epoch), for deterministic tests; the timers stay real. Give `now` or `clock`, not both. */
  readonly now?: () => number
  /**
   * The clock of the engine's timers and times: delays, retries' backoff, schedules, attempt
   * timeouts, the progress throttle, and an Effect job's `Clock` service. For tests:
   * `testClock()` from `jobstate/testing`. Default: the real clock.
   */
  readonly clock?: Clock
  readonly generateId?: () => string
  /**
   * Called with errors no caller is waiting for (a failed background write). During a store
   * outage, the first failure of each kind comes here, then one `StoreRecovered` when the store
   * answers again (with how long it failed and how many calls), not every failed call. Default:
   * one line on stderr for store failures, the whole error for anything else.
   */
  readonly onError?: (error: unknown) => void
  /** Called with a line per job recovered or failed on recovery (for a worker's log). */
  readonly onRecovered?: (line: string) => void
  /**
   * Deletes jobs at rest, per status, older than `maxAgeMs` and/or beyond the newest `maxCount`
   * (with their logs and private directories): once after open, then every `retentionIntervalMs`.
   */
  readonly retention?: RetentionPolicy
  /** How often `retention` is applied. Default 60 000. */
  readonly retentionIntervalMs?: number
  /**
   * How many status and log events a `manager.events` subscriber may have waiting before its
   * subscription fails with `EventsOverflow` (progress is coalesced per job). Default 10 000.
   */
  readonly eventBufferSize?: number
  /**
   * OpenTelemetry through Effect: a layer that provides a tracer and exports Effect's metrics,
   * e.g. `NodeSdk.layer(…)` from `@effect/opentelemetry`. Each attempt is then a span (the job's
   * Effect `run` inside it) and the manager records its metrics. Built on open and released on
   * close (flushing its exporters). Default: none, at no cost.
   */
  readonly telemetry?: TelemetryLayer
}

/** The defaults of `JobManager.open`, in one place (the docs' figures are these). */
export const managerDefaults = {
  concurrency: 4,
  progressThrottleMs: 250,
  interruptGraceMs: 10_000,
  pollIntervalMs: 100,
  leaseMs: 5_000,
  busyTimeoutMs: DEFAULT_BUSY_TIMEOUT_MS,
  retentionIntervalMs: 60_000,
  eventBufferSize: 10_000,
} as const

/** What every part of a manager reads: the options checked, each default filled in once. */
export interface ResolvedOptions
  extends Required<Pick<JobManagerOptions, "dataDir" | "jobs" | "runOnlyOwn" | "clock" | "generateId">>,
    Pick<
      JobManagerOptions,
      "databaseUrl" | "types" | "inspect" | "onError" | "onRecovered" | "retention" | "telemetry"
    > {
  readonly concurrency: number
  readonly progressThrottleMs: number
  readonly interruptGraceMs: number
  readonly pollIntervalMs: number
  readonly leaseMs: number
  readonly busyTimeoutMs: number
  readonly retentionIntervalMs: number
  readonly eventBufferSize: number
  /** The engine's time: `now`, or the clock's. */
  readonly now: () => number
}

/**
 * `JobManager.open`'s options, checked and defaulted: an `InvalidOptions` naming the first option
 * that is wrong (and what it expected), before anything is opened or created.
 */
/** Every option `JobManager.open` takes, by name: one a JavaScript caller misspells is refused, not ignored. */
const optionNames = [
  "dataDir",
  "databaseUrl",
  "jobs",
  "concurrency",
  "types",
  "runOnlyOwn",
  "progressThrottleMs",
  "interruptGraceMs",
  "pollIntervalMs",
  "leaseMs",
  "busyTimeoutMs",
  "inspect",
  "now",
  "clock",
  "generateId",
  "onError",
  "onRecovered",
  "retention",
  "retentionIntervalMs",
  "eventBufferSize",
  "telemetry",
] as const satisfies ReadonlyArray<keyof JobManagerOptions>
// The list above is all of JobManagerOptions: a new option that is not added to it fails to compile here.
const allNamed: Exclude<keyof JobManagerOptions, (typeof optionNames)[number]> extends never ? true : never = true
void allNamed

export const resolveOptions = (options: JobManagerOptions): ResolvedOptions => {
  if (typeof options !== "object" || options === null)
    throw new InvalidOptions({ option: "options", detail: "JobManager.open needs an options object" })
  for (const key of Object.keys(options)) {
    if ((optionNames as ReadonlyArray<string>).includes(key)) continue
    const near = nearNames(key, optionNames)
    throw new InvalidOptions({
      option: key,
      detail: `JobManager.open has no such option${near.length === 0 ? "" : ` (did you mean ${near.join(" or ")}?)`}`,
    })
  }
  if (typeof options.dataDir !== "string" || options.dataDir === "") {
    throw new InvalidOptions({
      option: "dataDir",
      detail: "a directory is required (for jobs.db and each job's private directory)",
    })
  }
  if (!Array.isArray(options.jobs))
    throw new InvalidOptions({ option: "jobs", detail: "an array of job definitions is required" })
  if (
    options.databaseUrl !== undefined &&
    options.databaseUrl !== "" &&
    !/^postgres(ql)?:\/\//.test(options.databaseUrl)
  ) {
    throw new InvalidOptions({
      option: "databaseUrl",
      detail: `expected a postgres:// URL, got ${JSON.stringify(options.databaseUrl)}`,
    })
  }
  const concurrency = integer(options, "concurrency", 0)
  const pollIntervalMs = integer(options, "pollIntervalMs", 1)
  // Renewed and checked several times per period: shorter than this, a busy event loop alone would lose it.
  const leaseMs = integer(options, "leaseMs", 50)
  validateRetention(options.retention, options.retentionIntervalMs)
  const k = options.clock
  if (
    k !== undefined &&
    !(typeof k?.now === "function" && typeof k.setTimeout === "function" && typeof k.clearTimeout === "function")
  ) {
    throw new InvalidOptions({
      option: "clock",
      detail: "expected a Clock ({ now, setTimeout, clearTimeout }), such as testClock() from jobstate/testing",
    })
  }
  if (k !== undefined && options.now !== undefined)
    throw new InvalidOptions({ option: "now", detail: "give now or clock, not both (a clock has its own now)" })
  for (const fn of ["now", "generateId", "onError", "onRecovered"] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== "function")
      throw new InvalidOptions({ option: fn, detail: `expected a function, got ${typeof options[fn]}` })
  }
  if (options.telemetry !== undefined && !Layer.isLayer(options.telemetry)) {
    throw new InvalidOptions({
      option: "telemetry",
      detail: "expected an Effect Layer, such as NodeSdk.layer(…) from @effect/opentelemetry",
    })
  }
  if (options.types !== undefined && !Array.isArray(options.types))
    throw new InvalidOptions({ option: "types", detail: "expected an array of job type names" })
  for (const type of options.types ?? []) {
    if (!options.jobs.some((d) => d?.name === type))
      throw new InvalidOptions({ option: "types", detail: `"${type}" is not one of the registered job types` })
  }
  const clock = k ?? realClock
  return {
    ...options,
    runOnlyOwn: options.runOnlyOwn === true,
    clock,
    now: options.now ?? clock.now.bind(clock),
    generateId: options.generateId ?? randomUUID,
    concurrency,
    progressThrottleMs: integer(options, "progressThrottleMs", 0),
    interruptGraceMs: integer(options, "interruptGraceMs", 0),
    pollIntervalMs,
    leaseMs,
    busyTimeoutMs: integer(options, "busyTimeoutMs", 0),
    retentionIntervalMs: options.retentionIntervalMs ?? managerDefaults.retentionIntervalMs,
    eventBufferSize: integer(options, "eventBufferSize", 1),
  }
}

/** A whole number of (ms or jobs) option, at least `min`, or its default. */
const integer = (options: JobManagerOptions, option: keyof typeof managerDefaults, min: number): number => {
  const value = options[option]
  if (value === undefined) return managerDefaults[option]
  if (!(typeof value === "number" && Number.isInteger(value) && value >= min)) {
    throw new InvalidOptions({
      option,
      detail: `expected an integer ≥ ${min}, got ${typeof value === "number" ? value : JSON.stringify(value)}`,
    })
  }
  return value
}
