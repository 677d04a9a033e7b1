import { createActor, type AnyActorRef, type AnyMachineSnapshot, type EventObject } from "xstate"
import { inertScopeOf } from "../machines/inertScope.js"
import {
  invokedJobTypes,
  isStepLogic,
  jobOfLogic,
  MACHINE_PATH_LIMIT,
  type MachineJobDefinition,
  type MachineJobState,
  type MachineTimer,
} from "../jobs/defineMachineJob.js"
import { InvalidOptions, InvalidParams, JobInterrupted, UnknownJobType } from "../jobs/errors.js"
import { decodeJsonWith } from "../persistence/codec.js"
import { INVOKED_CHILD_KEY_PREFIX, type DbInboxEntry } from "../persistence/JobStore.js"
import type { LiveJob } from "./LiveJob.js"
import type { JobHost } from "./runJobWorker.js"

/** An action a transition returns for its executor, as XState hands it over. */
interface ExecutableAction {
  readonly type: string
  readonly info: unknown
  readonly params: any
  readonly exec: ((info: unknown, params: unknown) => void) | undefined
}

/** A running `fromPromise` step: aborted when its state is left, the job paused or cancelled. */
interface Step {
  readonly controller: AbortController
}

/** Thrown to end an attempt that comes to rest (`job.resting` says until when). */
export const RESTING = Symbol("jobstate.resting")

/** The invoke id a `xstate.stopChild` action stops: its params are the child's actor ref. */
const stoppedId = (action: ExecutableAction): string | undefined => {
  const ref = action.params as AnyActorRef | string | undefined
  return typeof ref === "string" ? ref : ref?.id
}

/** The key of the child job an invocation dispatches, among its parent's children. */
const childKeyOf = (invocation: string) => `${INVOKED_CHILD_KEY_PREFIX}${invocation}`

/** How many inbox entries a run reads at a time. */
const INBOX_PAGE = 100

/**
 * Runs a machine job's attempt: its machine, from the snapshot of its last checkpoint, one event
 * at a time. Each transition's snapshot is checkpointed (with the inbox entry it applied, and its
 * timers) before anything it does happens: its steps start, its child jobs are dispatched and its
 * own actions run only once the transition is committed. Events come from the steps that end
 * (in the order they end), the durable timers that fall due, and the job's inbox (events sent,
 * and the ends of the child jobs it invoked), in order. When nothing is in flight but timers and
 * child jobs, the attempt ends resting (`RESTING`): the job waits queued, holding no slot.
 * Resolves with the machine's output when it reaches a final state.
 */
export const runMachine = async (job: LiveJob, host: JobHost): Promise<unknown> => {
  const definition = job.definition as MachineJobDefinition
  const logic = definition.machine.machine
  const input = { params: job.params, jobId: job.id }
  // One actor scope for the attempt's transitions (XState's public transition() builds an actor,
  // and runs the machine's `context`, for each): each hands its actions to `taken`.
  let taken: ExecutableAction[] = []
  const scope = inertScopeOf(logic, input, (action) => void taken.push(action as ExecutableAction))
  const take = <S>(step: () => S): [S, ExecutableAction[]] => {
    taken = []
    const next = step()
    return [next, taken]
  }
  let state = job.state as MachineJobState
  const steps = new Map<string, Step>()
  /** Child jobs invoked, by invoke id: the id of the current invocation's child, once dispatched. */
  const children = new Map<string, Promise<string | undefined>>()
  /** Child jobs being stored. */
  let spawning = 0
  /** Events of steps that ended, in the order they ended. */
  const results: EventObject[] = []
  /** Inbox entries read, not yet applied. */
  const pending: DbInboxEntry[] = []
  let news = true
  let wake: (() => void) | undefined
  const poke = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  job.onNews = () => {
    news = true
    poke()
  }
  const signal = job.signal
  signal.addEventListener("abort", poke)
  let timer: ReturnType<JobHost["clock"]["setTimeout"]> | undefined

  /**
   * After a transition's write: its effects happen only in the attempt that still runs the job
   * (a manager that crashed or was fenced meanwhile leaves them to the next attempt).
   */
  const committed = () => {
    if (job.finished) throw new JobInterrupted({ reason: job.interruptReason ?? "cancel" })
  }

  const interrupted = () => {
    if (job.interruptReason !== null) throw new JobInterrupted({ reason: job.interruptReason })
    if (job.finished) throw new JobInterrupted({ reason: "cancel" })
  }

  /** Starts (or, resumed, starts again) an invoked actor: a step, or a child job (idempotent by its key). */
  const invoke = (id: string, ref: AnyActorRef) => {
    const invocation = state.invoked[id] ?? id
    // An actor ref's logic: public on the actor, not on XState's ActorRef type.
    const actorLogic = (ref as unknown as { logic: unknown }).logic
    const childJob = jobOfLogic(actorLogic)
    const actorInput = (ref.getSnapshot() as { input?: unknown }).input
    if (childJob !== undefined) {
      // The job does not rest before the child is stored (its end is what would wake it).
      spawning++
      const spawned = host
        .spawnChildren(job, [{ job: childJob, params: actorInput as never, key: childKeyOf(invocation) }])
        .then(
          ([childId]) => childId,
          (error: unknown) => {
            // A child that cannot be dispatched (its params, its type unregistered) is the
            // invocation's error: the machine's onError takes it, as any actor's.
            if (error instanceof InvalidParams || error instanceof UnknownJobType || error instanceof InvalidOptions) {
              if (state.invoked[id] === invocation)
                results.push({ type: `xstate.error.actor.${id}`, error, actorId: id } as EventObject)
            } else fail(error)
            return undefined
          },
        )
        .finally(() => {
          spawning--
          poke()
        })
      children.set(id, spawned)
      return
    }
    if (!isStepLogic(actorLogic)) {
      fail(
        new InvalidOptions({
          option: `defineMachineJob("${definition.name}").machine`,
          detail: `actor "${id}" is neither a step (fromStep, fromPromise) nor fromJob: a machine job runs only those`,
        }),
      )
      return
    }
    const step: Step = { controller: new AbortController() }
    steps.set(id, step)
    const creator = (actorLogic as { config: (args: unknown) => unknown }).config
    Promise.resolve()
      .then(() =>
        creator({
          input: actorInput,
          signal: step.controller.signal,
          self: ref,
          system: ref.system,
          emit: () => {},
          stepKey: `${job.id}/${invocation}`,
        }),
      )
      .then(
        (output) => {
          if (steps.get(id) !== step) return
          steps.delete(id)
          results.push({ type: `xstate.done.actor.${id}`, output, actorId: id } as EventObject)
          poke()
        },
        (error: unknown) => {
          if (steps.get(id) !== step) return
          steps.delete(id)
          results.push({ type: `xstate.error.actor.${id}`, error, actorId: id } as EventObject)
          poke()
        },
      )
  }

  /** Stops an invoked actor its machine left: a step is aborted, a child job cancelled. */
  const stop = (id: string) => {
    const step = steps.get(id)
    if (step !== undefined) {
      steps.delete(id)
      step.controller.abort(new Error(`${definition.name}: left the state that invoked "${id}"`))
    }
    const child = children.get(id)
    if (child !== undefined) {
      children.delete(id)
      // A child that has ended already is not cancelled (the command is refused, and ignored).
      void child
        .then((childId) => (childId === undefined ? undefined : host.cancelChild(job, childId)))
        .catch(() => undefined)
    }
  }

  let failure: { error: unknown } | undefined
  const fail = (error: unknown) => {
    failure ??= { error }
    poke()
  }

  /** The machine state after `actions`: timers set and cancelled, each invocation's key. */
  const bookkeep = (next: AnyMachineSnapshot, actions: ReadonlyArray<ExecutableAction>, fired?: string) => {
    let timers = fired === undefined ? state.timers : state.timers.filter((t) => t.id !== fired)
    const invoked = { ...state.invoked }
    let started = state.started
    const now = host.now()
    for (const action of actions) {
      if (action.type === "xstate.raise" && typeof action.params?.delay === "number") {
        const id = String(action.params.id ?? `timer-${started}`)
        timers = [
          ...timers.filter((t) => t.id !== id),
          { id, due: now + action.params.delay, event: action.params.event },
        ]
      } else if (action.type === "xstate.cancel") {
        timers = timers.filter((t) => t.id !== action.params?.sendId)
      } else if (action.type === "xstate.spawnChild") {
        started++
        invoked[action.params.id] = `${action.params.id}/${started}`
      } else if (action.type === "xstate.stopChild") {
        const id = stoppedId(action)
        if (id !== undefined) delete invoked[id]
      }
    }
    const value = JSON.stringify(next.value)
    const path = state.path[state.path.length - 1] === value ? state.path : [...state.path, value]
    return {
      snapshot: logic.getPersistedSnapshot(next),
      timers,
      invoked,
      started,
      path: path.length > MACHINE_PATH_LIMIT ? path.slice(-MACHINE_PATH_LIMIT) : path,
    } satisfies MachineJobState
  }

  /** After a transition is committed: what it does. */
  const execute = (actions: ReadonlyArray<ExecutableAction>) => {
    for (const action of actions) {
      switch (action.type) {
        case "xstate.spawnChild":
          invoke(action.params.id, action.params.actorRef)
          break
        case "xstate.stopChild": {
          const id = stoppedId(action)
          if (id !== undefined) stop(id)
          break
        }
        case "xstate.raise":
        case "xstate.cancel":
          break
        default:
          // The machine's own actions (and xstate.log); XState's others act on a live actor system.
          if (!action.type.startsWith("xstate.") || action.type === "xstate.log")
            action.exec?.(action.info, action.params)
      }
    }
  }

  /** Applies one event: the transition, committed, then its actions. */
  const advance = async (
    snapshot: AnyMachineSnapshot,
    event: EventObject,
    applied?: number,
    fired?: string,
  ): Promise<AnyMachineSnapshot> => {
    const [next, actions] = take(() => logic.transition(snapshot, event as never, scope) as AnyMachineSnapshot)
    // An error the machine does not handle (a step with no onError) fails the attempt; the
    // stored snapshot stays the last good one, so a retry runs that step again.
    if (next.status === "error") throw next.error
    const nextState = bookkeep(next, actions, fired)
    await host.checkpoint(job, nextState, applied)
    committed()
    state = nextState
    if (applied !== undefined) job.inboxApplied = applied
    host.machineTransition?.(job, next, event)
    execute(actions)
    return next
  }

  /** An inbox entry as the event it is: an event sent, or an invoked child's end (nothing if no longer awaited). */
  const eventOf = async (entry: DbInboxEntry): Promise<EventObject | undefined> => {
    if (entry.event !== null)
      return decodeJsonWith(
        definition.machine.events,
        JSON.parse(entry.event),
        `event ${entry.seq} of job ${job.id}`,
      ) as EventObject
    const { key, outcome } = await host.invokedChild(job, entry.child_id!)
    // The child of the current invocation of some invoke id; an earlier one's end is old news.
    const id = Object.keys(state.invoked).find((i) => childKeyOf(state.invoked[i]!) === key)
    if (id === undefined || outcome._tag === "Waiting") return undefined
    children.delete(id)
    return outcome._tag === "Done"
      ? ({ type: `xstate.done.actor.${id}`, output: outcome.outputs[0], actorId: id } as EventObject)
      : ({ type: `xstate.error.actor.${id}`, error: outcome.error, actorId: id } as EventObject)
  }

  const nextDue = (): MachineTimer | undefined =>
    state.timers.reduce<MachineTimer | undefined>((a, t) => (a === undefined || t.due < a.due ? t : a), undefined)

  try {
    let snapshot: AnyMachineSnapshot
    if (state.snapshot === null) {
      const [first, actions] = take(() => logic.getInitialSnapshot(scope, input) as AnyMachineSnapshot)
      const firstState = bookkeep(first, actions)
      await host.checkpoint(job, firstState)
      committed()
      state = firstState
      host.machineTransition?.(job, first, { type: "xstate.init" })
      execute(actions)
      snapshot = first
    } else {
      snapshot = createActor(logic, { snapshot: state.snapshot as never, input }).getSnapshot() as AnyMachineSnapshot
      host.machineTransition?.(job, snapshot, undefined)
      // What was in flight when the last attempt ended runs again: a step at least once, a child job once.
      for (const [id, ref] of Object.entries(snapshot.children as Record<string, AnyActorRef>)) invoke(id, ref)
      // A child job of an invocation the machine left, whose cancel a crash cut off, is cancelled now.
      if (invokedJobTypes(definition).length > 0) {
        const current = new Set(Object.values(state.invoked).map(childKeyOf))
        for (const child of await host.invokedChildren(job))
          if (!current.has(child.key)) void host.cancelChild(job, child.id).catch(() => undefined)
      }
    }
    for (;;) {
      interrupted()
      if (failure !== undefined) throw failure.error
      if (snapshot.status === "done") return snapshot.output
      if (snapshot.status === "error") throw snapshot.error
      const result = results.shift()
      if (result !== undefined) {
        snapshot = await advance(snapshot, result)
        continue
      }
      const due = nextDue()
      if (due !== undefined && due.due <= host.now()) {
        snapshot = await advance(snapshot, due.event, undefined, due.id)
        continue
      }
      if (pending.length === 0 && news) {
        news = false
        const read = await host.inbox(job, job.inboxApplied, INBOX_PAGE)
        pending.push(...read)
        if (read.length >= INBOX_PAGE) news = true
      }
      const entry = pending.shift()
      if (entry !== undefined) {
        const event = await eventOf(entry)
        if (event === undefined) {
          // Nothing to apply (a child no longer awaited): only the cursor moves.
          await host.checkpoint(job, state, entry.seq)
          job.inboxApplied = entry.seq
        } else snapshot = await advance(snapshot, event, entry.seq)
        continue
      }
      // What came while the inbox was read (a step that ended, news) goes first.
      if (results.length > 0 || news || failure !== undefined) continue
      if (steps.size === 0 && spawning === 0) {
        // Only timers, child jobs and events to wait for: rest, holding no slot.
        job.resting = { until: due?.due ?? null }
        throw RESTING
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        if (due !== undefined) timer = host.clock.setTimeout(poke, Math.max(0, due.due - host.now()))
        if (signal.aborted || news || results.length > 0 || failure !== undefined) poke()
      })
      host.clock.clearTimeout(timer)
    }
  } finally {
    signal.removeEventListener("abort", poke)
    host.clock.clearTimeout(timer)
    job.onNews = undefined
    for (const step of steps.values())
      step.controller.abort(new JobInterrupted({ reason: job.interruptReason ?? "cancel" }))
    steps.clear()
  }
}
