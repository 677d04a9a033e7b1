import type { ElkExtendedEdge, ElkLabel, ElkNode, LayoutOptions } from "elkjs/lib/elk-api.js"
import type { AnyStateMachine } from "xstate"
import { machineGraph, type GraphState, type MachineGraph } from "../machines/machineGraph.js"

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
  /** The labels as drawn, stacked in `label`'s box: each one's lines (`WORKER.` over `PAUSED`). */
  readonly lines: ReadonlyArray<ReadonlyArray<string>>
  /** SVG path data: the route the layout found, from `from`'s border to `to`'s. */
  readonly d: string
  /** The centre of the labels' box. */
  readonly labelX: number
  readonly labelY: number
  /** The box the layout kept for the labels (lines of 13 px, 4 more between labels): no other label and no state is in it. */
  readonly label: { readonly x: number; readonly y: number; readonly width: number; readonly height: number }
}

export interface LifecycleDiagram {
  readonly width: number
  readonly height: number
  /** The initial state's path, and the entry dot (a circle's centre) with its arrow into it. */
  readonly initial: string
  readonly entry: { readonly x: number; readonly y: number; readonly d: string }
  readonly boxes: ReadonlyArray<DiagramBox>
  readonly edges: ReadonlyArray<DiagramEdge>
  /**
   * The machine's own transitions (`on` at its root): taken from whichever state it is in, they
   * have no box to start from and are not drawn; the page lists them, each target with its events.
   */
  readonly anywhere: ReadonlyArray<{ readonly to: string; readonly labels: ReadonlyArray<string> }>
}

// The sizes the page draws at (style.css): a state's name in 14 px, an edge's labels in 11 px
// lines of 13 px (4 px more between two labels), a compound state's name on a header line above
// its children.
const STATE_FONT = 14
const NOTE_FONT = 10
const LABEL_FONT = 11
const LABEL_LINE = 13
/** Between two labels of one arrow, so that `FAIL` under `WORKER.` `FAILED` reads as another. */
const LABEL_GAP = 4
const LEAF_H = 32
const LEAF_PAD = 14
const LEAF_MIN = 72
const HEADER = 26
const PAD = 10
const MARGIN = 12
/** The entry dot: laid out as a node of its own, so that no arrow runs through it. */
const ENTRY_ID = "(entry)"
const ENTRY_SIZE = 10

/**
 * How wide `text` is drawn in a sans-serif font of `size` px, bold, over-estimated: the page's
 * font is the system's (DejaVu Sans, Helvetica, Segoe UI...), and a label the layout made too
 * small would run over its neighbours. Ems per character, about DejaVu Sans Bold's, the widest.
 */
export const textWidth = (text: string, size: number): number => {
  let ems = 0
  for (const c of text) {
    if (/[A-Z]/.test(c)) ems += c === "I" ? 0.38 : c === "M" || c === "W" ? 1.0 : 0.78
    else if (/[a-z]/.test(c))
      ems +=
        c === "i" || c === "l" || c === "j"
          ? 0.35
          : c === "m" || c === "w"
            ? 1.0
            : c === "f" || c === "t" || c === "r"
              ? 0.48
              : 0.7
    else if (/[0-9]/.test(c)) ems += 0.7
    else if (c === " ") ems += 0.35
    else ems += 0.42 // . , : · [ ] ( ) -
  }
  return Math.ceil(ems * size)
}

/**
 * A label's lines: an event with a namespace (`WORKER.PAUSED`) breaks after its dot, so that a
 * column of labels in a top-to-bottom layout stays narrow.
 */
export const labelLines = (label: string): string[] => {
  const dot = label.indexOf(".")
  return dot > 0 && dot < label.length - 1 && !label.includes(" ")
    ? [label.slice(0, dot + 1), label.slice(dot + 1)]
    : [label]
}

/**
 * A layout of a machine's graph (the same graph `jobstate viz` renders) by ELK's layered
 * algorithm (elkjs, the layout the Stately tools use), computed here so the page only draws it.
 * Compound states are boxes holding their children, laid out with them in one pass (an arrow may
 * cross their border); every arrow's labels get a box of their own that no other label and no
 * state overlaps (ELK places them in the layers, between the states). Transitions that only run actions (no target, or back to their own
 * state) are left out: they change no state, and a dashboard lights states. Several transitions
 * between the same two states are one arrow, labelled with each of them.
 */
export const lifecycleDiagram = async (machine: AnyStateMachine): Promise<LifecycleDiagram> =>
  layout(machineGraph(machine))

interface Elk {
  layout(graph: ElkNode): Promise<ElkNode>
}

/** ELK, loaded on first use: 1.6 MB of JavaScript that only the dashboard's diagram needs. */
let elk: Promise<Elk> | undefined
const elkOnce = () =>
  (elk ??= import("elkjs/lib/elk.bundled.js").then((m) => {
    // A CommonJS module whose export is the constructor: Node hands it over as `default`.
    const ELK = m.default as unknown as new () => Elk
    return new ELK()
  }))

const OPTIONS: LayoutOptions = {
  "elk.algorithm": "layered",
  // Top to bottom: the page's pane is half the window wide, and a lifecycle read downwards
  // (queued, running, then where a job ends) keeps the labels of arrows side by side in rows
  // rather than in columns of their own. Left to right was three times as wide.
  "elk.direction": "DOWN",
  // Children and arrows across compound borders laid out together, in one pass.
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.edgeLabels.placement": "CENTER",
  // A cycle (retry, resume, requeue) is broken against the order the machine declares its
  // states in: queued first, so the arrows that go back are the ones into queued.
  "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
  // Each long arrow kept straight: the narrowest of ELK's placements for this graph.
  "elk.layered.nodePlacement.strategy": "LINEAR_SEGMENTS",
  "elk.spacing.nodeNode": "12",
  "elk.layered.spacing.nodeNodeBetweenLayers": "24",
  "elk.spacing.edgeNode": "8",
  "elk.spacing.edgeEdge": "6",
  "elk.layered.spacing.edgeEdgeBetweenLayers": "8",
  "elk.layered.spacing.edgeNodeBetweenLayers": "10",
  "elk.spacing.edgeLabel": "3",
  "elk.spacing.labelLabel": "2",
  "elk.padding": `[top=${MARGIN},left=${MARGIN},bottom=${MARGIN},right=${MARGIN}]`,
  // Coordinates relative to the root, of shapes and edges alike: the page draws them as they are.
  "elk.json.shapeCoords": "ROOT",
  "elk.json.edgeCoords": "ROOT",
}

export const layout = async (graph: MachineGraph): Promise<LifecycleDiagram> => {
  const states = new Map(graph.states.map((s) => [s.id, s]))
  const pathOf = (id: string) => id.slice(graph.root.length + 1)
  const childrenOf = (id: string) => graph.states.filter((s) => s.parent === id)
  const tops = childrenOf(graph.root)
  const rootInitial = states.get(graph.root)!.initial ?? tops[0]!.id

  // One arrow per pair of states, labelled with every event that takes it.
  const pairs = new Map<string, { from: string; to: string; labels: string[] }>()
  for (const t of graph.transitions) {
    if (t.target === null || t.target === t.source) continue
    const key = `${t.source}>${t.target}`
    const label = t.label === "always" && t.guard !== null ? `[${t.guard}]` : t.label
    const pair = pairs.get(key) ?? { from: t.source, to: t.target, labels: [] }
    if (!pair.labels.includes(label)) pair.labels.push(label)
    pairs.set(key, pair)
  }
  // The root is the graph ELK lays out, not a node of it: an edge from it is refused.
  const arrows = [...pairs.values()].filter((e) => e.from !== graph.root)
  const anywhere = [...pairs.values()]
    .filter((e) => e.from === graph.root)
    .map((e) => ({ to: pathOf(e.to), labels: e.labels }))

  // A state's name and, after it on the same line, what it invokes (a leaf's as a compound's).
  const nameWidth = (s: GraphState) =>
    textWidth(s.key, STATE_FONT) + (s.invokes.length ? textWidth(` · invokes ${s.invokes.join(", ")}`, NOTE_FONT) : 0)
  const headerWidth = (s: GraphState) => PAD + nameWidth(s) + PAD
  const node = (s: GraphState): ElkNode => {
    const children = childrenOf(s.id)
    if (children.length === 0)
      return { id: s.id, width: Math.max(LEAF_MIN, nameWidth(s) + 2 * LEAF_PAD), height: LEAF_H }
    return {
      id: s.id,
      children: children.map(node),
      layoutOptions: {
        "elk.padding": `[top=${HEADER},left=${PAD},bottom=${PAD},right=${PAD}]`,
        // Wide enough for its name and what it invokes, on the header line.
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${headerWidth(s)}, ${HEADER + LEAF_H + PAD})`,
      },
    }
  }
  const labelOf = (labels: ReadonlyArray<string>, i: number): ElkLabel => {
    const lines = labels.flatMap(labelLines)
    return {
      id: `edge ${i} label`,
      text: lines.join("\n"),
      width: Math.max(...lines.map((l) => textWidth(l, LABEL_FONT))) + 4,
      height: lines.length * LABEL_LINE + (labels.length - 1) * LABEL_GAP + 4,
    }
  }
  const root: ElkNode = {
    id: graph.root,
    layoutOptions: OPTIONS,
    children: [{ id: ENTRY_ID, width: ENTRY_SIZE, height: ENTRY_SIZE }, ...tops.map(node)],
    edges: [
      { id: "edge entry", sources: [ENTRY_ID], targets: [rootInitial] },
      ...arrows.map(
        (e, i): ElkExtendedEdge => ({
          id: `edge ${i}`,
          sources: [e.from],
          targets: [e.to],
          labels: [labelOf(e.labels, i)],
        }),
      ),
    ],
  }
  const laid = await (await elkOnce()).layout(root)

  const r = (n: number) => Math.round(n * 10) / 10
  const boxes: DiagramBox[] = []
  const collect = (n: ElkNode) => {
    const s = states.get(n.id)!
    const kind = n.children && n.children.length > 0 ? "compound" : s.type === "final" ? "final" : "atomic"
    boxes.push({
      path: pathOf(s.id),
      label: s.key,
      x: r(n.x!),
      y: r(n.y!),
      width: r(n.width!),
      height: r(n.height!),
      kind,
      invokes: s.invokes,
    })
    for (const c of n.children ?? []) collect(c)
  }
  for (const c of laid.children ?? []) if (c.id !== ENTRY_ID) collect(c)

  // Edges come back where they were given (the root, as INCLUDE_CHILDREN takes them).
  const laidEdges = new Map((laid.edges ?? []).map((e) => [e.id, e as ElkExtendedEdge]))
  const route = (id: string) =>
    (laidEdges.get(id)!.sections ?? [])
      .flatMap((sec) => [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint])
      .map((p) => ({ x: r(p.x), y: r(p.y) }))
  const edges = arrows.map((e, i): DiagramEdge => {
    const out = laidEdges.get(`edge ${i}`)!
    const label = out.labels![0]!
    const box = { x: r(label.x!), y: r(label.y!), width: r(label.width!), height: r(label.height!) }
    return {
      from: pathOf(e.from),
      to: pathOf(e.to),
      labels: e.labels,
      lines: e.labels.map(labelLines),
      d: roundedPath(route(`edge ${i}`)),
      labelX: r(box.x + box.width / 2),
      labelY: r(box.y + box.height / 2),
      label: box,
    }
  })
  const dot = laid.children!.find((c) => c.id === ENTRY_ID)!
  const entry = { x: r(dot.x! + ENTRY_SIZE / 2), y: r(dot.y! + ENTRY_SIZE / 2), d: roundedPath(route("edge entry")) }
  return {
    width: r(laid.width!),
    height: r(laid.height!),
    initial: pathOf(rootInitial),
    entry,
    boxes,
    edges,
    anywhere,
  }
}

/** An orthogonal route as SVG path data, its corners rounded (a radius of up to 6). */
const roundedPath = (points: ReadonlyArray<{ x: number; y: number }>): string => {
  const [first, ...rest] = points
  if (!first) return ""
  let d = `M${first.x},${first.y}`
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i]!
    const prev = i === 0 ? first : rest[i - 1]!
    const next = rest[i + 1]
    if (!next) {
      d += ` L${p.x},${p.y}`
      break
    }
    const radius = Math.min(6, Math.hypot(p.x - prev.x, p.y - prev.y) / 2, Math.hypot(next.x - p.x, next.y - p.y) / 2)
    const toward = (q: { x: number; y: number }) => {
      const len = Math.hypot(q.x - p.x, q.y - p.y) || 1
      return {
        x: Math.round((p.x + ((q.x - p.x) / len) * radius) * 10) / 10,
        y: Math.round((p.y + ((q.y - p.y) / len) * radius) * 10) / 10,
      }
    }
    const a = toward(prev)
    const b = toward(next)
    d += ` L${a.x},${a.y} Q${p.x},${p.y} ${b.x},${b.y}`
  }
  return d
}
