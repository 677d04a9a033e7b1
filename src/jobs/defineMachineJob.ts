import { Schema } from "effect"
import { fromPromise, type AnyStateMachine, type EventObject, type PromiseActorLogic } from "xstate"
import {
  defineJob,
  type CleanupFn,
  type JobDefinition,
  type JobSchema,
  type OutputOf,
  type ParamsOf,
} from "./defineJob.js"
import { InvalidOptions } from "./errors.js"
import type { RetryPolicy } from "./retryPolicy.js"
import type { StateMigrations } from "./stateVersions.js"

/** What a machine job's machine gets as `input`: the job's params and its id. */
export interface MachineJobInput<P> {
  readonly params: P
  readonly jobId: string
}

/** A delayed event the machine scheduled (`after`, `raise(…, { delay })`), stored as its due time. */
export interface MachineTimer {
  readonly id: string
  /** Epoch ms, by the engine's clock. */
  readonly due: number
  readonly event: EventObject
}

/**
 * A machine job's state, checkpointed at every transition with the inbox entry it applied: the
 * machine's persisted snapshot, its durable timers, and the invocations in flight.
 */
export interface MachineJobState {
  /** XState's persisted snapshot of the job's machine; null until its first transition is committed. */
  readonly snapshot: unknown
  readonly timers: ReadonlyArray<MachineTimer>
  /** Per invoked actor id: the key of its current invocation (a step's `stepKey`, a child job's key). */
  readonly invoked: Readonly<Record<string, string>>
  /** How many invocations have started: each gets a new key. */
  readonly started: number
  /** The state values it passed through, oldest first (the last `MACHINE_PATH_LIMIT`), as JSON. */
  readonly path: ReadonlyArray<string>
}

export const MACHINE_PATH_LIMIT = 100

/** Whether a decoded state is a machine job's (by its shape: the reader may not know the type). */
export const isMachineJobState = (state: unknown): state is MachineJobState =>
  typeof state === "object" &&
  state !== null &&
  "snapshot" in state &&
  Array.isArray((state as MachineJobState).timers) &&
  Array.isArray((state as MachineJobState).path) &&
  typeof (state as MachineJobState).invoked === "object"

export const initialMachineState: MachineJobState = { snapshot: null, timers: [], invoked: {}, started: 0, path: [] }

/** The state schema of every machine job: plain data, stored as MessagePack. */
const MachineJobStateSchema = Schema.Unknown as unknown as JobSchema<MachineJobState>

/** What a type's definition carries when it is a machine job: the engine runs the machine instead of `run`. */
export interface MachineSpec {
  readonly machine: AnyStateMachine
  /** The schema `manager.send` checks events against; undefined: the job takes no events. */
  readonly events: JobSchema<EventObject> | undefined
}

/** A machine job's type: a job definition with its machine. */
export interface MachineJobDefinition<P = any, O = any, E extends EventObject = EventObject>
  extends JobDefinition<P, MachineJobState, O, never> {
  readonly machine: MachineSpec
  /** Phantom: the events `manager.send` takes. */
  readonly _events?: E
}

/** An event for `manager.send`: its `type` and fields, checked against the type's `events` schema. */
export interface SentEvent {
  readonly type: string
  readonly [field: string]: unknown
}

export type EventsOf<D> = D extends MachineJobDefinition<any, any, infer E> ? E : never

interface MachineJobSpec<P, E extends EventObject, O> {
  readonly name: string
  readonly description?: string
  readonly params: JobSchema<P>
  /** The events `manager.send` takes (a union of structs, each with a literal `type`). Omit: none. */
  readonly events?: JobSchema<E>
  /** The schema of the machine's `output`. */
  readonly output?: JobSchema<O>
  /**
   * The job's logic: an XState machine whose `input` is `{ params, jobId }`. Its invoked actors
   * are `fromPromise` steps and `fromJob` child jobs; its `after` delays are durable timers.
   */
  readonly machine: AnyStateMachine
  readonly retry?: RetryPolicy
  readonly timeoutMs?: number
  readonly concurrency?: number
  readonly resumable?: boolean
  /** The version of the machine's persisted snapshots (default 1); `migrateState` brings older ones forward. */
  readonly stateVersion?: number
  /** `{ k: (stateAsVersionK) => stateAsVersionKPlus1 }` on `MachineJobState` (its `snapshot` is XState's). */
  readonly migrateState?: StateMigrations
  readonly cleanup?: CleanupFn<P, MachineJobState>
}

const JOB_LOGIC = Symbol.for("jobstate.fromJob")

/** A `fromJob` logic's job type; undefined for any other logic. */
export const jobOfLogic = (logic: unknown): JobDefinition | undefined =>
  typeof logic === "object" && logic !== null ? (logic as { [JOB_LOGIC]?: JobDefinition })[JOB_LOGIC] : undefined

/**
 * Invokes a child job from a machine job: `invoke: { src: fromJob(ShipJob), input: params }`.
 * The child is dispatched once per invocation (idempotent across restarts), `onDone` gets its
 * output, `onError` its `ChildJobFailed`, and leaving the state cancels it. The type must be
 * registered with the manager, as any child's.
 */
export const fromJob = <D extends JobDefinition>(job: D): PromiseActorLogic<OutputOf<D>, ParamsOf<D>> =>
  Object.assign(
    fromPromise<OutputOf<D>, ParamsOf<D>>(() =>
      Promise.reject(new Error(`fromJob(${job.name}) runs only inside a machine job (defineMachineJob)`)),
    ),
    { [JOB_LOGIC]: job },
  )

/** What a step's function gets: XState's `fromPromise` arguments, and the step's idempotency key. */
export interface StepArgs<I> {
  readonly input: I
  /** Aborts when the machine leaves the invoking state, and on pause and cancel. */
  readonly signal: AbortSignal
  /**
   * The same for every run of one invocation (a run cut short by a crash and run again gets the
   * one it had), different for each invocation: the key to give a payment API, say.
   */
  readonly stepKey: string
}

/**
 * A step for a machine job: `fromPromise` whose function also gets `stepKey`. A step's result is
 * stored with the transition it causes, so a step that completed never runs again; one cut short
 * (a crash, a pause) runs again, at least once, with the same key.
 */
export const fromStep = <O, I = unknown>(run: (args: StepArgs<I>) => PromiseLike<O>): PromiseActorLogic<O, I> =>
  fromPromise<O, I>(run as never)

/** A value only a probe returns: what `fromPromise` logic makes of a resolved promise. */
const PROBE = Symbol("jobstate.probe")

/**
 * Whether a logic is XState's `fromPromise` (or `fromStep`): asked of the logic itself, which
 * alone turns a resolved promise into its output (`fromCallback` and `fromObservable` have the
 * same shape, but neither does).
 */
const isPromiseLogic = (logic: unknown): boolean => {
  const transition = (logic as { transition?: unknown } | null)?.transition
  if (typeof (logic as { config?: unknown } | null)?.config !== "function" || typeof transition !== "function")
    return false
  try {
    const next = (transition as (s: unknown, e: unknown, scope: unknown) => { status?: string; output?: unknown })(
      { status: "active", output: undefined, error: undefined, input: undefined },
      { type: "xstate.promise.resolve", data: PROBE },
      { self: {} },
    )
    return next?.status === "done" && next.output === PROBE
  } catch {
    return false
  }
}

/** Whether an invoked logic is one a machine job can run: a step (`fromStep`, `fromPromise`) or `fromJob`. */
export const isStepLogic = (logic: unknown): boolean => jobOfLogic(logic) !== undefined || isPromiseLogic(logic)

/** The job types a machine job's machine invokes with `fromJob` (its `setup` actors). */
export const invokedJobTypes = (definition: MachineJobDefinition): ReadonlyArray<JobDefinition> =>
  Object.values((definition.machine.machine.implementations?.actors ?? {}) as Record<string, unknown>).flatMap(
    (logic) => {
      const job = jobOfLogic(logic)
      return job === undefined ? [] : [job]
    },
  )

/**
 * Defines a machine job: a job whose logic is an XState machine, persisted at every transition,
 * woken by events (`manager.send`), durable timers and the ends of the child jobs it invokes.
 * It rests (queued, holding no slot) whenever it waits only for those.
 *
 * @example
 * const Order = defineMachineJob({
 *   name: "order",
 *   params: Schema.Struct({ orderId: Schema.String }),
 *   events: Schema.Struct({ type: Schema.Literal("PAID") }),
 *   machine: setup({}).createMachine({ initial: "waiting", states: { waiting: { on: { PAID: "done" } }, done: { type: "final" } } }),
 * })
 */
export function defineMachineJob<P, E extends EventObject = never, O = unknown>(
  spec: MachineJobSpec<P, E, O>,
): MachineJobDefinition<P, O, E> {
  const where = `defineMachineJob("${spec.name}")`
  const machine = spec.machine as AnyStateMachine | undefined
  if (machine === undefined || typeof (machine as { transition?: unknown }).transition !== "function")
    throw new InvalidOptions({
      option: `${where}.machine`,
      detail: "expected an XState machine (setup(…).createMachine(…))",
    })
  const actors = (machine.implementations?.actors ?? {}) as Record<string, unknown>
  for (const [name, logic] of Object.entries(actors)) {
    if (!isStepLogic(logic))
      throw new InvalidOptions({
        option: `${where}.machine`,
        detail: `actor "${name}" is neither a step (fromStep, fromPromise) nor fromJob: a machine job runs only those (callbacks, observables and child machines it cannot make durable)`,
      })
  }
  const definition = defineJob<P, MachineJobState, O>({
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    params: spec.params,
    state: MachineJobStateSchema,
    initialState: () => initialMachineState,
    ...(spec.output === undefined ? {} : { output: spec.output }),
    // Never called: the engine runs the machine (see src/actors/machineRun.ts).
    run: () => Promise.reject(new Error(`${where}: a machine job is run by its machine`)),
    ...(spec.retry === undefined ? {} : { retry: spec.retry }),
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    ...(spec.concurrency === undefined ? {} : { concurrency: spec.concurrency }),
    ...(spec.resumable === undefined ? {} : { resumable: spec.resumable }),
    ...(spec.stateVersion === undefined ? {} : { stateVersion: spec.stateVersion }),
    ...(spec.migrateState === undefined ? {} : { migrateState: spec.migrateState }),
    ...(spec.cleanup === undefined ? {} : { cleanup: spec.cleanup }),
  })
  return {
    ...definition,
    machine: { machine, events: spec.events as JobSchema<EventObject> | undefined },
  }
}

/** Whether a type is a machine job. */
export const isMachineJob = (definition: JobDefinition | undefined): definition is MachineJobDefinition =>
  definition !== undefined && (definition as Partial<MachineJobDefinition>).machine !== undefined
