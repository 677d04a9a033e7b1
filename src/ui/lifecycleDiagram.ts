import type { AnyStateMachine } from "xstate"
import { machineGraph, type GraphState, type MachineGraph } from "../cli/machineGraph.js"

/** A state drawn as a box; `path` is its dotted name below the root (`running.pausing`). */
export interface DiagramBox {
  readonly path: string
  readonly label: string
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
  readonly kind: "atomic" | "compound" | "final"
  /** Actors it invokes while active, for a note under its name. */
  readonly invokes: ReadonlyArray<string>
}

/** An arrow between two boxes, with every event that takes it (several transitions may share one). */
export interface DiagramEdge {
  readonly from: string
  readonly to: string
  readonly labels: ReadonlyArray<string>
  /** SVG path data, and where its label goes. */
  readonly d: string
  readonly labelX: number
  readonly labelY: number
}

export interface LifecycleDiagram {
  readonly width: number
  readonly height: number
  /** The initial state's path: the diagram draws an entry dot into it. */
  readonly initial: string
  readonly boxes: ReadonlyArray<DiagramBox>
  readonly edges: ReadonlyArray<DiagramEdge>
}

const LEAF_W = 118
const LEAF_H = 32
const PAD = 10
const HEADER = 24
// Narrow enough that the whole machine reads at 1280 px in the page's half-width detail pane:
// the page labels only the edges the job took (the rest on hover), so the gaps need no room for text.
const COLUMN_GAP = 64
const ROW_GAP = 36
const MARGIN = 30

/**
 * A layout of a machine's graph (the same graph `jobstate viz` renders), computed here so the page
 * only draws it: top-level states in columns by their longest distance from the initial state
 * (edges back to an earlier column are drawn curved), compound states as boxes holding their
 * children stacked. Transitions that only run actions (no target, or back to their own state) are
 * left out: they change no state, and a dashboard lights states.
 */
export const lifecycleDiagram = (machine: AnyStateMachine): LifecycleDiagram => layout(machineGraph(machine))

export const layout = (graph: MachineGraph): LifecycleDiagram => {
  const states = new Map(graph.states.map((s) => [s.id, s]))
  const pathOf = (id: string) => id.slice(graph.root.length + 1)
  const childrenOf = (id: string) => graph.states.filter((s) => s.parent === id)
  const topOf = (id: string): GraphState => {
    let s = states.get(id)!
    while (s.parent !== null && s.parent !== graph.root) s = states.get(s.parent)!
    return s
  }
  const tops = childrenOf(graph.root)
  const rootInitial = states.get(graph.root)!.initial ?? tops[0]!.id

  // Top-level edges (a child's transition counts for its top-level state), then longest-path ranks
  // over the graph without its back edges (found by a depth-first walk from the initial state).
  const topEdges = new Map<string, Set<string>>()
  for (const t of graph.transitions) {
    if (t.target === null) continue
    const a = topOf(t.source).id
    const b = topOf(t.target).id
    if (a === b) continue
    if (!topEdges.has(a)) topEdges.set(a, new Set())
    topEdges.get(a)!.add(b)
  }
  const back = new Set<string>()
  const onStack = new Set<string>()
  const seen = new Set<string>()
  const walk = (id: string) => {
    seen.add(id)
    onStack.add(id)
    for (const next of topEdges.get(id) ?? []) {
      if (onStack.has(next)) back.add(`${id}>${next}`)
      else if (!seen.has(next)) walk(next)
    }
    onStack.delete(id)
  }
  walk(rootInitial)
  for (const s of tops) if (!seen.has(s.id)) walk(s.id)
  const rank = new Map<string, number>(tops.map((s) => [s.id, 0]))
  for (let changed = true, guard = 0; changed && guard < tops.length + 1; guard++) {
    changed = false
    for (const [a, targets] of topEdges) {
      for (const b of targets) {
        if (back.has(`${a}>${b}`)) continue
        if (rank.get(b)! < rank.get(a)! + 1) {
          rank.set(b, rank.get(a)! + 1)
          changed = true
        }
      }
    }
  }

  // Sizes: a compound box holds its children stacked under its name.
  const sizeOf = (s: GraphState): { width: number; height: number } => {
    const children = childrenOf(s.id)
    if (children.length === 0) return { width: LEAF_W, height: LEAF_H }
    const inner = children.map(sizeOf)
    return {
      width: Math.max(...inner.map((c) => c.width)) + 2 * PAD,
      height: HEADER + inner.reduce((h, c) => h + c.height, 0) + (inner.length - 1) * PAD + PAD,
    }
  }
  const columns: GraphState[][] = []
  for (const s of tops) (columns[rank.get(s.id)!] ??= []).push(s)
  const columnSizes = columns.map((col) => (col ?? []).map(sizeOf))
  const columnHeights = columnSizes.map((sizes) => sizes.reduce((h, c) => h + c.height, 0) + (sizes.length - 1) * ROW_GAP)
  const height = Math.max(...columnHeights) + 2 * MARGIN
  const boxes: DiagramBox[] = []
  const place = (s: GraphState, x: number, y: number) => {
    const { width, height } = sizeOf(s)
    const children = childrenOf(s.id)
    const kind = children.length > 0 ? "compound" : s.type === "final" ? "final" : "atomic"
    boxes.push({ path: pathOf(s.id), label: s.key, x, y, width, height, kind, invokes: s.invokes })
    let cy = y + HEADER
    for (const child of children) {
      const size = sizeOf(child)
      place(child, x + (width - size.width) / 2, cy)
      cy += size.height + PAD
    }
  }
  let x = MARGIN + 14
  columns.forEach((col, i) => {
    const sizes = columnSizes[i] ?? []
    const colWidth = Math.max(0, ...sizes.map((c) => c.width))
    let y = (height - columnHeights[i]!) / 2
    ;(col ?? []).forEach((s, j) => {
      place(s, x + (colWidth - sizes[j]!.width) / 2, y)
      y += sizes[j]!.height + ROW_GAP
    })
    x += colWidth + COLUMN_GAP
  })
  const width = x - COLUMN_GAP + MARGIN

  // One arrow per pair of boxes, labelled with every event that takes it.
  const byPath = new Map(boxes.map((b) => [b.path, b]))
  const pairs = new Map<string, { from: string; to: string; labels: string[] }>()
  for (const t of graph.transitions) {
    if (t.target === null || t.target === t.source) continue
    const from = pathOf(t.source)
    const to = pathOf(t.target)
    const key = `${from}>${to}`
    const label = t.label === "always" && t.guard !== null ? `[${t.guard}]` : t.label
    const pair = pairs.get(key) ?? { from, to, labels: [] }
    if (!pair.labels.includes(label)) pair.labels.push(label)
    pairs.set(key, pair)
  }
  const edges = [...pairs.values()].map(({ from, to, labels }) => ({ from, to, labels, ...route(byPath.get(from)!, byPath.get(to)!) }))
  return { width, height, initial: pathOf(rootInitial), boxes, edges }
}

/** Where the line from a box's centre towards (dx, dy) leaves the box. */
const border = (b: DiagramBox, dx: number, dy: number) => {
  const cx = b.x + b.width / 2
  const cy = b.y + b.height / 2
  const sx = dx === 0 ? Infinity : b.width / 2 / Math.abs(dx)
  const sy = dy === 0 ? Infinity : b.height / 2 / Math.abs(dy)
  const s = Math.min(sx, sy)
  return { x: cx + dx * s, y: cy + dy * s }
}

const contains = (outer: DiagramBox, inner: DiagramBox) =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height

/**
 * A gentle curve bending to the right of its direction, so the two arrows of a pair that goes
 * both ways stay apart. An edge from a compound state to one of its own children (none in the
 * lifecycle today) is drawn as a short hook into it.
 */
const route = (a: DiagramBox, b: DiagramBox): { d: string; labelX: number; labelY: number } => {
  const ax = a.x + a.width / 2
  const ay = a.y + a.height / 2
  const bx = b.x + b.width / 2
  const by = b.y + b.height / 2
  if (contains(a, b) || contains(b, a)) {
    const start = { x: a.x + a.width, y: ay }
    const end = { x: b.x + b.width, y: by }
    return { d: `M${start.x},${start.y} C${start.x + 30},${start.y} ${end.x + 30},${end.y} ${end.x},${end.y}`, labelX: Math.max(start.x, end.x) + 20, labelY: (start.y + end.y) / 2 }
  }
  const dx = bx - ax
  const dy = by - ay
  const length = Math.hypot(dx, dy) || 1
  const bend = Math.min(60, 18 + length * 0.12)
  const mx = (ax + bx) / 2 + (-dy / length) * bend
  const my = (ay + by) / 2 + (dx / length) * bend
  const start = border(a, mx - ax, my - ay)
  const end = border(b, mx - bx, my - by)
  const r = (n: number) => Math.round(n * 10) / 10
  return {
    d: `M${r(start.x)},${r(start.y)} Q${r(mx)},${r(my)} ${r(end.x)},${r(end.y)}`,
    // The curve's midpoint (a quadratic's is halfway between the chord's middle and the control point).
    labelX: r((start.x + end.x) / 4 + mx / 2),
    labelY: r((start.y + end.y) / 4 + my / 2),
  }
}
