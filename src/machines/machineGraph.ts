import type { AnyStateMachine } from "xstate"

/** One state of a machine, as read from its definition. */
export interface GraphState {
  /** XState's id: the machine id and the path, joined by dots (`job.running.pausing`). */
  readonly id: string
  readonly key: string
  readonly parent: string | null
  readonly type: "atomic" | "compound" | "parallel" | "final" | "history"
  /** The id of the initial child, for compound states. */
  readonly initial: string | null
  /** Actors invoked while the state is active. */
  readonly invokes: ReadonlyArray<string>
}

/** One transition. `target` null: the transition only runs actions (it stays in `source`). */
export interface GraphTransition {
  readonly source: string
  readonly target: string | null
  /** The event type as XState names it (`xstate.after.interruptGrace.job.running.pausing`). */
  readonly event: string
  /** A short label: `PAUSE`, `after interruptGrace`, `always`. */
  readonly label: string
  readonly actions: ReadonlyArray<string>
  readonly guard: string | null
}

export interface MachineGraph {
  readonly id: string
  /** The root state (the machine itself). */
  readonly root: string
  readonly states: ReadonlyArray<GraphState>
  readonly transitions: ReadonlyArray<GraphTransition>
}

// The parts of XState's StateNode this walk reads. XState's own types for them are generic
// over the machine and would need casts at every step; the runtime shape is stable in v5.
interface NodeLike {
  readonly id: string
  readonly key: string
  readonly type: GraphState["type"]
  readonly parent?: NodeLike
  readonly states: Record<string, NodeLike>
  readonly initial?: { readonly target: ReadonlyArray<NodeLike> }
  readonly invoke: ReadonlyArray<{ readonly src: unknown; readonly id: string }>
  readonly transitions: Map<string, ReadonlyArray<TransitionLike>>
  readonly always?: ReadonlyArray<TransitionLike>
}

interface TransitionLike {
  readonly eventType: string
  readonly target?: ReadonlyArray<NodeLike>
  readonly actions: ReadonlyArray<unknown>
  readonly guard?: unknown
}

const nameOf = (x: unknown): string => {
  if (typeof x === "string") return x
  if (typeof x === "function") return x.name || "(inline)"
  if (typeof x === "object" && x !== null && "type" in x) return String((x as { type: unknown }).type)
  return "(inline)"
}

/**
 * XState's generated event names, as a reader would say them: a delay in ms as a duration
 * (`after 1d`), an invoked actor's end by what it runs (`done: charge`) when `invoked` (invoke
 * id → its logic's name) knows it: XState's own id for it is `0.order.charging`.
 */
export const eventLabel = (eventType: string, invoked: ReadonlyMap<string, string> = new Map()): string => {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (after) return `after ${/^\d+$/.test(after[1]!) ? duration(Number(after[1])) : after[1]}`
  for (const [prefix, word] of [
    ["xstate.done.actor.", "done"],
    ["xstate.error.actor.", "error"],
  ] as const) {
    if (!eventType.startsWith(prefix)) continue
    const id = eventType.slice(prefix.length)
    return `${word}: ${invoked.get(id) ?? id}`
  }
  if (eventType.startsWith("xstate.done.state.")) return "done"
  return eventType === "" ? "always" : eventType
}

/** Milliseconds in the largest unit that divides them: `1d`, `90m`, `1500ms`. */
const duration = (ms: number): string => {
  const units = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const
  const unit = units.find(([, size]) => ms > 0 && ms % size === 0)
  return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`
}

/** The states and transitions of a machine, read from its definition (`machine.root`). */
export const machineGraph = (machine: AnyStateMachine): MachineGraph => {
  const states: GraphState[] = []
  const transitions: GraphTransition[] = []
  const visit = (node: NodeLike) => {
    states.push({
      id: node.id,
      key: node.key,
      parent: node.parent?.id ?? null,
      type: node.type,
      initial: node.initial?.target[0]?.id ?? null,
      invokes: node.invoke.map((i) => nameOf(i.src)),
    })
    const invoked = new Map(node.invoke.map((i) => [i.id, nameOf(i.src)]))
    const all: Array<[string, TransitionLike]> = []
    for (const [event, list] of node.transitions) for (const t of list) all.push([event, t])
    for (const t of node.always ?? []) all.push(["", t])
    for (const [event, t] of all) {
      const targets = t.target && t.target.length > 0 ? t.target : [undefined]
      for (const target of targets) {
        transitions.push({
          source: node.id,
          target: target?.id ?? null,
          event: event === "" ? "always" : event,
          label: eventLabel(event, invoked),
          actions: t.actions.map(nameOf),
          guard: t.guard === undefined ? null : nameOf(t.guard),
        })
      }
    }
    for (const child of Object.values(node.states)) visit(child)
  }
  const root = machine.root as unknown as NodeLike
  visit(root)
  return { id: machine.id, root: root.id, states, transitions }
}
