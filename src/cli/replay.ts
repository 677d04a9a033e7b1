import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { UsageError } from "./errors.js"

/** One line of the timeline: what happened to which actor, and the state it was in after. */
export interface ReplayRow {
  readonly seq: number
  /** Milliseconds since the first recorded event. */
  readonly at: number
  readonly actor: string
  readonly kind: "actor" | "event" | "snapshot"
  readonly event: string
  readonly state: string
  /** The actor's own status after the event: active, done (a final state) or stopped. */
  readonly status: string
}

interface RecordedEvent {
  readonly type?: string
  readonly name?: string
  readonly sessionId?: string
  readonly parentId?: string
  readonly sourceId?: string
  readonly createdAt?: string | number
  readonly event?: { readonly type?: string }
  readonly snapshot?: { readonly value?: unknown; readonly status?: string; readonly context?: { readonly jobId?: unknown } | null }
}

/** `{ running: "active" }` as `running.active`, the way the lifecycle diagram names it. */
const stateName = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => (v === null || (typeof v === "object" && Object.keys(v as object).length === 0) ? k : `${k}.${stateName(v)}`))
      .join(", ")
  }
  return JSON.stringify(value)
}

/** Reads a recording made with `jobstate inspect --out`: one inspection event per line. */
export const readRecording = (file: string): ReadonlyArray<RecordedEvent> => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (error) {
    throw new UsageError({ detail: `Cannot read the recording: ${(error as Error).message}` })
  }
  return parseRecording(text, file)
}

/** The inspection events of a recording's text (JSON lines); `source` names it in the error. */
export const parseRecording = (text: string, source: string): ReadonlyArray<RecordedEvent> => {
  return text.split("\n").flatMap((line, i) => {
    if (line.trim() === "") return []
    try {
      return [JSON.parse(line) as RecordedEvent]
    } catch {
      throw new UsageError({ detail: `${source}:${i + 1} is not an inspection event (JSON lines, as \`jobstate inspect --out\` writes)` })
    }
  })
}

/**
 * The timeline of a recording. An actor is named by its machine (`job`, `worker`, ...) and,
 * for a job's actors, the job id it serves (a worker takes its parent job's), so that the
 * attempts of one job read as one story.
 */
export const replayRows = (events: ReadonlyArray<RecordedEvent>): ReadonlyArray<ReplayRow> => {
  const actors = new Map<string, { name: string; jobId: string | null }>()
  const labelOf = (sessionId: string | undefined) => {
    const actor = sessionId === undefined ? undefined : actors.get(sessionId)
    if (actor === undefined) return sessionId ?? "?"
    // Job actors are named `<type>:<job id>` already; their workers get the job's id added.
    const withJob = actor.jobId !== null && !actor.name.includes(actor.jobId)
    return `${actor.name}${withJob ? ` ${actor.jobId!.slice(0, 8)}` : ""} (${sessionId})`
  }
  const first = Number(events.find((e) => e.createdAt !== undefined)?.createdAt ?? 0)
  return events.map((e, i) => {
    if (e.type === "@xstate.actor" && e.sessionId !== undefined) {
      const own = e.snapshot?.context?.jobId
      const jobId = typeof own === "string" ? own : (e.parentId !== undefined ? actors.get(e.parentId)?.jobId : null) ?? null
      actors.set(e.sessionId, { name: e.name ?? "actor", jobId })
    }
    const kind = e.type === "@xstate.actor" ? "actor" : e.type === "@xstate.snapshot" ? "snapshot" : "event"
    const event = kind === "actor" ? "(created)" : (e.event?.type ?? "")
    const from = kind === "event" && e.sourceId !== undefined ? ` ← ${labelOf(e.sourceId)}` : ""
    return {
      seq: i + 1,
      at: e.createdAt === undefined ? 0 : Number(e.createdAt) - first,
      actor: labelOf(e.sessionId),
      kind,
      event: event + from,
      state: kind === "event" ? "" : stateName(e.snapshot?.value),
      status: kind === "event" ? "" : (e.snapshot?.status ?? ""),
    }
  })
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * A self-contained page: the table is rendered here, so it shows without scripts; the inline
 * script only filters it. Nothing is loaded from anywhere else, so it works offline.
 */
export const replayPage = (title: string, rows: ReadonlyArray<ReplayRow>): string => {
  const actors = [...new Set(rows.map((r) => r.actor))]
  const body = rows
    .map(
      (r) =>
        `<tr class="${r.kind}" data-actor="${escapeHtml(r.actor)}"><td>${r.seq}</td><td>+${r.at} ms</td>` +
        `<td>${escapeHtml(r.actor)}</td><td>${r.kind}</td><td>${escapeHtml(r.event)}</td><td>${escapeHtml(r.state)}</td>` +
        `<td>${escapeHtml(r.status)}</td></tr>`,
    )
    .join("\n")
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>jobstate inspect: ${escapeHtml(title)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; white-space: nowrap; }
  th { position: sticky; top: 0; background: #fafafa; }
  td:nth-child(5), td:nth-child(6) { white-space: normal; font-family: ui-monospace, monospace; }
  tr.actor td { background: #eef6ff; }
  tr.snapshot td:nth-child(6) { font-weight: 600; }
  tr.event td:nth-child(5) { color: #8a4b00; }
  .controls { margin: 0.5em 0 1em; display: flex; gap: 1em; align-items: center; }
</style>
</head>
<body>
<h1>Inspection events: ${escapeHtml(title)}</h1>
<p>${rows.length} events, ${actors.length} actors. Each snapshot row shows the state the actor was in after the event.</p>
<div class="controls">
  <label>Actor <select id="actor"><option value="">all</option>${actors.map((a) => `<option>${escapeHtml(a)}</option>`).join("")}</select></label>
  <label><input type="checkbox" id="snapshots"> snapshots only</label>
</div>
<table>
<thead><tr><th>#</th><th>time</th><th>actor</th><th>kind</th><th>event</th><th>state</th><th>actor status</th></tr></thead>
<tbody id="rows">
${body}
</tbody>
</table>
<script>
  const actor = document.getElementById("actor"), snapshots = document.getElementById("snapshots")
  const filter = () => {
    for (const tr of document.querySelectorAll("#rows tr")) {
      tr.hidden = (actor.value !== "" && tr.dataset.actor !== actor.value) || (snapshots.checked && !tr.classList.contains("snapshot"))
    }
  }
  actor.addEventListener("change", filter)
  snapshots.addEventListener("change", filter)
</script>
</body>
</html>
`
}

/** Serves the page (`/`) and the rows as JSON (`/events.json`) on 127.0.0.1 only. */
export const serveReplay = (file: string, port: number): Promise<{ readonly url: string; readonly server: Server; readonly count: number }> => {
  const rows = replayRows(readRecording(file))
  const page = replayPage(file, rows)
  const server = createServer((req, res) => {
    if (req.url === "/events.json") {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(rows))
    } else if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
      res.end(page)
    } else {
      res.writeHead(404, { "content-type": "text/plain" })
      res.end("not found\n")
    }
  })
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(new UsageError({ detail: `Cannot serve on 127.0.0.1:${port} (${error.code}); choose another --port` })),
    )
    server.listen(port, "127.0.0.1", () => {
      const address = server.address()
      const actual = typeof address === "object" && address !== null ? address.port : port
      resolve({ url: `http://127.0.0.1:${actual}/`, server, count: rows.length })
    })
  })
}
