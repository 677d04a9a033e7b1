import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Effect } from "effect"
import {
  createMachine,
  fromPromise,
  type AnyActorLogic,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from "xstate"
import { getStateNodes } from "xstate/graph"
import { JobManager } from "../actors/JobManager.js"
import type { JobDefinition, OutputOf, ParamsOf } from "../jobs/defineJob.js"
import { isMachineJob, jobOfLogic, type EventsOf, type MachineJobDefinition } from "../jobs/defineMachineJob.js"
import { InvalidOptions, InvalidTransition } from "../jobs/errors.js"
import { JobRegistry } from "../jobs/JobRegistry.js"
import { isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import { diffValues } from "./diffValues.js"
import { InjectedFailure, JobTimedOut, MachineCrashMismatch } from "./errors.js"
import { keepProcessAlive } from "./keepProcessAlive.js"
import { eventsWithoutSample, planPaths, type PathStep, type PlannedPath } from "./machinePaths.js"
import { DEFAULT_TIMEOUT_MS, paramsFor, type JobParams } from "./runJob.js"
import { tempRoot } from "./tempRoot.js"
import { nextTimerAt, testClock, type TestClock } from "./testClock.js"
import { withDeadline } from "./withDeadline.js"

/** What the graph's guards see of an invoked actor's end (the real step or child job decides on the engine). */
export type ActorEndSample =
  | { readonly type: `xstate.done.actor.${string}`; readonly output?: unknown }
  | { readonly type: `xstate.error.actor.${string}`; readonly error?: unknown }

export interface CheckMachineJobOptions<P, O, E> {
  /** The job's params (or a function of a directory of each run's own, called once per run). */
  readonly params: JobParams<P>
  /**
   * Sample events, one or more per event type the machine takes from outside (`manager.send`):
   * the paths send these. A type with no sample is sent bare (`{ type }`) when the `events`
   * schema takes it so; otherwise the check refuses to start, naming it. Samples of an invoked
   * actor's end (`{ type: "xstate.done.actor.<invoke id>", output }`) are what the graph's
   * guards see of it: a sample per branch of a guard on a step's output puts each branch on a
   * path (the engine follows the one the real step takes).
   */
  readonly events?: ReadonlyArray<E | ActorEndSample>
  /**
   * Event types no path sends: those the machine raises itself (they need no sample), or those a
   * check leaves out. Their transitions are not checked.
   */
  readonly withoutEvents?: ReadonlyArray<string>
  /**
   * The types of the child jobs the machine invokes (`fromJob(Child)`), as `runJob` takes them:
   * they run on the same store, on the same clock, each when the path says it ends.
   */
  readonly jobs?: ReadonlyArray<JobDefinition>
  /** The most paths to check; a machine with more is refused (a `RangeError` saying how many). Default 100. */
  readonly maxPaths?: number
  /** The most states the machine's graph may have (xstate/graph's traversal `limit`). Default 10 000. */
  readonly maxStates?: number
  /**
   * Tells the graph's states apart. Default: by state value (`snapshot.value`) alone, so a context
   * that grows with each event (a list of notes) does not make the graph endless.
   */
  readonly serializeState?: (snapshot: AnyMachineSnapshot) => string
  /**
   * Also crash with each path step in flight (default true): a sent event stored while the
   * worker is down, a timer falling due while it is down, a step that ran but whose result was
   * not yet committed (it runs again), a child job that ended but whose end the machine had not
   * yet applied.
   */
  readonly inFlight?: boolean
  /** What to compare instead of the whole output (`({ at, ...rest }) => rest`). Default: the output as stored. */
  readonly normalize?: (output: O) => unknown
  /**
   * A count of the job's side effects so far, read before and after each run: a run with a crash
   * must make as many as the uninterrupted run of its path, except where a step was in flight
   * at the crash (it runs again, at least once by design).
   */
  readonly sideEffects?: () => number | Promise<number>
  /** Where the test clock of every run starts (a `Date` or ms since the epoch). Default: the time the check starts. */
  readonly start?: Date | number
  /** Where the runs' directories go. Default: a fresh temp dir, removed afterwards. */
  readonly dataDir?: string
  /** Keep the temp dir after the check. */
  readonly keep?: boolean
  /** How long one run may wait for any one thing (a step applied, a stalled job found) before `JobTimedOut`. Default 30 000. */
  readonly timeoutMs?: number
}

/** How a run ended, as the caller of the engine sees it: what is compared between runs of a path. */
export interface MachineOutcome {
  readonly status: JobStatus
  /** The machine's state value at the end. */
  readonly state: unknown
  /** The state values it passed through (`getJobInfo(id).machinePath`). */
  readonly path: ReadonlyArray<unknown> | undefined
  /** The output as stored (or `normalize`d), when completed. */
  readonly output: unknown
  readonly error: { readonly _tag: string; readonly message: string } | null
  /** Its child jobs: type, status, output and error message, sorted. */
  readonly children: ReadonlyArray<{
    readonly name: string
    readonly status: JobStatus
    readonly output: unknown
    readonly error: string | null
  }>
}

export interface CheckedPath {
  /** Its steps, readable. */
  readonly path: string
  readonly events: ReadonlyArray<EventObject>
  /** The state values along it: [0] the initial one, [i] after step i. */
  readonly states: ReadonlyArray<unknown>
  /** Each crash tried on it, described; every one gave `outcome` again. */
  readonly crashes: ReadonlyArray<string>
  /** The uninterrupted run's outcome. */
  readonly outcome: MachineOutcome
}

/** A path of the graph that the engine did not take, run uninterrupted: not checked, and why. */
export interface UnfollowedPath {
  readonly path: string
  readonly events: ReadonlyArray<EventObject>
  /** The step (1 = the first) after which the engine was elsewhere. */
  readonly step: number
  readonly reason: string
}

export interface MachineCheckReport {
  /** The paths checked, each uninterrupted and with a crash at each of its states. */
  readonly paths: ReadonlyArray<CheckedPath>
  /** Paths the machine's graph has but the job did not take (e.g. a guard on a step's real output). */
  readonly unfollowed: ReadonlyArray<UnfollowedPath>
  /** The graph's states and transitions (every transition is on a path, checked or unfollowed). */
  readonly states: number
  readonly transitions: number
  /** Runs of the job made: one uninterrupted per path, one per crash. */
  readonly runs: number
}

/** The lease of a manager that is going to crash: short, so that the restart finds the job stalled soon. */
const CRASH_LEASE_MS = 100
/** The managers see each other's writes (a child's end, for its parent) this often. */
const POLL_MS = 20
const WAIT_POLL_MS = 10
const ACTOR_END = /^xstate\.(done|error)\.actor\./

type Mode = "done" | "error"
type CrashPoint = { readonly at: number; readonly inFlight: boolean }

/** The engine left the path: its machine went elsewhere than the path's next state, or the job ended early. */
class Diverged extends Error {
  constructor(
    readonly step: number,
    readonly detail: string,
  ) {
    super(detail)
  }
}

const never = <A>() => new Promise<A>(() => {})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Checks that a machine job (`defineMachineJob`) ends the same way whenever its process crashes.
 *
 * It generates the paths through the job's machine with `xstate/graph` (with the sample
 * `events`, the `after` timers, and the done and error events of its invoked steps and child
 * jobs: one path per transition, so every transition is covered), runs each path through the
 * real engine uninterrupted (a `JobManager` on a temporary SQLite store, on a test clock), and
 * again with a crash and restart at each state along it (and, with `inFlight`, with each step
 * in flight). It rejects with `MachineCrashMismatch`, naming the path and where it crashed,
 * where the outcome (status, final state, output, child jobs) differs from the uninterrupted
 * run's; with `JobTimedOut` when a run is stuck. See docs/testing.md for what a path step does
 * on the engine.
 *
 * @example
 * const report = await checkMachineJob(OrderJob, {
 *   params: { orderId: "o-1", amount: 12 },
 *   events: [{ type: "PAID", ref: "tx-1" }, { type: "CANCEL_ORDER" }],
 *   jobs: [ShipJob],
 * })
 */
export const checkMachineJob = async <D extends MachineJobDefinition>(
  job: D,
  options: CheckMachineJobOptions<ParamsOf<D>, OutputOf<D>, EventsOf<D>>,
): Promise<MachineCheckReport> => {
  if (!isMachineJob(job))
    throw new InvalidOptions({
      option: "job",
      detail: `"${(job as JobDefinition | undefined)?.name}" is not a machine job (defineMachineJob); checkResumable checks other jobs`,
    })
  const machine = job.machine.machine
  const children = (options.jobs ?? []).filter((child) => child.name !== job.name)
  checkActors(job, children)
  const registry = new JobRegistry([job, ...children])
  const samples = (options.events ?? []).map((event) =>
    ACTOR_END.test((event as EventObject).type)
      ? (event as EventObject)
      : (registry.decodeEvent(job.name, event).event as EventObject),
  )
  const bareIsValid = (type: string) => {
    try {
      registry.decodeEvent(job.name, { type })
      return true
    } catch {
      return false
    }
  }
  const root = tempRoot(options.dataDir, options.keep)
  const release = keepProcessAlive()
  try {
    const jobId = randomUUID()
    const params = await paramsFor(options.params, join(root.path, "model"))
    const planOptions = {
      input: { params, jobId },
      samples,
      without: new Set(options.withoutEvents ?? []),
      bareIsValid,
      serializeState: options.serializeState,
      limit: options.maxStates ?? 10_000,
    }
    const missing = eventsWithoutSample(machine, planOptions)
    if (missing.length > 0)
      throw new InvalidOptions({
        option: "events",
        detail: `the machine of "${job.name}" takes ${missing.map((t) => JSON.stringify(t)).join(", ")}, but events has no sample of ${missing.length === 1 ? "it" : "them"} (and the events schema does not take it bare, { type }): give one, or list an event the machine raises itself in withoutEvents`,
      })
    let plan: ReturnType<typeof planPaths>
    try {
      plan = planPaths(machine, planOptions)
    } catch (error) {
      if (error instanceof Error && error.message === "Traversal limit exceeded")
        throw new RangeError(
          `checkMachineJob: the machine of "${job.name}" has more than ${planOptions.limit} states (maxStates) as serializeState tells them apart`,
        )
      throw error
    }
    const maxPaths = options.maxPaths ?? 100
    if (plan.paths.length > maxPaths)
      throw new RangeError(
        `checkMachineJob: the machine of "${job.name}" has ${plan.paths.length} paths to check, more than maxPaths (${maxPaths}): raise it, or give fewer sample events`,
      )

    const check: Check = {
      job,
      children,
      jobId,
      start: options.start === undefined ? Date.now() : new Date(options.start).getTime(),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      rootDir: root.path,
      options: options as CheckMachineJobOptions<unknown, unknown, unknown>,
    }
    const checked: CheckedPath[] = []
    const unfollowed: UnfollowedPath[] = []
    let runs = 0
    for (const [p, path] of plan.paths.entries()) {
      const dir = join(root.path, `path-${p + 1}`)
      const reference = new Trial(check, path, undefined, join(dir, "uninterrupted"), undefined)
      runs++
      const before = await options.sideEffects?.()
      let outcome: MachineOutcome
      try {
        outcome = await reference.run()
      } catch (error) {
        if (!(error instanceof Diverged)) throw error
        unfollowed.push({ path: path.label, events: eventsOf(path), step: error.step, reason: error.detail })
        continue
      }
      const effects = before === undefined ? undefined : (await options.sideEffects!()) - before
      const crashes: string[] = []
      for (const crash of crashPoints(path, options.inFlight ?? true)) {
        const trial = new Trial(check, path, crash, join(dir, crashDir(crash)), reference.timerAt)
        runs++
        const start = await options.sideEffects?.()
        let actual: MachineOutcome
        try {
          actual = await trial.run()
        } catch (error) {
          if (!(error instanceof Diverged)) throw error
          throw trial.mismatch({
            reason: "PathDiverged",
            expected: path.states[error.step],
            actual: undefined,
            detail: `then, at step ${error.step} (${path.steps[error.step - 1]?.label ?? "its start"}): ${error.detail}`,
          })
        }
        if (!isDeepStrictEqual(outcome, actual)) {
          const diff = diffValues(outcome, actual)
          throw trial.mismatch({
            reason: "OutcomeDiffers",
            expected: outcome,
            actual,
            differences: diff.length > 0 ? diff : ["(values differ in a way the diff cannot show)"],
            detail: `and the run that followed ended otherwise than an uninterrupted run of the path${hint(path, crash)}:`,
          })
        }
        const stepInFlight = crash.inFlight && isStep(path.steps[crash.at - 1]!)
        if (start !== undefined && effects !== undefined && !stepInFlight) {
          const total = (await options.sideEffects!()) - start
          if (total !== effects)
            throw trial.mismatch({
              reason: "SideEffectsDiffer",
              expected: effects,
              actual: total,
              detail: `and the crashed and resumed runs made ${total} side effects where an uninterrupted run of the path makes ${effects}: ${
                total > effects ? "work was done again" : "work was lost"
              }${hint(path, crash)}`,
            })
        }
        crashes.push(trial.crashDescription)
      }
      checked.push({ path: path.label, events: eventsOf(path), states: path.states, crashes, outcome })
    }
    if (checked.length === 0)
      throw new RangeError(
        `checkMachineJob: the job "${job.name}" took none of the ${plan.paths.length} paths of its machine's graph, so nothing was checked: ${unfollowed
          .map((u) => `${u.path}: ${u.reason}`)
          .join("; ")}`,
      )
    return { paths: checked, unfollowed, states: plan.states, transitions: plan.transitions, runs }
  } finally {
    release()
    root.release()
  }
}

/** What every run of one check shares. */
interface Check {
  readonly job: MachineJobDefinition
  readonly children: ReadonlyArray<JobDefinition>
  /** Every run's job has this id (the machine's input has it: the model's too). */
  readonly jobId: string
  readonly start: number
  readonly timeoutMs: number
  readonly rootDir: string
  readonly options: CheckMachineJobOptions<unknown, unknown, unknown>
}

const eventsOf = (path: PlannedPath) => path.steps.map((s) => s.event)

const isStep = (step: PathStep) => (step.kind === "done" || step.kind === "error") && step.job === undefined

/** Each state along the path (right after it is committed), and each step in flight, in order. */
const crashPoints = (path: PlannedPath, inFlight: boolean): CrashPoint[] => {
  const points: CrashPoint[] = [{ at: 0, inFlight: false }]
  for (let i = 1; i <= path.steps.length; i++) {
    if (inFlight) points.push({ at: i, inFlight: true })
    points.push({ at: i, inFlight: false })
  }
  return points
}

/** What usually makes a run with this crash differ. */
const hint = (path: PlannedPath, crash: CrashPoint): string => {
  if (!crash.inFlight)
    return crash.at === 0
      ? ""
      : " (a transition's own actions run once it has committed, at most once: a crash right after the commit skips them; keep what the outcome needs in the context, and effects in steps)"
  return isStep(path.steps[crash.at - 1]!)
    ? " (a step runs at least once: one that ran when the crash came runs again; make it idempotent, e.g. by its stepKey)"
    : ""
}

const crashDir = (crash: CrashPoint) => `crash-${crash.inFlight ? "in-flight-" : "at-"}${crash.at}`

/** Refuses, before any run, a child job type the machine invokes (`fromJob`) that `jobs` does not give. */
const checkActors = (job: MachineJobDefinition, children: ReadonlyArray<JobDefinition>) => {
  const machine = job.machine.machine
  const logics: unknown[] = Object.values(machine.implementations.actors ?? {})
  for (const node of [machine.root, ...getStateNodes(machine.root)])
    for (const config of [(node.config as { invoke?: unknown }).invoke ?? []].flat() as Array<{ src?: unknown }>)
      logics.push(config.src)
  for (const logic of logics) {
    const child = jobOfLogic(logic)
    if (child !== undefined && !children.some((c) => c.name === child.name))
      throw new InvalidOptions({
        option: "jobs",
        detail: `"${job.name}" invokes the child job "${child.name}": pass its definition, checkMachineJob(${job.name}, { jobs: [${child.name}], … })`,
      })
  }
}

/**
 * The steps (`fromPromise` actors) of one process's machine, each held until the path lets it
 * run, and the machine's own actions, run only while the process is alive. After a crash
 * (`alive` false) the engine of the crashed manager still carries out the transition it had just
 * committed (see the report on simulateCrash); nothing of it runs here, as nothing would in a
 * killed process.
 */
class StepGates {
  alive = true
  /** Steps running their own code now: the test clock's `settle` waits for them. */
  running = 0
  /** Crash the process when this actor's run has ended, before the engine has its result. */
  crashAfter: string | undefined
  private readonly permits = new Map<string, Mode>()
  private readonly waiting = new Map<string, (mode: Mode) => void>()

  constructor(private readonly crash: () => void) {}

  isWaiting(actor: string) {
    return this.waiting.has(actor)
  }

  /** Lets the step invoked as `actor` run: it ends as it does (`done`), or fails (`error`). */
  permit(actor: string, mode: Mode) {
    const waiter = this.waiting.get(actor)
    if (waiter === undefined) this.permits.set(actor, mode)
    else {
      this.waiting.delete(actor)
      waiter(mode)
    }
  }

  private wait(actor: string, signal: AbortSignal): Promise<Mode> {
    const given = this.permits.get(actor)
    if (given !== undefined) {
      this.permits.delete(actor)
      return Promise.resolve(given)
    }
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const waiter = (mode: Mode) => {
        signal.removeEventListener("abort", onAbort)
        resolve(mode)
      }
      const onAbort = () => {
        if (this.waiting.get(actor) === waiter) this.waiting.delete(actor)
        reject(signal.reason)
      }
      signal.addEventListener("abort", onAbort, { once: true })
      this.waiting.set(actor, waiter)
    })
  }

  /** A step that waits for its permit, then runs the original's code with the same arguments. */
  step(logic: unknown): AnyActorLogic {
    const creator = (logic as { config: (args: unknown) => PromiseLike<unknown> }).config
    return fromPromise(async (args) => {
      const actor = args.self.id
      if (!this.alive) return never()
      const mode = await this.wait(actor, args.signal)
      if (!this.alive) return never()
      this.running++
      let result: { ok: true; value: unknown } | { ok: false; error: unknown }
      try {
        result = { ok: true, value: await creator(args) }
      } catch (error) {
        result = { ok: false, error }
      } finally {
        this.running--
      }
      if (!this.alive) return never()
      if (this.crashAfter === actor) {
        this.crashAfter = undefined
        this.crash()
        return never()
      }
      if (!result.ok) throw result.error
      if (mode === "error") throw new InjectedFailure({ actor: nameOf(args.self) })
      return result.value
    })
  }

  action(action: (...args: unknown[]) => unknown) {
    return (...args: unknown[]) => (this.alive ? action(...args) : undefined)
  }
}

/** The name a step was invoked by (its `src`), or its id when it is inline logic. */
const nameOf = (ref: { readonly id: string; readonly src?: unknown }) =>
  typeof ref.src === "string" && !ref.src.startsWith("xstate.invoke.") ? ref.src : ref.id

const isCustomAction = (action: unknown): action is (...args: unknown[]) => unknown =>
  typeof action === "function" && !("resolve" in action)

/**
 * The machine with its steps held by `gates` and its own actions stopped by a crash: those named
 * in `setup` (by `implementations`) and those written inline in its config (a new machine from
 * the config, with the same ids, so that its persisted snapshots are the original's).
 */
const gatedMachine = (machine: AnyStateMachine, gates: StepGates): AnyStateMachine => {
  const step = (logic: unknown) => (jobOfLogic(logic) === undefined ? gates.step(logic) : logic)
  const implementations = machine.implementations
  const actors = Object.fromEntries(Object.entries(implementations.actors ?? {}).map(([name, l]) => [name, step(l)]))
  const actions = Object.fromEntries(
    Object.entries(implementations.actions ?? {}).map(([name, a]) => [name, isCustomAction(a) ? gates.action(a) : a]),
  )
  const config = gatedConfig(machine.config as Config, {
    action: (a) => gates.action(a),
    src: (src) => (typeof src === "string" ? src : step(src)),
  })
  return createMachine(config as never, { ...implementations, actors, actions } as never) as AnyStateMachine
}

type Config = Record<string, unknown>

interface Gating {
  readonly action: (action: (...args: unknown[]) => unknown) => unknown
  readonly src: (src: unknown) => unknown
}

/** A state's config (and its states') with its inline actions and invoked logic replaced, the rest as it is. */
const gatedConfig = (state: Config, gating: Gating): Config => {
  const actions = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(actions) : isCustomAction(value) ? gating.action(value) : value
  const transitions = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(transitions)
      : typeof value === "object" && value !== null && "actions" in value
        ? { ...value, actions: actions((value as Config).actions) }
        : value
  const byKey = (value: unknown, f: (v: unknown) => unknown) =>
    Object.fromEntries(Object.entries(value as Config).map(([k, v]) => [k, f(v)]))
  const invoke = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(invoke)
      : {
          ...(value as Config),
          src: gating.src((value as Config).src),
          ...pick(value as Config, ["onDone", "onError", "onSnapshot"], transitions),
        }
  return {
    ...state,
    ...pick(state, ["entry", "exit"], actions),
    ...pick(state, ["always", "onDone"], transitions),
    ...pick(state, ["on", "after"], (v) => byKey(v, transitions)),
    ...pick(state, ["invoke"], invoke),
    ...pick(state, ["states"], (v) => byKey(v, (s) => gatedConfig(s as Config, gating))),
  }
}

/** `f` of each of these keys that `object` has (with a value), under the same key. */
const pick = (object: Config, keys: ReadonlyArray<string>, f: (value: unknown) => unknown): Config =>
  Object.fromEntries(keys.filter((k) => object[k] !== undefined).map((k) => [k, f(object[k])]))

/**
 * A child job type as the children's manager runs it: as it is, or failing at once (a defect,
 * which no retry policy retries by default) for a child the path fails.
 */
const failingChild = (child: JobDefinition, failing: ReadonlySet<string>): JobDefinition =>
  isMachineJob(child)
    ? child
    : {
        ...child,
        run: (ctx) => (failing.has(ctx.id) ? Effect.die(new InjectedFailure({ actor: child.name })) : child.run(ctx)),
      }

/**
 * One "process": a manager that runs the machine job, and one that runs its child jobs (each
 * when the path lets it: `runJob`), on one test clock. It crashes as a whole.
 */
class Process {
  readonly gates: StepGates
  readonly clock: TestClock
  parent!: JobManager
  children: JobManager | undefined
  /** The job's type as this process registers it (its machine's steps held by `gates`). */
  definition!: MachineJobDefinition
  crashed: Promise<void> | undefined
  private ended = false
  /** Crash the moment the next checkpoint commits. */
  crashArmed = false
  private waiters: Array<() => void> = []
  private crashWaiters: Array<() => void> = []
  private unsubscribe: (() => void) | undefined

  private readonly detach: () => void

  constructor(start: number) {
    this.clock = testClock(start)
    this.gates = new StepGates(() => this.crashNow())
    // The clock's settle waits for a step running its own code too (its result is the engine's next work).
    this.detach = this.clock.attach!(() => this.gates.running > 0)
  }

  async open(check: Check, trial: Trial, crashable: boolean, first: boolean) {
    let nextId: string | undefined = first ? check.jobId : undefined
    this.definition = {
      ...check.job,
      machine: { ...check.job.machine, machine: gatedMachine(check.job.machine.machine, this.gates) },
    }
    // The job's manager spawns the children: it needs their types as the machine's fromJob has
    // them (a registry knows a type by its definition). Only the children's manager runs them.
    const parentJobs = [this.definition, ...check.children]
    const childJobs = [this.definition, ...check.children.map((child) => failingChild(child, trial.failing))]
    const common = {
      dataDir: trial.dataDir,
      clock: this.clock,
      runOnlyOwn: true,
      pollIntervalMs: POLL_MS,
      ...(crashable ? { leaseMs: CRASH_LEASE_MS } : {}),
      // Once it has crashed or is being ended, what it could not write is lost on purpose.
      onError: (error: unknown) =>
        void (this.crashed === undefined && !this.ended && console.error("[jobstate]", error)),
    }
    this.parent = await JobManager.open({
      ...common,
      jobs: parentJobs,
      types: [check.job.name],
      concurrency: 1,
      generateId: () => {
        const id = nextId ?? randomUUID()
        nextId = undefined
        return id
      },
    })
    this.unsubscribe = this.parent.subscribeJob(check.jobId, (event) => {
      if (event.type !== "checkpoint") return
      if (this.crashArmed) {
        this.crashArmed = false
        // Synchronously, before the engine goes on: nothing after this commit happens in this process.
        this.crashNow()
      }
      for (const resolve of this.waiters.splice(0)) resolve()
    })
    if (check.children.length > 0)
      this.children = await JobManager.open({
        ...common,
        jobs: childJobs,
        types: check.children.map((c) => c.name),
        concurrency: 4,
      })
    return this
  }

  /** Resolves at the next checkpoint of the job committed by this process. */
  nextCheckpoint(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Resolves once this process has crashed. */
  whenCrashed(): Promise<void> {
    return this.crashed !== undefined ? Promise.resolve() : new Promise((resolve) => this.crashWaiters.push(resolve))
  }

  /** Stops both managers as a killed process stops: nothing more is written, nothing more of the machine runs. */
  crashNow() {
    if (this.crashed !== undefined) return
    this.gates.alive = false
    this.unsubscribe?.()
    this.crashed = Promise.all([this.parent.simulateCrash(), this.children?.simulateCrash()]).then(() => undefined)
    for (const resolve of this.crashWaiters.splice(0)) resolve()
  }

  /** Stops a process that did not crash (its outcome read): at once, writing nothing more. */
  async end() {
    this.detach()
    this.ended = true
    this.gates.alive = false
    this.unsubscribe?.()
    await (this.crashed ?? Promise.all([this.parent?.simulateCrash(), this.children?.simulateCrash()]))
  }
}

/** One run of a path: uninterrupted, or with one crash. */
class Trial {
  /** Child jobs the path let run, and those among them it fails. */
  readonly released = new Set<string>()
  readonly failing = new Set<string>()
  /** The clock's time at which each `after` step's timer fell due (by step): a run with it in flight restarts then. */
  readonly timerAt: Array<number | undefined> = []
  private readonly deadlineMs: number
  /** Every process of the run (ended at its end, whatever happened). */
  private readonly processes: Process[] = []

  constructor(
    private readonly check: Check,
    private readonly path: PlannedPath,
    private readonly crash: CrashPoint | undefined,
    readonly dataDir: string,
    /** The uninterrupted run's `timerAt`. */
    private readonly referenceTimerAt: ReadonlyArray<number | undefined> | undefined,
  ) {
    this.deadlineMs = check.timeoutMs
  }

  get crashDescription(): string {
    const crash = this.crash
    if (crash === undefined) return "none"
    const state = (i: number) => JSON.stringify(this.path.states[i])
    if (!crash.inFlight) {
      const by = crash.at === 0 ? "its first checkpoint" : `by ${this.path.steps[crash.at - 1]!.label}`
      return `right after it entered ${state(crash.at)} (state ${crash.at}, ${by})`
    }
    const step = this.path.steps[crash.at - 1]!
    const where = `in ${state(crash.at - 1)} (state ${crash.at - 1})`
    switch (step.kind) {
      case "sent":
        return `${where}, with ${step.label} sent while it was down`
      case "after":
        return `${where}, with its timer (${step.label}) falling due while it was down`
      default:
        return step.job === undefined
          ? `${where}, after step "${step.name}" ran (${step.label}) but before its result was committed: the step runs again`
          : `${where}, after its child job "${step.job}" ended (${step.label}) but before the machine applied it`
    }
  }

  mismatch(
    fields: Pick<MachineCrashMismatch, "reason" | "expected" | "actual" | "detail"> & {
      differences?: ReadonlyArray<string>
    },
  ) {
    const crash = this.crash!
    return new MachineCrashMismatch({
      job: this.check.job.name,
      path: this.path.label,
      events: eventsOf(this.path),
      crash: this.crashDescription,
      state: this.path.states[crash.inFlight ? crash.at - 1 : crash.at],
      differences: [],
      dataDir: this.check.rootDir,
      ...fields,
    })
  }

  private timedOut(waitingFor: string) {
    return new JobTimedOut({
      job: this.check.job.name,
      id: this.check.jobId,
      timeoutMs: this.deadlineMs,
      waitingFor: `${waitingFor} (path ${this.path.label}, crash: ${this.crashDescription})`,
      dataDir: this.dataDir,
    })
  }

  private deadline<A>(promise: Promise<A>, waitingFor: string): Promise<A> {
    return withDeadline(promise, this.deadlineMs, () => this.timedOut(waitingFor))
  }

  /** Waits (settling the clock, then polling) until `ready` says yes. */
  private async until(proc: Process, ready: () => Promise<boolean> | boolean, waitingFor: string) {
    const deadline = Date.now() + this.deadlineMs
    for (;;) {
      await proc.clock.settle()
      if (await ready()) return
      if (Date.now() > deadline) throw this.timedOut(waitingFor)
      await sleep(WAIT_POLL_MS)
    }
  }

  private info(proc: Process) {
    return proc.parent.getJobInfo(this.check.jobId)
  }

  async run(): Promise<MachineOutcome> {
    const { check, path, crash } = this
    const params = await paramsFor(check.options.params, this.dataDir)
    let proc = await this.open(check.start, crash !== undefined, true)
    try {
      for (let i = 0; i <= path.steps.length; i++) {
        if (crash?.inFlight === true && crash.at === i) proc = await this.inFlight(proc, i)
        else {
          const applied = proc.nextCheckpoint()
          if (crash?.at === i) proc.crashArmed = true
          if (i === 0) await proc.parent.dispatch(proc.definition, params as never)
          else await this.trigger(proc, i)
          await this.deadline(applied, `apply step ${i} (${path.steps[i - 1]?.label ?? "its start"})`)
          if (crash?.at === i) proc = (await this.restart(proc, {})).proc
        }
        await this.expectState(proc, i)
        if (i < path.steps.length) await this.ready(proc, i + 1)
      }
      return await this.outcome(proc)
    } finally {
      await Promise.all(this.processes.map((p) => p.end()))
    }
  }

  private open(start: number, crashable: boolean, first: boolean): Promise<Process> {
    const proc = new Process(start)
    this.processes.push(proc)
    return proc.open(this.check, this, crashable, first)
  }

  /** Brings about step `i` of the path (1 = the first) on the engine. */
  private async trigger(proc: Process, i: number) {
    const step = this.path.steps[i - 1]!
    switch (step.kind) {
      case "sent":
        try {
          await proc.parent.send(this.check.jobId, step.event as never)
        } catch (error) {
          if (!(error instanceof InvalidTransition)) throw error
          throw new Diverged(i, `the job had ended (${error.status}) and took no more events`)
        }
        return
      case "after": {
        const at = nextTimerAt(proc.clock)
        if (at === undefined) throw new Diverged(i, "no timer was waiting")
        this.timerAt[i] = at
        await proc.clock.setTime(at)
        return
      }
      default:
        if (step.job === undefined) proc.gates.permit(step.actor, step.kind)
        else this.releaseChild(proc, step.kind, await this.childOf(proc, step.job, i))
    }
  }

  /** The one child job of this type that waits for the path to let it run. */
  private async childOf(proc: Process, type: string, i: number): Promise<string> {
    const waiting = (await proc.parent.listJobs({ parentId: this.check.jobId })).filter(
      (c) => c.name === type && c.status === "queued" && !this.released.has(c.id),
    )
    if (waiting.length === 0) throw new Diverged(i, `no child job "${type}" was waiting to run`)
    if (waiting.length > 1)
      throw new Error(
        `checkMachineJob: ${waiting.length} child jobs "${type}" wait at once; it cannot tell which invoke each belongs to`,
      )
    return waiting[0]!.id
  }

  private releaseChild(proc: Process, mode: Mode, id: string) {
    this.released.add(id)
    if (mode === "error") this.failing.add(id)
    proc.children!.runJob(id)
  }

  /** Waits until step `i` can be brought about: its step or child job is waiting for the path. */
  private async ready(proc: Process, i: number) {
    const step = this.path.steps[i - 1]!
    if (step.kind !== "done" && step.kind !== "error") return
    const label = step.job === undefined ? `step "${step.name}"` : `child job "${step.job}"`
    await this.until(
      proc,
      async () => {
        if (step.job === undefined ? proc.gates.isWaiting(step.actor) : await this.hasWaitingChild(proc, step.job))
          return true
        const info = await this.info(proc)
        if (isTerminalStatus(info.status)) throw new Diverged(i, `the job ended (${info.status}) before ${label} ran`)
        return false
      },
      `start ${label}`,
    )
  }

  private async hasWaitingChild(proc: Process, type: string) {
    return (await proc.parent.listJobs({ parentId: this.check.jobId })).some(
      (c) => c.name === type && c.status === "queued" && !this.released.has(c.id),
    )
  }

  /** Step `i` in flight when the process crashes; the restarted process applies it. */
  private async inFlight(proc: Process, i: number): Promise<Process> {
    const step = this.path.steps[i - 1]!
    let restarted: { proc: Process; applied: Promise<void> }
    switch (step.kind) {
      case "sent":
        proc.crashNow()
        restarted = await this.restart(proc, { send: step.event, expectApplied: true })
        break
      case "after": {
        const at = this.referenceTimerAt?.[i]
        proc.crashNow()
        restarted = await this.restart(proc, { clockAt: at, expectApplied: true })
        break
      }
      default: {
        if (step.job === undefined) {
          proc.gates.crashAfter = step.actor
          proc.gates.permit(step.actor, step.kind)
        } else {
          const id = await this.childOf(proc, step.job, i)
          const unsubscribe = proc.children!.subscribeJob(id, (event) => {
            if (event.type === "status" && isTerminalStatus(event.status)) {
              unsubscribe()
              proc.crashNow()
            }
          })
          this.releaseChild(proc, step.kind, id)
        }
        await this.deadline(proc.whenCrashed(), `run ${step.label}`)
        restarted = await this.restart(proc, { expectApplied: true })
        if (step.job === undefined) {
          const next = restarted.proc
          await this.until(next, () => next.gates.isWaiting(step.actor), `run step "${step.name}" again`)
          next.gates.permit(step.actor, step.kind)
        }
      }
    }
    await this.deadline(restarted.applied, `apply step ${i} (${step.label}) after the restart`)
    return restarted.proc
  }

  /**
   * A new process on the crashed one's store: it finds the job (and its running children)
   * stalled once the crashed process's lease has run out, and resumes them.
   */
  private async restart(
    crashed: Process,
    how: { send?: EventObject; clockAt?: number | undefined; expectApplied?: boolean },
  ): Promise<{ proc: Process; applied: Promise<void> }> {
    await crashed.crashed
    const proc = await this.open(how.clockAt ?? crashed.clock.now(), false, false)
    const applied = how.expectApplied ? proc.nextCheckpoint() : Promise.resolve()
    const id = this.check.jobId
    if (how.send !== undefined) await proc.parent.send(id, how.send as never)
    await this.resume(proc.parent, id)
    for (const child of await proc.parent.listJobs({ parentId: id })) {
      if (child.status === "running") await this.resume(proc.children!, child.id)
      else if (child.status === "queued" && this.released.has(child.id)) proc.children!.runJob(child.id)
    }
    return { proc, applied }
  }

  /** Lets `manager` run the job: resumed if the crash left it running (stalled), picked up if queued. */
  private async resume(manager: JobManager, id: string) {
    const deadline = Date.now() + this.deadlineMs
    let info = await manager.getJobInfo(id)
    while (info.status === "running" && info.stalled === null) {
      if (Date.now() > deadline) throw this.timedOut(`be found stalled after the crash (job ${id})`)
      await sleep(WAIT_POLL_MS)
      info = await manager.getJobInfo(id)
    }
    manager.runJob(id)
    if (info.stalled !== null)
      await manager.resume(id).catch(async (error: unknown) => {
        // The sweep put it back in line first: as good.
        if ((await manager.getJobInfo(id)).status === "running") throw error
      })
  }

  /** After step `i` (0: the start) the machine is in the path's state `i`. */
  private async expectState(proc: Process, i: number) {
    await proc.clock.settle()
    const info = await this.info(proc)
    if (!isDeepStrictEqual(info.machineState, this.path.states[i]))
      throw new Diverged(
        i,
        `the machine is in ${JSON.stringify(info.machineState)}, not ${JSON.stringify(this.path.states[i])}`,
      )
  }

  private async outcome(proc: Process): Promise<MachineOutcome> {
    if (this.path.final)
      await this.until(proc, async () => isTerminalStatus((await this.info(proc)).status), "end in its final state")
    const info = await this.info(proc)
    const normalize = this.check.options.normalize
    const output =
      normalize !== undefined && info.status === "completed"
        ? normalize(await (await proc.parent.handle(this.check.jobId)).result())
        : info.output
    const children = (await proc.parent.listJobs({ parentId: this.check.jobId }))
      .map((c) => ({ name: c.name, status: c.status, output: c.output, error: c.error?.message ?? null }))
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
    return {
      status: info.status,
      state: info.machineState,
      path: info.machinePath,
      output,
      error: info.error === null ? null : { _tag: info.error._tag, message: info.error.message },
      children,
    }
  }
}
