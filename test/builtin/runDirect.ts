import { Effect, Exit, Schema } from "effect"
import { pack, unpack } from "../../src/persistence/codec.js"
import { toJobOp, type JobContext, type JobDefinition, type LogLevel } from "../../src/jobs/defineJob.js"
import { JobInterrupted } from "../../src/jobs/errors.js"
import type { Progress } from "../../src/jobs/Progress.js"

/**
 * Runs a job's `run` without the engine: a hand-built JobContext whose checkpoint
 * round-trips the state through its schema and MessagePack (as the store does) and can play
 * a pause after some checkpoints. Lets the built-in jobs be tested before, and apart from,
 * the manager.
 */
export interface RunDirectOptions<S> {
  /** Params in their JSON form; decoded by the job's schema like `dispatchByName` does. */
  readonly params: unknown
  /** Start from this state (a previous run's `lastState`) instead of `initialState`. */
  readonly state?: S
  /** Fail with `JobInterrupted` at the Nth checkpoint of this run, after recording it. */
  readonly interruptAfterCheckpoints?: number
  /** Fail with `JobInterrupted` at the first checkpoint whose state satisfies this. */
  readonly interruptWhen?: (state: S) => boolean
  /** Fail with `JobInterrupted` at the Nth `checkInterrupt` of this run: a pause that lands between checkpoints. */
  readonly interruptAtCheck?: number
  readonly dataDir?: string
  readonly attempt?: number
}

export interface DirectRun<S, O, Pr> {
  readonly exit: Exit.Exit<O, unknown>
  /** Every checkpointed state of this run, as the job would read it back after a restart. */
  readonly checkpoints: ReadonlyArray<S>
  /** What a resumed run starts from: the last checkpoint, or the state this run started with. */
  readonly lastState: S
  readonly progress: ReadonlyArray<Progress<Pr>>
  readonly logs: ReadonlyArray<{ readonly message: string; readonly level: LogLevel }>
  /** Whether the run ended in `JobInterrupted`. */
  readonly interrupted: boolean
}

const roundTrip = <S>(schema: JobDefinition["state"], value: S): S => {
  if (schema === undefined) return value
  const encoded = Schema.encodeUnknownSync(schema)(value)
  return Schema.decodeUnknownSync(schema)(unpack(pack(encoded), "state")) as S
}

export const runDirect = async <P, S, O, Pr>(
  definition: JobDefinition<P, S, O, Pr>,
  options: RunDirectOptions<S>,
): Promise<DirectRun<S, O, Pr>> => {
  const params = Schema.decodeUnknownSync(definition.params)(options.params) as P
  let state = options.state ?? roundTrip(definition.state, definition.initialState(params))
  const checkpoints: S[] = []
  const progress: Progress<Pr>[] = []
  const logs: Array<{ message: string; level: LogLevel }> = []
  const controller = new AbortController()
  let interruptRequested = false
  let checks = 0

  const requestInterrupt = () => {
    interruptRequested = true
    controller.abort()
  }
  const interruptIfRequested = Effect.suspend(() =>
    interruptRequested ? Effect.fail(new JobInterrupted({ reason: "pause" })) : Effect.void,
  )
  const checkInterrupt = toJobOp(
    Effect.suspend(() => {
      if (options.interruptAtCheck !== undefined && ++checks >= options.interruptAtCheck) requestInterrupt()
      return interruptIfRequested
    }),
  )
  const ctx: JobContext<P, S, Pr> = {
    id: "direct-1",
    name: definition.name,
    attempt: options.attempt ?? 1,
    params,
    get state() {
      return state
    },
    dataDir: options.dataDir ?? "/nonexistent-data-dir",
    signal: controller.signal,
    log: (message, level = "info") => toJobOp(Effect.sync(() => void logs.push({ message, level }))),
    progress: (p) =>
      toJobOp(
        Effect.sync(() => {
          // Structured progress must match the job's own schema, or the engine could not store it.
          if (p._tag === "Structured" && definition.progress) Schema.encodeUnknownSync(definition.progress)(p.data)
          progress.push(p)
        }),
      ),
    checkInterrupt,
    checkpoint: (next) =>
      toJobOp(
        Effect.suspend(() => {
          state = roundTrip(definition.state, next)
          checkpoints.push(state)
          const limit = options.interruptAfterCheckpoints
          if ((limit !== undefined && checkpoints.length >= limit) || options.interruptWhen?.(state)) requestInterrupt()
          return interruptIfRequested
        }),
      ),
    // The builtin jobs spawn no children: a direct run has no store to keep them in.
    spawnChildren: () => toJobOp(Effect.die(new Error("runDirect has no store for child jobs"))),
    awaitChildren: () => toJobOp(Effect.die(new Error("runDirect has no store for child jobs"))),
  }

  const program = Effect.suspend((): Effect.Effect<O, unknown> => {
    const result = definition.run(ctx)
    return Effect.isEffect(result)
      ? (result as Effect.Effect<O, unknown>)
      : Effect.tryPromise({ try: () => Promise.resolve(result), catch: (e) => e })
  })
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit) && definition.output) Schema.encodeUnknownSync(definition.output)(exit.value)
  const interrupted =
    Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Fail" && r.error instanceof JobInterrupted)
  return { exit, checkpoints, lastState: state, progress, logs, interrupted }
}

/** The value of a successful run, or a thrown error that shows the failure. */
export const outputOf = <O>(run: DirectRun<any, O, any>): O => {
  if (Exit.isSuccess(run.exit)) return run.exit.value
  throw new Error(`the job failed: ${String(run.exit.cause)}`)
}

/** The typed error a run failed with, if it failed with one. */
export const failureOf = (run: DirectRun<any, any, any>): unknown => {
  if (Exit.isSuccess(run.exit)) return undefined
  const reason = run.exit.cause.reasons.find((r) => r._tag === "Fail")
  return reason && reason._tag === "Fail" ? reason.error : undefined
}
