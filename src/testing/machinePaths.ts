import {
  initialTransition,
  transition,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from "xstate"
import { getAdjacencyMap, getStateNodes } from "xstate/graph"
import { jobOfLogic } from "../jobs/defineMachineJob.js"

/**
 * What makes a machine take one step of a path, as the checker brings it about on the engine:
 * an event sent (`manager.send`), a timer of an `after` falling due (the test clock moved to
 * it), or an invoked step or child job ending (`done`) or failing (`error`).
 */
export type PathStep =
  | { readonly kind: "sent"; readonly event: EventObject; readonly label: string }
  | { readonly kind: "after"; readonly event: EventObject; readonly label: string }
  | {
      readonly kind: "done" | "error"
      readonly event: EventObject
      readonly label: string
      /** The invoked actor's id (`xstate.done.actor.<id>`). */
      readonly actor: string
      /** Its name: the `src` it was invoked by, or its id when that is inline logic. */
      readonly name: string
      /** The child job's type, when the actor is `fromJob(Job)`; undefined for a step (`fromPromise`). */
      readonly job: string | undefined
    }

/** A path through the machine, as its pure transitions take it. */
export interface PlannedPath {
  readonly steps: ReadonlyArray<PathStep>
  /** The machine's state value at each state along the path: [0] the initial one, [i] after step i. */
  readonly states: ReadonlyArray<unknown>
  /** Whether its last state is final (the job ends there). */
  readonly final: boolean
  /** The steps, readable: `PAID {"ref":"tx-1"} → charge done → ship done`. */
  readonly label: string
}

export interface MachinePlan {
  readonly paths: ReadonlyArray<PlannedPath>
  /** The distinct states of the graph (as `serializeState` tells them apart). */
  readonly states: number
  /** Its transitions: one per state and event that the machine takes there. */
  readonly transitions: number
}

export interface PlanOptions {
  /** What the machine gets as `input` (`{ params, jobId }`). */
  readonly input: unknown
  /**
   * Sample events, decoded as `manager.send` would hand them to the machine, and samples of
   * invoked actors' ends (`{ type: "xstate.done.actor.<id>", output }`) for the model's guards.
   */
  readonly samples: ReadonlyArray<EventObject>
  /** Event types no path sends (the machine raises them itself, or the check leaves them out). */
  readonly without: ReadonlySet<string>
  /** Whether `{ type }` alone is an event the job's `events` schema takes. */
  readonly bareIsValid: (type: string) => boolean
  /** Tells states apart; default: by state value only (so a context that grows is not a new state). */
  readonly serializeState?: ((snapshot: AnyMachineSnapshot) => string) | undefined
  /** The most states the graph may have before its traversal stops (xstate/graph's `limit`). */
  readonly limit: number
}

/** Event types that are no path step: XState raises them itself within a macrostep. */
const INTERNAL_PREFIX = "xstate."
const ACTOR_END = /^xstate\.(done|error)\.actor\.(.+)$/

/** A state's `_nodes` (its active state nodes), which XState's snapshots carry. */
const nodesOf = (snapshot: AnyMachineSnapshot): ReadonlyArray<{ readonly ownEvents: ReadonlyArray<string> }> =>
  (snapshot as unknown as { _nodes: ReadonlyArray<{ ownEvents: ReadonlyArray<string> }> })._nodes

const byValue = (snapshot: AnyMachineSnapshot) => JSON.stringify(snapshot.value)

/**
 * The event types the machine takes from outside, in any of its states, that have neither a
 * sample nor a valid bare form: the caller must give a sample (or leave the type out, `withoutEvents`).
 */
export const eventsWithoutSample = (machine: AnyStateMachine, options: PlanOptions): ReadonlyArray<string> => {
  const types = new Set<string>()
  for (const node of [machine.root, ...getStateNodes(machine.root)])
    for (const type of node.ownEvents as ReadonlyArray<string>)
      if (!type.startsWith(INTERNAL_PREFIX) && !type.includes("*")) types.add(type)
  return [...types].filter(
    (type) => !options.without.has(type) && !options.samples.some((e) => e.type === type) && !options.bareIsValid(type),
  )
}

/**
 * The events to try in a state: for each event type its active state nodes take, the samples
 * of that type (or `{ type }` when the schema takes it bare); the `xstate.after.…` event of each
 * `after` delay; the done and error events of each invoked actor that is running. Those the
 * machine would not act on (`snapshot.can`) are left out, and a state that is not active (final,
 * or failed) takes none.
 */
const eventsIn =
  (options: PlanOptions) =>
  (snapshot: AnyMachineSnapshot): EventObject[] => {
    if (snapshot.status !== "active") return []
    const children = snapshot.children as Record<string, AnyActorRef | undefined>
    const events: EventObject[] = []
    for (const type of new Set(nodesOf(snapshot).flatMap((n) => n.ownEvents))) {
      const end = ACTOR_END.exec(type)
      if (type.startsWith("xstate.after.")) events.push({ type })
      else if (end !== null) {
        // An actor's end as sampled (`output` for a guard on it), or bare.
        const samples = options.samples.filter((e) => e.type === type)
        if (children[end[2]!] !== undefined) events.push(...(samples.length > 0 ? samples : [{ type }]))
      } else if (type.startsWith(INTERNAL_PREFIX) || options.without.has(type)) continue
      else if (type === "*") events.push(...options.samples)
      else if (type.endsWith(".*")) events.push(...options.samples.filter((e) => e.type.startsWith(type.slice(0, -1))))
      else {
        const samples = options.samples.filter((e) => e.type === type)
        if (samples.length > 0) events.push(...samples)
        else if (options.bareIsValid(type)) events.push({ type })
      }
    }
    const seen = new Set<string>()
    return events.filter((e) => {
      const key = JSON.stringify(e)
      if (seen.has(key)) return false
      seen.add(key)
      return snapshot.can(e as never)
    })
  }

interface Edge {
  readonly event: EventObject
  readonly to: string
}

/**
 * The paths to check, from xstate/graph's adjacency map of the machine (its states as
 * `serializeState` tells them apart, the events of `eventsIn`): one per transition, so that
 * every transition (and so every state) is on some path. Each is the shortest way to the
 * transition's source, the transition, then the shortest way from its target to a final state
 * (when there is one). A path that is the start of another is left out, the other checks it.
 * Each path is then replayed from the machine's initial state with its pure transitions, which
 * gives the state values the engine must pass through (and cuts a path short where a transition
 * that the graph's representative state took is not taken from the state the path reaches).
 */
export const planPaths = (machine: AnyStateMachine, options: PlanOptions): MachinePlan => {
  const serialize = options.serializeState ?? byValue
  const events = eventsIn(options)
  const adjacency = getAdjacencyMap(machine, {
    input: options.input,
    events,
    serializeState: (snapshot: AnyMachineSnapshot) => serialize(snapshot),
    stopWhen: (snapshot: AnyMachineSnapshot) => snapshot.status !== "active",
    limit: options.limit,
  } as never) as Record<
    string,
    { state: AnyMachineSnapshot; transitions: Record<string, { event: EventObject; state: AnyMachineSnapshot }> }
  >
  const keys = Object.keys(adjacency)
  const initial = keys[0]!
  const edges = new Map<string, Edge[]>()
  let transitions = 0
  for (const key of keys) {
    const out = Object.values(adjacency[key]!.transitions).map((t) => ({ event: t.event, to: serialize(t.state) }))
    edges.set(key, out)
    transitions += out.length
  }

  // The shortest way to each state (breadth first, in the adjacency's order).
  const way = new Map<string, EventObject[]>([[initial, []]])
  const order = [initial]
  for (let i = 0; i < order.length; i++) {
    const from = order[i]!
    for (const edge of edges.get(from) ?? []) {
      if (way.has(edge.to)) continue
      way.set(edge.to, [...way.get(from)!, edge.event])
      order.push(edge.to)
    }
  }
  // The shortest way from each state to a final one (breadth first backwards from the final states).
  const isFinal = (key: string) => adjacency[key]?.state.status === "done"
  const toEnd = new Map<string, EventObject[]>()
  const back = keys.filter(isFinal)
  for (const key of back) toEnd.set(key, [])
  for (let i = 0; i < back.length; i++) {
    const to = back[i]!
    for (const from of keys) {
      if (toEnd.has(from)) continue
      const edge = edges.get(from)!.find((e) => e.to === to)
      if (edge === undefined) continue
      toEnd.set(from, [edge.event, ...toEnd.get(to)!])
      back.push(from)
    }
  }

  const candidates: EventObject[][] = []
  for (const from of order) {
    const out = edges.get(from)!
    if (out.length === 0) candidates.push(way.get(from)!)
    for (const edge of out) candidates.push([...way.get(from)!, edge.event, ...(toEnd.get(edge.to) ?? [])])
  }
  const replayed = candidates.map((c) => replay(machine, options.input, c))
  const seen = new Map<string, PlannedPath>()
  for (const path of replayed) seen.set(JSON.stringify(path.steps.map((s) => s.event)), path)
  const all = [...seen.entries()]
  const paths = all
    .filter(
      ([key]) => !all.some(([other]) => other !== key && (key === "[]" || other.startsWith(`${key.slice(0, -1)},`))),
    )
    .map(([, path]) => path)
  return { paths, states: keys.length, transitions }
}

/** A path's events taken from the initial state by the machine's pure transitions. */
const replay = (machine: AnyStateMachine, input: unknown, events: ReadonlyArray<EventObject>): PlannedPath => {
  let [snapshot] = initialTransition(machine, input) as [AnyMachineSnapshot, unknown]
  const states: unknown[] = [snapshot.value]
  const steps: PathStep[] = []
  for (const event of events) {
    if (snapshot.status !== "active" || !snapshot.can(event as never)) break
    steps.push(stepOf(snapshot, event))
    ;[snapshot] = transition(machine, snapshot, event as never) as [AnyMachineSnapshot, unknown]
    states.push(snapshot.value)
  }
  return { steps, states, final: snapshot.status === "done", label: steps.map((s) => s.label).join(" → ") || "(start)" }
}

/** What an event is as a path step, in the state it is taken from. */
const stepOf = (snapshot: AnyMachineSnapshot, event: EventObject): PathStep => {
  const end = ACTOR_END.exec(event.type)
  if (end !== null) {
    const actor = end[2]!
    const ref = (snapshot.children as Record<string, AnyActorRef | undefined>)[actor]
    const src = (ref as { src?: unknown } | undefined)?.src
    const job = jobOfLogic((ref as { logic?: unknown } | undefined)?.logic)?.name
    const name = typeof src === "string" && !src.startsWith("xstate.invoke.") ? src : actor
    const what = job === undefined ? name : `${name} (child job "${job}")`
    const kind = end[1] as "done" | "error"
    const { type: _type, ...sampled } = event as EventObject & Record<string, unknown>
    const shown = Object.keys(sampled).length === 0 ? "" : ` ${JSON.stringify(sampled)}`
    return { kind, event, actor, name, job, label: `${what} ${kind === "done" ? "done" : "fails"}${shown}` }
  }
  if (event.type.startsWith("xstate.after.")) {
    const delay = event.type.slice("xstate.after.".length).split(".")[0]
    return { kind: "after", event, label: `after ${/^\d+$/.test(delay ?? "") ? `${delay} ms` : delay}` }
  }
  return { kind: "sent", event, label: eventLabel(event) }
}

/** `PAID {"ref":"tx-1"}`: the type, and the other fields when there are any. */
export const eventLabel = (event: EventObject): string => {
  const { type, ...rest } = event as EventObject & Record<string, unknown>
  return Object.keys(rest).length === 0 ? type : `${type} ${JSON.stringify(rest)}`
}
