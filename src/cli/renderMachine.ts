import type { GraphState, GraphTransition, MachineGraph } from "../machines/machineGraph.js"

const ancestors = (states: ReadonlyMap<string, GraphState>, id: string): string[] => {
  const chain: string[] = []
  for (let s = states.get(id); s !== undefined; s = s.parent === null ? undefined : states.get(s.parent))
    chain.push(s.id)
  return chain
}

/**
 * The compound state a transition is drawn in: the deepest one holding both ends. Mermaid
 * draws an edge inside the block where it is written, so an edge between two children of
 * `running` must be written inside `state running { }`.
 */
const ownerOf = (states: ReadonlyMap<string, GraphState>, t: GraphTransition): string => {
  const fromSource = ancestors(states, t.source).slice(1)
  const target = new Set(ancestors(states, t.target ?? t.source))
  return fromSource.find((id) => target.has(id)) ?? fromSource.at(-1) ?? t.source
}

const transitionLabel = (t: GraphTransition) => {
  const guard = t.guard === null ? "" : ` [${t.guard}]`
  // An edge that goes nowhere is only there for its actions, so they are its label.
  const actions = t.target === null && t.actions.length > 0 ? ` / ${t.actions.join(", ")}` : ""
  return `${t.label}${guard}${actions}`
}

/** Mermaid ids: the state key where it is unique across the diagram, else the whole path. */
const mermaidIds = (graphs: ReadonlyArray<MachineGraph>): Map<string, string> => {
  const count = new Map<string, number>()
  for (const g of graphs) for (const s of g.states) count.set(s.key, (count.get(s.key) ?? 0) + 1)
  const ids = new Map<string, string>()
  for (const g of graphs) {
    for (const s of g.states) {
      const id = count.get(s.key) === 1 ? s.key : s.id
      ids.set(s.id, id.replace(/[^A-Za-z0-9_]/g, "_"))
    }
  }
  return ids
}

/**
 * A `stateDiagram-v2`. One machine is the diagram itself; several become composite states of
 * one diagram, so the output pastes as a single document.
 */
export const toMermaid = (graphs: ReadonlyArray<MachineGraph>): string => {
  const ids = mermaidIds(graphs)
  const lines = ["stateDiagram-v2"]
  for (const g of graphs) {
    const states = new Map(g.states.map((s) => [s.id, s]))
    const edgesIn = new Map<string, GraphTransition[]>()
    for (const t of g.transitions) {
      const owner = ownerOf(states, t)
      edgesIn.set(owner, [...(edgesIn.get(owner) ?? []), t])
    }
    const id = (stateId: string) => ids.get(stateId)!
    const write = (state: GraphState, depth: number) => {
      const pad = "  ".repeat(depth)
      const children = g.states.filter((s) => s.parent === state.id)
      const body = (inner: string) => {
        if (state.initial !== null) lines.push(`${inner}[*] --> ${id(state.initial)}`)
        for (const child of children) {
          if (child.type === "compound" || child.type === "parallel") write(child, depth + 1)
          else if (id(child.id) !== child.key) lines.push(`${inner}${id(child.id)} : ${child.key}`)
          if (child.invokes.length > 0)
            lines.push(`${inner}note right of ${id(child.id)} : invokes ${child.invokes.join(", ")}`)
        }
        for (const t of edgesIn.get(state.id) ?? []) {
          if (t.source !== state.id) lines.push(`${inner}${edge(t)}`)
        }
        for (const child of children) if (child.type === "final") lines.push(`${inner}${id(child.id)} --> [*]`)
      }
      // The machine's own transitions (`on` at its root, taken from any state) start at its
      // block: written after it, as a composite state's are (ownerOf puts no other edge there).
      const own = (edgesIn.get(state.id) ?? []).filter((t) => t.source === state.id)
      if (state.parent === null && graphs.length === 1 && own.length === 0) body(pad + "  ")
      else {
        lines.push(`${pad}state ${id(state.id)} {`)
        body(pad + "  ")
        lines.push(`${pad}}`)
        for (const t of own) lines.push(`${pad}${edge(t)}`)
      }
    }
    const edge = (t: GraphTransition) => `${id(t.source)} --> ${id(t.target ?? t.source)} : ${transitionLabel(t)}`
    write(states.get(g.root)!, 1)
  }
  return lines.join("\n") + "\n"
}

const dotId = (id: string) => `"${id.replace(/"/g, '\\"')}"`
const startOf = (id: string) => dotId(`${id}:start`)

/**
 * Graphviz: a cluster per compound state, whose dot marks its initial state; an edge into or
 * out of a compound state is drawn to the cluster's border (`lhead` / `ltail`).
 */
export const toDot = (graphs: ReadonlyArray<MachineGraph>): string => {
  const lines = [
    "digraph jobstate {",
    "  compound=true;",
    "  rankdir=LR;",
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ]
  for (const g of graphs) {
    const states = new Map(g.states.map((s) => [s.id, s]))
    const isCluster = (s: GraphState) => s.type === "compound" || s.type === "parallel"
    const write = (state: GraphState, depth: number) => {
      const pad = "  ".repeat(depth)
      const invokes = state.invokes.length > 0 ? `\\ninvokes ${state.invokes.join(", ")}` : ""
      if (!isCluster(state)) {
        const shape = state.type === "final" ? ", peripheries=2" : ""
        lines.push(`${pad}${dotId(state.id)} [label="${state.key}${invokes}"${shape}];`)
        return
      }
      lines.push(`${pad}subgraph ${dotId(`cluster_${state.id}`)} {`, `${pad}  label="${state.key}${invokes}";`)
      lines.push(`${pad}  ${startOf(state.id)} [shape=point, width=0.1];`)
      for (const child of g.states.filter((s) => s.parent === state.id)) write(child, depth + 1)
      if (state.initial !== null) lines.push(`${pad}  ${startOf(state.id)} -> ${endpoint(state.initial)};`)
      lines.push(`${pad}}`)
    }
    const endpoint = (stateId: string) => {
      const s = states.get(stateId)!
      return isCluster(s) ? startOf(s.id) : dotId(s.id)
    }
    write(states.get(g.root)!, 1)
    for (const t of g.transitions) {
      const target = t.target ?? t.source
      const attrs = [`label="${transitionLabel(t).replace(/"/g, '\\"')}"`]
      if (isCluster(states.get(t.source)!)) attrs.push(`ltail=${dotId(`cluster_${t.source}`)}`)
      if (isCluster(states.get(target)!) && target !== t.source) attrs.push(`lhead=${dotId(`cluster_${target}`)}`)
      lines.push(`  ${endpoint(t.source)} -> ${endpoint(target)} [${attrs.join(", ")}];`)
    }
  }
  lines.push("}")
  return lines.join("\n") + "\n"
}
