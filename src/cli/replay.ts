import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { UsageError } from "./errors.js"
import {
  InvalidRecording,
  parseRecording,
  replayRows,
  type RecordedEvent,
  type ReplayRow,
} from "../machines/inspectionRecording.js"

/** Reads a recording made with `jobstate inspect --out`: one inspection event per line. */
export const readRecording = (file: string): ReadonlyArray<RecordedEvent> => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (error) {
    throw new UsageError({ detail: `Cannot read the recording: ${(error as Error).message}` })
  }
  try {
    return parseRecording(text, file)
  } catch (error) {
    // Bad input to the command: exit 2, as every other UsageError.
    if (error instanceof InvalidRecording) throw new UsageError({ detail: error.detail })
    throw error
  }
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
export const serveReplay = (
  file: string,
  port: number,
): Promise<{ readonly url: string; readonly server: Server; readonly count: number }> => {
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
