// The lifecycle diagram (laid out by the server from the machine itself) and the throughput chart,
// drawn as SVG by hand.
import { html } from "./html.js"

/**
 * The leaf or compound box to light for a job in `status`: a queued job waiting for its time is
 * in queued.waiting, one waiting for its children in queued.children.
 */
const currentBox = (job, diagram) => {
  const has = (p) => diagram.boxes.some((b) => b.path === p)
  if (job.status === "queued") {
    if (job.awaitingChildren && has("queued.children")) return "queued.children"
    return job.runAt !== null && Date.parse(job.runAt) > Date.now() && has("queued.waiting") ? "queued.waiting" : has("queued.ready") ? "queued.ready" : "queued"
  }
  if (job.status === "running") return has("running.active") ? "running.active" : "running"
  return job.status
}

const top = (path) => path.split(".")[0]

export const Lifecycle = ({ diagram, job, path }) => {
  if (!diagram) return null
  const current = currentBox(job, diagram)
  const visited = new Set(path)
  const taken = new Set()
  for (let i = 1; i < path.length; i++) taken.add(`${path[i - 1]}>${path[i]}`)
  const edgeTaken = (e) => taken.has(`${top(e.from)}>${top(e.to)}`) && top(e.from) !== top(e.to)
  const entry = diagram.boxes.find((b) => b.path === diagram.initial)
  const box = drawBox(current, visited)
  return html`<svg class="lifecycle" viewBox="0 0 ${diagram.width} ${diagram.height}" role="img" aria-label="lifecycle of job ${job.id}, now ${job.status}">
    <defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b6bdc9" /></marker>
      <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#2f6fed" /></marker>
    </defs>
    ${entry && html`<g><circle cx=${entry.x - 18} cy=${entry.y + 16} r="5" fill="#1d2330" /><path class="edge" d="M${entry.x - 13},${entry.y + 16} L${entry.x},${entry.y + 16}" marker-end="url(#arrow)" /></g>`}
    ${diagram.boxes.filter((b) => b.kind === "compound").map(box)}
    ${diagram.edges.map((e) => {
      // Every label at once is a tangle at this size: the taken edges keep theirs, the others
      // show it on hover (and in a tooltip).
      const t = edgeTaken(e)
      return html`<g class=${"transition" + (t ? " taken" : "")}><title>${e.from} → ${e.to}: ${e.labels.join(", ")}</title>
        <path class=${"edge" + (t ? " taken" : "")} d=${e.d} marker-end=${t ? "url(#arrow-taken)" : "url(#arrow)"} />
        <path class="hit" d=${e.d} />
        <text class=${"edge-label" + (t ? " taken" : "")} x=${e.labelX} y=${e.labelY} text-anchor="middle">${e.labels.join(", ")}</text></g>`
    })}
    ${diagram.boxes.filter((b) => b.kind !== "compound").map(box)}
  </svg>`
}

/**
 * One state's box. Drawn in layers: compound states under the arrows (which start inside them),
 * the other states over the arrows and their labels, so a state's name is never covered.
 */
const drawBox = (current, visited) => (b) => {
  const cls = [b.kind, b.path === current ? "current" : "", visited.has(b.path) ? "visited" : ""].join(" ")
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
  const W = 600, H = 120, bw = W / minutes
  return html`<svg class="chart" viewBox="0 0 ${W} ${H + 18}" preserveAspectRatio="none" aria-label="jobs ended per minute, last hour">
    <line x1="0" y1=${H} x2=${W} y2=${H} stroke="#e4e7ec" />
    ${buckets.map((b, i) => {
      let y = H
      return ["completed", "failed", "cancelled"].map((s) => {
        const h = (b[s] / max) * (H - 10)
        y -= h
        return h > 0 ? html`<rect data-status=${s} x=${i * bw + 1} y=${y} width=${bw - 2} height=${h} fill=${COLORS[s]}><title>${b[s]} ${s}</title></rect>` : null
      })
    })}
    <text x="2" y="10" font-size="10" fill="#667085">${max}/min</text>
    <text x="2" y=${H + 14} font-size="10" fill="#667085">−60 min</text>
    <text x=${W - 2} y=${H + 14} font-size="10" fill="#667085" text-anchor="end">now</text>
  </svg>`
}
