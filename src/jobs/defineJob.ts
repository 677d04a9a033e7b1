import type { Effect, Schema } from "effect"
import type { JobInterrupted, PersistenceError, SerializationError } from "./errors.js"
import type { Progress } from "./Progress.js"

/** A schema the engine can decode and encode without services. */
export type JobSchema<T> = Schema.Codec<T, any, never, never>

export type LogLevel = "debug" | "info" | "warn" | "error"

/** What every job context carries, whichever form `run` takes. */
export interface JobContextBase<P, S> {
  readonly id: string
  readonly name: string
  /** 1 on the first run; one more each time the job is started again (resume, recovery). */
  readonly attempt: number
  readonly params: P
  /** The latest checkpointed state, or `initialState` — what a resumed job starts from. */
  readonly state: S
  /** A directory private to this job, created on first use of the path. */
  readonly dataDir: string
  /** Fires when a pause or cancel is requested. */
  readonly signal: AbortSignal
}

/** The context of a job whose `run` returns an Effect. */
export interface JobContext<P, S, Pr = never> extends JobContextBase<P, S> {
  /** Appends to the job's persisted log. */
  log(message: string, level?: LogLevel): Effect.Effect<void>
  /** Reports progress; coalesced to at most one write per `progressThrottleMs`, the last value never lost. */
  progress(progress: Progress<Pr>): Effect.Effect<void>
  /** The cooperative point where pause and cancel take effect. */
  readonly checkInterrupt: Effect.Effect<void, JobInterrupted>
  /** Saves `state` (and the lifecycle snapshot) atomically, then checks for interrupts. */
  checkpoint(state: S): Effect.Effect<void, JobInterrupted | PersistenceError | SerializationError>
}

/** The context of a job whose `run` is an `async` function: the same members, as promises. */
export interface AsyncJobContext<P, S, Pr = never> extends JobContextBase<P, S> {
  log(message: string, level?: LogLevel): Promise<void>
  progress(progress: Progress<Pr>): Promise<void>
  /** Rejects with `JobInterrupted` when a pause or cancel was requested; let it propagate. */
  checkInterrupt(): Promise<void>
  checkpoint(state: S): Promise<void>
}

type RunEffect<P, S, O, Pr, E> = (ctx: JobContext<P, S, Pr>) => Effect.Effect<O, E>
type RunAsync<P, S, O, Pr> = (ctx: AsyncJobContext<P, S, Pr>) => Promise<O>

interface JobSpecBase<P, S, O, Pr> {
  /** Unique; the name used to dispatch by name and stored with every job. */
  readonly name: string
  readonly description?: string
  /** Default true. False: a job interrupted by a crash fails on restart instead of resuming. */
  readonly resumable?: boolean
  readonly params: JobSchema<P>
  /** The checkpointed state. Omit for jobs that keep none. */
  readonly state?: JobSchema<S>
  readonly initialState?: (params: P) => S
  readonly output?: JobSchema<O>
  /** The schema of `Progress.structured` data. */
  readonly progress?: JobSchema<Pr>
}

export interface EffectJobSpec<P, S, O, Pr, E> extends JobSpecBase<P, S, O, Pr> {
  readonly run: RunEffect<P, S, O, Pr, E>
}

export interface AsyncJobSpec<P, S, O, Pr> extends JobSpecBase<P, S, O, Pr> {
  readonly run: RunAsync<P, S, O, Pr>
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
  readonly run:
    | { readonly _tag: "Effect"; readonly fn: RunEffect<P, S, O, Pr, unknown> }
    | { readonly _tag: "Async"; readonly fn: RunAsync<P, S, O, Pr> }
}

export type ParamsOf<D> = D extends JobDefinition<infer P, any, any, any> ? P : never
export type OutputOf<D> = D extends JobDefinition<any, any, infer O, any> ? O : never
export type ProgressOf<D> = D extends JobDefinition<any, any, any, infer Pr> ? Pr : never

const isAsyncFunction = (fn: Function) => fn.constructor.name === "AsyncFunction"

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
  spec: EffectJobSpec<P, S, O, Pr, E>,
): JobDefinition<P, S, O, Pr>
export function defineJob<P, S = undefined, O = void, Pr = never>(
  spec: AsyncJobSpec<P, S, O, Pr>,
): JobDefinition<P, S, O, Pr>
export function defineJob(spec: EffectJobSpec<any, any, any, any, any> | AsyncJobSpec<any, any, any, any>) {
  if (typeof spec.name !== "string" || spec.name.trim() === "") {
    throw new TypeError("defineJob: `name` must be a non-empty string")
  }
  if (spec.state !== undefined && spec.initialState === undefined) {
    throw new TypeError(`defineJob("${spec.name}"): a job with a \`state\` schema needs \`initialState\``)
  }
  const definition: JobDefinition = {
    name: spec.name,
    description: spec.description,
    resumable: spec.resumable ?? true,
    params: spec.params,
    state: spec.state,
    initialState: spec.initialState ?? (() => undefined),
    output: spec.output,
    progress: spec.progress,
    run: isAsyncFunction(spec.run)
      ? { _tag: "Async", fn: spec.run as RunAsync<any, any, any, any> }
      : { _tag: "Effect", fn: spec.run as RunEffect<any, any, any, any, unknown> },
  }
  return definition
}
