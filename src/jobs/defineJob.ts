import { Effect, type Schema } from "effect"
import {
  InvalidOptions,
  type ChildJobFailed,
  type InvalidParams,
  type JobInterrupted,
  type PersistenceError,
  type SerializationError,
  type UnknownJobType,
} from "./errors.js"
import type { Progress } from "./Progress.js"
import { checkRetryPolicy, checkTimeout, type RetryPolicy } from "./retryPolicy.js"
import { checkStateVersioning, type StateMigrations } from "./stateVersions.js"

/** A schema the engine can decode and encode without services. */
export type JobSchema<T> = Schema.Codec<T, any, never, never>

export type LogLevel = "debug" | "info" | "warn" | "error"

/**
 * What a context method returns: an Effect (`yield*` it in an Effect `run`) that is also
 * awaitable (`await` it in an `async` run). Each `yield*` or `await` performs it anew.
 */
export type JobOp<A, E = never> = Effect.Effect<A, E> & PromiseLike<A>

/** Makes an Effect awaitable too (a `JobOp`), so one context serves Effect and `async` jobs. */
export const toJobOp = <A, E>(effect: Effect.Effect<A, E>): JobOp<A, E> =>
  Object.assign(effect, {
    then<R1 = A, R2 = never>(
      onFulfilled?: ((value: A) => R1 | PromiseLike<R1>) | null,
      onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
    ): PromiseLike<R1 | R2> {
      return Effect.runPromise(effect).then(onFulfilled, onRejected)
    },
  })

/**
 * The context a job's `run` receives. The same object serves both forms of `run`: an Effect
 * `run` yields its members (`yield* ctx.checkpoint(s)`), an `async` run awaits them
 * (`await ctx.checkpoint(s)`) and may also listen to `ctx.signal`.
 */
export interface JobContext<P, S, Pr = never> {
  readonly id: string
  readonly name: string
  /** 1 on the first run; one more each time the job is started again (resume, recovery). */
  readonly attempt: number
  readonly params: P
  /** The latest checkpointed state, or `initialState` — what a resumed job starts from. */
  readonly state: S
  /** A directory private to this job, created on first use. */
  readonly dataDir: string
  /** Aborts when a pause or cancel is requested; for `async` jobs and the APIs they call. */
  readonly signal: AbortSignal
  /** Appends to the job's persisted log. */
  log(message: string, level?: LogLevel): JobOp<void>
  /** Reports progress; coalesced to at most one write per `progressThrottleMs`, the last value never lost. */
  progress(progress: Progress<Pr>): JobOp<void>
  /** The cooperative point where pause and cancel take effect: fails with `JobInterrupted` when one was asked for. */
  readonly checkInterrupt: JobOp<void, JobInterrupted>
  /** Saves `state` (and the lifecycle snapshot) atomically, resolves once committed, then checks for interrupts. */
  checkpoint(state: S): JobOp<void, JobInterrupted | PersistenceError | SerializationError>
  /**
   * Stores child jobs (each of a type registered with this manager, with its params and a key
   * unique among this job's children) and returns their ids in order. Idempotent by key: a
   * resumed job that spawns again gets the children it spawned before, none twice.
   */
  spawnChildren(
    children: ReadonlyArray<ChildSpec>,
  ): JobOp<
    ReadonlyArray<string>,
    InvalidParams | UnknownJobType | InvalidOptions | JobInterrupted | PersistenceError | SerializationError
  >
  /**
   * The outputs of these children, in order, once every one has completed; fails with
   * `ChildJobFailed` for the first that failed or was cancelled. While any is still live, the
   * attempt ends here (the job holds no slot) and the job waits, queued, until none of its
   * children is live; then it runs again from its last checkpoint and this call returns.
   * Checkpoint the ids (or spawn again by the same keys) so the resumed run gets here again.
   */
  awaitChildren<O = unknown>(
    ids: ReadonlyArray<string>,
  ): JobOp<ReadonlyArray<O>, ChildJobFailed | InvalidOptions | JobInterrupted | PersistenceError | SerializationError>
}

/** One child for `ctx.spawnChildren`: a registered job type, its params, and its key among the job's children. */
export interface ChildSpec<D extends JobDefinition = JobDefinition> {
  readonly job: D
  readonly params: ParamsOf<D>
  /**
   * Unique among the parent's children. Spawning a key again (the parent resumed and ran the
   * same code) stores nothing and returns the child spawned before: a parent never spawns twice.
   */
  readonly key: string
  /** Default 0, as a dispatch. */
  readonly priority?: number
}

type RunFn<P, S, O, Pr, E> = (ctx: JobContext<P, S, Pr>) => Effect.Effect<O, E> | PromiseLike<O>

/** What a type's `cleanup` hook receives about a job that was cancelled or failed for good. */
export interface JobCleanupInfo<P, S> {
  readonly id: string
  readonly params: P
  /** The last checkpointed state (or the initial state, when it never checkpointed). */
  readonly state: S
  /** The job's private directory; jobstate removes it right after the hook. */
  readonly dataDir: string
  readonly status: "cancelled" | "failed"
}

/** A type's `cleanup` hook: an Effect or a Promise; what it fails with is reported, never stored. */
export type CleanupFn<P, S> = (info: JobCleanupInfo<P, S>) => Effect.Effect<void, unknown> | PromiseLike<void>

interface JobSpec<P, S, O, Pr, E> {
  /** Unique; the name used to dispatch by name and stored with every job. */
  readonly name: string
  readonly description?: string
  /** Default true. False: a job interrupted by a crash fails on restart instead of resuming. */
  readonly resumable?: boolean
  readonly params: JobSchema<P>
  /** The checkpointed state. Omit for jobs that keep none. */
  readonly state?: JobSchema<S>
  readonly initialState?: (params: P) => NoInfer<S>
  readonly output?: JobSchema<O>
  /** The schema of `Progress.structured` data. */
  readonly progress?: JobSchema<Pr>
  /** The work: an Effect, or an `async` function. */
  readonly run: RunFn<P, S, O, Pr, E>
  /** When a failed attempt is tried again (a dispatch may override it). Default: never. */
  readonly retry?: RetryPolicy
  /** Each attempt is interrupted after this long and fails with `JobTimeout` (a dispatch may override it). */
  readonly timeoutMs?: number
  /** At most this many jobs of this type run at once in one manager, within its own limit. */
  readonly concurrency?: number
  /**
   * The version of the `state` format this code writes (default 1). A stored state of an older
   * version is migrated on resume (`migrateState`); a row of a newer one waits for newer code.
   */
  readonly stateVersion?: number
  /** `{ k: (stateAsVersionK) => stateAsVersionKPlus1 }`, one step per older version still stored. */
  readonly migrateState?: StateMigrations
  /**
   * Called once each time a job of this type is cancelled or fails for good (no retry left), in
   * a process that knows the type, to remove what the job left outside its private directory
   * (partial outputs). Its errors go to the manager's `onError` and never change the status.
   * A job may be retried afterwards: `run` must not trust what the hook may have removed.
   */
  readonly cleanup?: CleanupFn<P, NoInfer<S>>
}

/** A registered job type: what `defineJob` returns and what `JobManager.open({ jobs })` takes. */
export interface JobDefinition<P = any, S = any, O = any, Pr = any> {
  readonly name: string
  readonly description: string | undefined
  readonly resumable: boolean
  readonly params: JobSchema<P>
  readonly state: JobSchema<S> | undefined
  readonly initialState: (params: P) => S
  readonly output: JobSchema<O> | undefined
  readonly progress: JobSchema<Pr> | undefined
  readonly run: RunFn<P, S, O, Pr, unknown>
  readonly retry: RetryPolicy | undefined
  readonly timeoutMs: number | undefined
  readonly concurrency: number | undefined
  readonly stateVersion: number
  readonly migrateState: StateMigrations | undefined
  readonly cleanup?: CleanupFn<P, S> | undefined
}

export type ParamsOf<D> = D extends JobDefinition<infer P, any, any, any> ? P : never
export type OutputOf<D> = D extends JobDefinition<any, any, infer O, any> ? O : never
export type ProgressOf<D> = D extends JobDefinition<any, any, any, infer Pr> ? Pr : never

/**
 * Defines a job type.
 *
 * @example
 * const Hello = defineJob({
 *   name: "hello",
 *   params: Schema.Struct({ who: Schema.String }),
 *   run: (ctx) => Effect.succeed(`hello ${ctx.params.who}`),
 * })
 */
export function defineJob<P, S = undefined, O = void, Pr = never, E = never>(
  spec: JobSpec<P, S, O, Pr, E>,
): JobDefinition<P, S, O, Pr> {
  if (typeof spec.name !== "string" || spec.name.trim() === "") {
    throw new TypeError("defineJob: `name` must be a non-empty string")
  }
  if (spec.state !== undefined && spec.initialState === undefined) {
    throw new TypeError(`defineJob("${spec.name}"): a job with a \`state\` schema needs \`initialState\``)
  }
  const where = `defineJob("${spec.name}")`
  const concurrency = spec.concurrency
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new InvalidOptions({
      option: `${where}.concurrency`,
      detail: `expected an integer ≥ 1, got ${JSON.stringify(concurrency)}`,
    })
  }
  return {
    name: spec.name,
    description: spec.description,
    resumable: spec.resumable ?? true,
    params: spec.params,
    state: spec.state,
    initialState: spec.initialState ?? (() => undefined as S),
    output: spec.output,
    progress: spec.progress,
    run: spec.run as RunFn<P, S, O, Pr, unknown>,
    retry: checkRetryPolicy(spec.retry, `${where}.retry`),
    timeoutMs: checkTimeout(spec.timeoutMs, `${where}.timeoutMs`),
    concurrency,
    ...checkStateVersioning(where, spec.stateVersion, spec.migrateState),
    cleanup: spec.cleanup,
  }
}
