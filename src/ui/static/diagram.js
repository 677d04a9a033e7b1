// The lifecycle diagram (laid out by the server from the machine itself) and the throughput chart,
// drawn as SVG by hand.
import { html } from "./html.js"

/**
 * The leaf or compound box to light for a job in `status`: a queued job waiting for its time is
 * in queued.waiting, one waiting for its children in queued.children, a machine job at rest in
 * queued.events (first: its `runAt` is its next timer, not a delay).
 */
const currentBox = (job, diagram) => {
  const has = (p) => diagram.boxes.some((b) => b.path === p)
  if (job.status === "queued") {
    if (job.awaitingEvents && has("queued.events")) return "queued.events"
    if (job.awaitingChildren && has("queued.children")) return "queued.children"
    return job.runAt !== null && Date.parse(job.runAt) > Date.now() && has("queued.waiting")
      ? "queued.waiting"
      : has("queued.ready")
        ? "queued.ready"
        : "queued"
  }
  if (job.status === "running") return has("running.active") ? "running.active" : "running"
  return job.status
}

const top = (path) => path.split(".")[0]

export const Lifecycle = ({ diagram, job, path }) => {
  if (!diagram) return null
  const taken = new Set()
  for (let i = 1; i < path.length; i++) taken.add(`${path[i - 1]}>${path[i]}`)
  // The path holds statuses, not substates: of the arrows between two statuses, those drawn from
  // the status itself (running → failed) stand for the step, unless none is (running.pausing → paused).
  const fromStatus = new Set(diagram.edges.filter((e) => e.from === top(e.from)).map((e) => `${e.from}>${top(e.to)}`))
  const edgeTaken = (e) => {
    const pair = `${top(e.from)}>${top(e.to)}`
    return taken.has(pair) && top(e.from) !== top(e.to) && (e.from === top(e.from) || !fromStatus.has(pair))
  }
  return html`<${Statechart} diagram=${diagram} kind="lifecycle" current=${new Set([currentBox(job, diagram)])}
    visited=${new Set(path)} taken=${edgeTaken} label=${`lifecycle of job ${job.id}, now ${job.status}`} />`
}

/**
 * The states a machine's state value has active, by their paths in the diagram: `"a"` → a;
 * `{ a: "x" }` → a, a.x; a parallel state's `{ p: { r1: "x", r2: "y" } }` → every region's.
 * `leaves` are the deepest (the states it is in); `active` has their ancestors too.
 */
export const statePaths = (value, prefix = "") => {
  if (typeof value === "string") return { active: [prefix + value], leaves: [prefix + value] }
  const active = []
  const leaves = []
  for (const [key, inner] of Object.entries(value ?? {})) {
    const below = statePaths(inner, `${prefix}${key}.`)
    active.push(prefix + key, ...below.active)
    leaves.push(...(below.leaves.length ? below.leaves : [prefix + key]))
  }
  return { active, leaves }
}

/**
 * The arrows a machine's path took: at each step, an arrow into a state entered then, from one
 * active before it. Of several into one state, the deepest source's (XState gives a state's own
 * transition priority over its ancestors'). The path holds the values it passed through, so a
 * step of several transitions in one go (an eventless chain) lights none.
 */
export const takenArrows = (diagram, path) => {
  const taken = new Set()
  const depth = (p) => p.split(".").length
  for (let i = 1; i < path.length; i++) {
    const before = new Set(statePaths(path[i - 1]).active)
    const after = new Set(statePaths(path[i]).active)
    const deepest = new Map()
    for (const e of diagram.edges) {
      if (!before.has(e.from) || !after.has(e.to) || before.has(e.to)) continue
      const best = deepest.get(e.to)
      if (best === undefined || depth(e.from) > depth(best[0].from)) deepest.set(e.to, [e])
      else if (depth(e.from) === depth(best[0].from)) best.push(e)
    }
    for (const edges of deepest.values()) for (const e of edges) taken.add(`${e.from}>${e.to}`)
  }
  return taken
}

/** A state value as text: the states it is in (`charging`; `review.legal, review.tech`). */
export const stateText = (value) => statePaths(value).leaves.join(", ")

/**
 * A machine job's own machine, laid out by the server as the lifecycle is: the states it is in
 * lit, the states and arrows of its path (`machinePath`, oldest first) in colour.
 */
export const MachineDiagram = ({ diagram, job }) => {
  if (!diagram) return null
  const path = job.machinePath ?? []
  const visited = new Set(path.flatMap((v) => statePaths(v).active))
  const current = new Set(job.machineState === undefined ? [] : statePaths(job.machineState).leaves)
  const taken = takenArrows(diagram, path)
  const now = job.machineState === undefined ? "not started" : `in ${stateText(job.machineState)}`
  return html`<${Statechart} diagram=${diagram} kind="machine" current=${current} visited=${visited}
    taken=${(e) => taken.has(`${e.from}>${e.to}`)} label=${`machine of ${job.name} job ${job.id}, ${now}`} />`
}

/**
 * A laid-out machine as SVG: the boxes of `current` lit, those `visited` and the arrows `taken`
 * says in colour. `kind` names its markers, so that two diagrams on one page keep their own.
 */
const Statechart = ({ diagram, kind, current, visited, taken, label }) => {
  const box = drawBox(current, visited)
  const arrow = `${kind}-arrow`
  // Drawn at its own size (the layout's sizes are the page's), narrower only in a narrower pane,
  // down to 480 px (its text would blur): below, the pane scrolls it.
  const minWidth = `min-width:${Math.min(480, diagram.width)}px`
  return html`<svg class=${`statechart ${kind}`} style=${minWidth} viewBox="0 0 ${diagram.width} ${diagram.height}" width=${diagram.width} height=${diagram.height} role="img" aria-label=${label}>
    <defs>
      <marker id=${arrow} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#98a2b3" /></marker>
      <marker id=${`${arrow}-taken`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#2f6fed" /></marker>
    </defs>
    ${diagram.entry && html`<g class="entry"><circle cx=${diagram.entry.x} cy=${diagram.entry.y} r="5" fill="#1d2330" /><path class="edge" d=${diagram.entry.d} marker-end=${`url(#${arrow})`} /></g>`}
    ${diagram.boxes.filter((b) => b.kind === "compound").map(box)}
    ${diagram.edges.map((e) => {
      // Every label has a place of its own in the layout: all are drawn, the taken ones in colour.
      const t = taken(e)
      return html`<g class=${"transition" + (t ? " taken" : "")} data-from=${e.from} data-to=${e.to}><title>${e.from} → ${e.to}: ${e.labels.join(", ")}</title>
        <path class=${"edge" + (t ? " taken" : "")} d=${e.d} marker-end=${t ? `url(#${arrow}-taken)` : `url(#${arrow})`} />
        <path class="hit" d=${e.d} />
        ${edgeLabel(e, t)}</g>`
    })}
    ${diagram.boxes.filter((b) => b.kind !== "compound").map(box)}
  </svg>`
}

/**
 * An arrow's labels in the box the layout kept for them (13 px lines, 4 px more between two labels);
 * a label broken after its namespace (`WORKER.` over `PAUSED`) has the namespace lighter.
 */
const edgeLabel = (e, taken) => {
  let y = e.label.y + 2
  return html`<text class=${"edge-label" + (taken ? " taken" : "")} x=${e.labelX} y=${y + 10} text-anchor="middle">${e.lines.map(
    (parts, i) =>
      parts.map((part, j) => {
        y += 13 + (i > 0 && j === 0 ? 4 : 0)
        return html`<tspan class=${j < parts.length - 1 ? "ns" : null} x=${e.labelX} y=${y - 3}>${part}</tspan>`
      }),
  )}</text>`
}

/**
 * One state's box. Drawn in layers: compound states under the arrows (which start inside them),
 * the other states over the arrows and their labels, so a state's name is never covered.
 */
const drawBox = (current, visited) => (b) => {
  const cls = [b.kind, current.has(b.path) ? "current" : "", visited.has(b.path) ? "visited" : ""].join(" ")
  const label = b.kind === "compound" ? b.y + 16 : b.y + b.height / 2 + 4
  return html`<g class=${cls} data-state=${b.path}>
    <rect x=${b.x} y=${b.y} width=${b.width} height=${b.height} rx="8" />
    <text x=${b.x + (b.kind === "compound" ? 10 : b.width / 2)} y=${label} text-anchor=${b.kind === "compound" ? "start" : "middle"}>${b.label}${b.invokes.length ? html`<tspan class="muted" font-size="10"> · invokes ${b.invokes.join(", ")}</tspan>` : ""}</text>
  </g>`
}

const COLORS = { completed: "#1f9d55", failed: "#d92d20", cancelled: "#8e44ad" }

/** Jobs ended per minute over the last hour, stacked by status. */
export const Throughput = ({ ended, since }) => {
  const start = Date.parse(since)
  const minutes = 60
  const buckets = Array.from({ length: minutes }, () => ({ completed: 0, failed: 0, cancelled: 0 }))
  for (const e of ended) {
    const i = Math.floor((Date.parse(e.minute + ":00Z") - start) / 60_000)
    if (i >= 0 && i < minutes && e.status in buckets[i]) buckets[i][e.status] += e.count
  }
  const max = Math.max(1, ...buckets.map((b) => b.completed + b.failed + b.cancelled))
  const W = 600,
    H = 120,
    bw = W / minutes
  // The bars stretch to the card's width (an inner SVG that need not keep its aspect); the text
  // is drawn by the outer one, in pixels, so it is never stretched with them.
  return html`<svg class="chart" aria-label="jobs ended per minute, last hour">
    <svg class="bars" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" width="100%" height=${H}>
      <line x1="0" y1=${H} x2=${W} y2=${H} stroke="#e4e7ec" vector-effect="non-scaling-stroke" />
      ${buckets.map((b, i) => {
        let y = H
        return ["completed", "failed", "cancelled"].map((s) => {
          const h = (b[s] / max) * (H - 10)
          y -= h
          return h > 0
            ? html`<rect data-status=${s} x=${i * bw + 1} y=${y} width=${bw - 2} height=${h} fill=${COLORS[s]}><title>${b[s]} ${s}</title></rect>`
            : null
        })
      })}
    </svg>
    <text x="2" y="10" font-size="10" fill="#667085">${max}/min</text>
    <text x="2" y=${H + 14} font-size="10" fill="#667085">−60 min</text>
    <text x="100%" dx="-2" y=${H + 14} font-size="10" fill="#667085" text-anchor="end">now</text>
  </svg>`
}
