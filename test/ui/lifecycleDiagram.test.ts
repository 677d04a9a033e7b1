import { createMachine } from "xstate"
import { describe, expect, it } from "vitest"
import { machineGraph } from "../../src/machines/machineGraph.js"
import { jobLifecycleMachine } from "../../src/machines/jobLifecycleMachine.js"
import { OrderJob } from "../fixtures/machineJobs.js"
import {
  labelLines,
  layout,
  lifecycleDiagram,
  textWidth,
  type DiagramBox,
  type LifecycleDiagram,
} from "../../src/ui/lifecycleDiagram.js"

// The layout alone, as numbers (test/ui/diagram.browser.test.ts measures what Chromium draws).

interface Rect {
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

const area = (a: Rect, b: Rect) =>
  Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)) *
  Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y))
const within = (inner: Rect, outer: Rect) =>
  inner.x >= outer.x &&
  inner.y >= outer.y &&
  inner.x + inner.width <= outer.x + outer.width &&
  inner.y + inner.height <= outer.y + outer.height

/** How far a point is from a box's border (0 on it). */
const offBorder = (p: { x: number; y: number }, b: Rect) => {
  const dx = Math.max(b.x - p.x, 0, p.x - (b.x + b.width))
  const dy = Math.max(b.y - p.y, 0, p.y - (b.y + b.height))
  if (dx > 0 || dy > 0) return Math.hypot(dx, dy)
  return Math.min(p.x - b.x, b.x + b.width - p.x, p.y - b.y, b.y + b.height - p.y)
}

/** A path's first and last points (it is M, then L and Q segments). */
const ends = (d: string) => {
  const n = d.match(/-?\d+(\.\d+)?/g)!.map(Number)
  return { start: { x: n[0]!, y: n[1]! }, end: { x: n[n.length - 2]!, y: n[n.length - 1]! } }
}

const parentOf = (path: string) => path.split(".").slice(0, -1).join(".")

/** What every layout of every machine must be. */
const checkLayout = (d: LifecycleDiagram) => {
  const byPath = new Map(d.boxes.map((b) => [b.path, b]))
  const canvas = { x: 0, y: 0, width: d.width, height: d.height }
  for (const b of d.boxes) {
    expect(within(b, canvas), `${b.path} inside the diagram`).toBe(true)
    const parent = byPath.get(parentOf(b.path))
    // A child is inside its parent, under the parent's header line.
    if (parent)
      expect(
        within(b, { ...parent, y: parent.y + 24, height: parent.height - 24 }),
        `${b.path} inside ${parent.path}`,
      ).toBe(true)
  }
  for (const a of d.boxes)
    for (const b of d.boxes)
      if (a.path < b.path && parentOf(a.path) === parentOf(b.path))
        expect(area(a, b), `${a.path} and ${b.path}`).toBe(0)

  const labels = d.edges.map((e) => ({ ...e.label, name: `${e.from} → ${e.to}` }))
  for (const l of labels) expect(within(l, canvas), `${l.name}'s labels inside the diagram`).toBe(true)
  for (let i = 0; i < labels.length; i++)
    for (let j = i + 1; j < labels.length; j++)
      expect(area(labels[i]!, labels[j]!), `${labels[i]!.name} and ${labels[j]!.name}`).toBe(0)
  const header = (b: DiagramBox) => ({ ...b, height: 24 })
  for (const l of labels)
    for (const b of d.boxes) {
      if (b.kind !== "compound") expect(area(l, b), `${l.name}'s labels over ${b.path}`).toBe(0)
      // In a compound state or out of it, not across its border nor over its name.
      else {
        expect(within(l, b) || area(l, b) === 0, `${l.name}'s labels across ${b.path}'s border`).toBe(true)
        expect(area(l, header(b)), `${l.name}'s labels over ${b.path}'s name`).toBe(0)
      }
    }

  for (const e of d.edges) {
    const { start, end } = ends(e.d)
    expect(offBorder(start, byPath.get(e.from)!), `${e.from} → ${e.to} starts on ${e.from}`).toBeLessThanOrEqual(1)
    expect(offBorder(end, byPath.get(e.to)!), `${e.from} → ${e.to} ends on ${e.to}`).toBeLessThanOrEqual(1)
    expect(e.labelX).toBeCloseTo(e.label.x + e.label.width / 2, 0)
    expect(e.labelY).toBeCloseTo(e.label.y + e.label.height / 2, 0)
    // Room for its lines as the page draws them (11 px, 13 px apart).
    expect(e.lines).toEqual(e.labels.map(labelLines))
    for (const line of e.lines.flat()) expect(e.label.width).toBeGreaterThanOrEqual(textWidth(line, 11))
    expect(e.label.height).toBeGreaterThanOrEqual(e.lines.flat().length * 13)
  }
  const initial = byPath.get(d.initial)!
  expect(within({ x: d.entry.x - 5, y: d.entry.y - 5, width: 10, height: 10 }, canvas)).toBe(true)
  for (const b of d.boxes)
    expect(area({ x: d.entry.x - 5, y: d.entry.y - 5, width: 10, height: 10 }, b), `the entry dot over ${b.path}`).toBe(
      0,
    )
  expect(offBorder(ends(d.entry.d).end, initial)).toBeLessThanOrEqual(1)
}

describe("the lifecycle diagram's layout (ELK)", () => {
  it("lays out the job lifecycle: every state, one arrow per pair of states with each event that takes it, nothing overlapping", async () => {
    const d = await lifecycleDiagram(jobLifecycleMachine)
    checkLayout(d)
    expect(d.initial).toBe("queued")
    expect(d.boxes.map((b) => b.path).sort()).toEqual(
      [
        "queued",
        "queued.ready",
        "queued.waiting",
        "queued.children",
        "queued.events",
        "running",
        "running.active",
        "running.pausing",
        "running.cancelling",
        "paused",
        "completed",
        "failed",
        "cancelled",
      ].sort(),
    )
    expect(d.boxes.find((b) => b.path === "running")).toMatchObject({ kind: "compound", invokes: ["runJob"] })
    expect(d.boxes.find((b) => b.path === "completed")).toMatchObject({ kind: "final" })
    const edge = (from: string, to: string) => d.edges.filter((e) => e.from === from && e.to === to)
    expect(edge("queued", "running")).toEqual([expect.objectContaining({ labels: ["START"] })])
    // Four transitions, one arrow.
    expect(edge("running.pausing", "paused")).toEqual([
      expect.objectContaining({ labels: ["WORKER.PAUSED", "WORKER.AWAITING", "WORKER.WAITING", "WORKER.FAILED"] }),
    ])
    expect(edge("running.pausing", "paused")[0]!.lines).toEqual([
      ["WORKER.", "PAUSED"],
      ["WORKER.", "AWAITING"],
      ["WORKER.", "WAITING"],
      ["WORKER.", "FAILED"],
    ])
    expect(edge("running.active", "queued.events")).toEqual([expect.objectContaining({ labels: ["WORKER.WAITING"] })])
    expect(edge("running", "failed")).toEqual([expect.objectContaining({ labels: ["WORKER.FAILED", "FAIL"] })])
    // An eventless transition is labelled by its guard.
    expect(edge("queued.ready", "queued.waiting")).toEqual([expect.objectContaining({ labels: ["[hasRunAt]"] })])
    // Transitions that change no state (no target: the interrupt grace's timer) are left out.
    expect(d.edges.filter((e) => e.from === e.to)).toEqual([])
    expect(d.edges.flatMap((e) => e.labels)).not.toContain("after interruptGrace")
    // One arrow per pair.
    expect(new Set(d.edges.map((e) => `${e.from}>${e.to}`)).size).toBe(d.edges.length)
    expect(d.edges).toHaveLength(24)
    // Top to bottom: queued above running above where a job ends; narrow enough for half a 1280 px page.
    const y = (p: string) => d.boxes.find((b) => b.path === p)!.y
    expect(y("queued")).toBeLessThan(y("running"))
    for (const end of ["completed", "failed", "paused", "cancelled"]) expect(y("running")).toBeLessThan(y(end))
    // 672 px since queued.events (a machine job at rest): the half-width pane at 1280 px draws it
    // at about nine tenths (test/ui/diagram.browser.test.ts checks it stays readable there).
    expect(d.width).toBeLessThanOrEqual(680)
  })

  it("gives the same layout every time", async () => {
    expect(await lifecycleDiagram(jobLifecycleMachine)).toEqual(await lifecycleDiagram(jobLifecycleMachine))
  })

  it("lays out any machine: deep nesting, arrows into a compound state's own child and out of a grandchild", async () => {
    const machine = createMachine({
      id: "m",
      initial: "a",
      states: {
        a: {
          initial: "x",
          on: { IN: ".y", GO: "b" },
          states: { x: { on: { NEXT: "y", STAY: "x" } }, y: { on: { OUT: "#m.b" } } },
        },
        b: { on: { BACK: "a.x", DEEP: "#m.c.d.e", "A.VERY.LONG.EVENT.NAME": "c" } },
        c: { initial: "d", states: { d: { initial: "e", states: { e: { on: { UP: "#m.a", DONE: "#m.f" } } } } } },
        f: { type: "final" },
      },
    })
    const d = await layout(machineGraph(machine))
    checkLayout(d)
    expect(d.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(
      ["a.x>a.y", "a.y>b", "a>a.y", "a>b", "b>a.x", "b>c", "b>c.d.e", "c.d.e>a", "c.d.e>f"].sort(),
    )
    expect(d.edges.find((e) => e.to === "c")!.lines).toEqual([["A.", "VERY.LONG.EVENT.NAME"]])
    expect(d.anywhere).toEqual([])
  })

  it("lays out a machine job's machine: a state that invokes has room for what it invokes; delays and steps said as a reader would", async () => {
    const d = await lifecycleDiagram(OrderJob.machine.machine)
    checkLayout(d)
    const charging = d.boxes.find((b) => b.path === "charging")!
    expect(charging).toMatchObject({ kind: "atomic", invokes: ["charge"] })
    expect(charging.width).toBeGreaterThanOrEqual(textWidth("charging", 14) + textWidth(" · invokes charge", 10))
    const labels = (from: string, to: string) => d.edges.find((e) => e.from === from && e.to === to)?.labels
    expect(labels("awaitingPayment", "expired")).toEqual(["after 1d"])
    expect(labels("charging", "shipping")).toEqual(["done: charge"])
    expect(labels("charging", "failedCharge")).toEqual(["error: charge"])
    expect(labels("shipping", "done")).toEqual(["done: ship"])
  })

  it("lists a machine's own transitions (`on` at its root, taken from any state) instead of drawing them from no box", async () => {
    // ELK refuses an edge from the graph it lays out: this machine's layout threw before.
    const machine = createMachine({
      id: "order",
      initial: "open",
      on: { CANCEL: ".cancelled", ABORT: ".cancelled", NOTE: { actions: () => {} }, RESET: ".open.fresh" },
      states: {
        open: {
          initial: "fresh",
          states: { fresh: { on: { TOUCH: "touched" } }, touched: {} },
          on: { CLOSE: "closed" },
        },
        closed: { type: "final" },
        cancelled: { type: "final" },
      },
    })
    const d = await layout(machineGraph(machine))
    checkLayout(d)
    expect(d.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(["open.fresh>open.touched", "open>closed"])
    expect(d.anywhere).toEqual([
      { to: "cancelled", labels: ["CANCEL", "ABORT"] },
      { to: "open.fresh", labels: ["RESET"] },
    ])
  })
})
