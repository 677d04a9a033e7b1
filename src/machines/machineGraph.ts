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
  readonly invoke: ReadonlyArray<{ readonly src: unknown; readonly id?: string }>
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

/** XState's generated event names, as a reader would say them. */
export const eventLabel = (eventType: string): string => {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (after) return `after ${after[1]}`
  if (eventType.startsWith("xstate.done.actor.")) return `done: ${eventType.slice("xstate.done.actor.".length)}`
  if (eventType.startsWith("xstate.error.actor.")) return `error: ${eventType.slice("xstate.error.actor.".length)}`
  if (eventType.startsWith("xstate.done.state.")) return "done"
  return eventType === "" ? "always" : eventType
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
          label: eventLabel(event),
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
