import type { IncomingMessage, ServerResponse } from "node:http"
import type { JobManager } from "../actors/JobManager.js"

const HEARTBEAT_MS = 15_000

/**
 * `manager.events` as Server-Sent Events: one subscription per connection, ended when the page
 * goes away. A subscription that overflows (a page that cannot keep up) gets an `overflow` event
 * and the stream ends; the page re-reads what it shows and reconnects.
 */
export const streamEvents = async (manager: JobManager, req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  })
  const iterator = manager.events[Symbol.asyncIterator]()
  const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), HEARTBEAT_MS)
  heartbeat.unref()
  const stop = () => {
    clearInterval(heartbeat)
    void iterator.return?.()
  }
  req.on("close", stop)
  res.on("close", stop)
  try {
    // The page lists jobs once it hears this: from then on it misses no event, this manager's
    // or another process's (they record theirs once they have read that this one listens).
    await manager.othersRecording()
    if (res.destroyed) return
    res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ managerId: manager.id })}\n\n`)
    for (;;) {
      const next = await iterator.next()
      if (next.done || res.destroyed) break
      res.write(`data: ${JSON.stringify(next.value)}\n\n`)
    }
  } catch (error) {
    if (!res.destroyed) res.write(`event: overflow\ndata: ${JSON.stringify({ error: (error as Error).message })}\n\n`)
  } finally {
    stop()
    if (!res.destroyed) res.end()
  }
}
