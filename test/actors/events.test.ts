import { Effect, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import type { JobManager, ManagerEvent } from "../../src/index.js"
import { NarratedJob, NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess } from "../fixtures/processes.js"
import { openTestStore, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/** Collects a subscription's events in the background, until it ends. */
const collect = (iterable: AsyncIterable<ManagerEvent>) => {
  const events: ManagerEvent[] = []
  let ended = false
  const done = (async () => {
    for await (const event of iterable) events.push(event)
    ended = true
  })()
  return { events, done, isEnded: () => ended }
}

const finished = (events: ReadonlyArray<ManagerEvent>, id: string) =>
  events.some((e) => e.id === id && e.type === "status" && e.status === "completed")

/** What an event says, without its time or manager: for comparing sequences. */
const gist = (e: ManagerEvent): string =>
  e.type === "status"
    ? `status ${e.status}`
    : e.type === "log"
      ? `log ${e.message}`
      : `progress ${JSON.stringify(e.progress)}`

/** Dispatches `noop` jobs until `events` has one's completion: the subscription has started. */
const untilHeard = async (manager: JobManager, events: ReadonlyArray<ManagerEvent>, what: string) => {
  const pings = new Set<string>()
  await waitUntil(
    async () => {
      if (events.some((e) => pings.has(e.id) && e.type === "status" && e.status === "completed")) return true
      pings.add((await manager.dispatch(NoopJob, { tag: "ping" })).id)
      await new Promise((r) => setTimeout(r, 20))
      return false
    },
    30_000,
    what,
  )
}

/** Whether the manager's lease says it listens to events. */
const leaseListens = async (dataDir: string, id: string) => {
  const store = await openTestStore(dataDir)
  try {
    return (await store.leases()).find((l) => l.id === id)?.listening
  } finally {
    await store.close()
  }
}

describe("manager.events", () => {
  it("yields a local job's status, progress and log events in order, each with its id, name and time", async () => {
    const manager = await openManager()
    const sub = collect(manager.events)
    const handle = await manager.dispatch(NarratedJob, { steps: 2, delayMs: 20 })
    await handle.result()
    await waitUntil(() => finished(sub.events, handle.id), 10_000, "the completed event")

    const mine = sub.events.filter((e) => e.id === handle.id)
    // Every status change, in order: dispatch, claim, end.
    expect(mine.filter((e) => e.type === "status").map(gist)).toEqual([
      "status queued",
      "status running",
      "status completed",
    ])
    expect(mine[0]).toMatchObject({ type: "status", status: "queued" })
    expect(mine[mine.length - 1]).toMatchObject({ type: "status", status: "completed" })
    // Between running and completed: each step's progress, then its log line.
    expect(mine.slice(2, -1).map(gist)).toEqual([
      `progress ${JSON.stringify({ _tag: "Count", done: 1, total: 2 })}`,
      "log step 0",
      `progress ${JSON.stringify({ _tag: "Count", done: 2, total: 2 })}`,
      "log step 1",
    ])
    for (const e of mine) {
      expect(e).toMatchObject({ id: handle.id, name: "narrated", manager: manager.id })
      expect(Number.isNaN(Date.parse(e.at))).toBe(false)
    }
    const log = mine.find((e) => e.type === "log")
    expect(log).toMatchObject({ level: "info", message: "step 0" })
  })

  it("has an Effect Stream twin", async () => {
    const manager = await openManager()
    const seen: ManagerEvent[] = []
    const fiber = Effect.runFork(Stream.runForEach(manager.effect.events, (e) => Effect.sync(() => void seen.push(e))))
    try {
      await untilHeard(manager, seen, "the stream to hear a ping")
      const handle = await manager.dispatch(NarratedJob, { steps: 1, delayMs: 1 })
      await waitUntil(() => finished(seen, handle.id), 10_000, "the completed event on the stream")
      expect(seen.filter((e) => e.id === handle.id).map(gist)).toEqual([
        "status queued",
        "status running",
        `progress ${JSON.stringify({ _tag: "Count", done: 1, total: 1 })}`,
        "log step 0",
        "status completed",
      ])
    } finally {
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
  })

  it("gives each subscriber every event", async () => {
    const manager = await openManager()
    const a = collect(manager.events)
    const b = collect(manager.events)
    const handles = await Promise.all([1, 2, 3].map(() => manager.dispatch(NarratedJob, { steps: 2, delayMs: 5 })))
    await Promise.all(handles.map((h) => h.result()))
    for (const sub of [a, b])
      await waitUntil(() => handles.every((h) => finished(sub.events, h.id)), 10_000, "every job's end")
    for (const sub of [a, b]) {
      for (const h of handles) {
        const mine = sub.events.filter((e) => e.id === h.id && e.type !== "progress").map(gist)
        expect(mine).toEqual(["status queued", "status running", "log step 0", "log step 1", "status completed"])
      }
    }
    // Not one stream shared between them: the same events, each delivered to both.
    expect(b.events.filter((e) => e.type !== "progress").map(gist)).toEqual(
      a.events.filter((e) => e.type !== "progress").map(gist),
    )
  })

  it("ends every iteration when the manager closes, and a new one at once after", async () => {
    const manager = await openManager()
    const sub = collect(manager.events)
    const handle = await manager.dispatch(NoopJob, {})
    await handle.result()
    expect(sub.isEnded()).toBe(false)
    await manager.close()
    await waitUntil(sub.isEnded, 10_000, "the iteration to end on close")
    await sub.done
    // Subscribed after close: ends without waiting for anything.
    const late = collect(manager.events)
    await waitUntil(late.isEnded, 10_000, "a subscription after close to end")
    expect(late.events).toEqual([])
  })

  it("never holds up the engine for a consumer that does not read; past its bound, the subscription fails with EventsOverflow", async () => {
    const manager = await openManager({ eventBufferSize: 5 })
    const idle = manager.events[Symbol.asyncIterator]()
    // Ten jobs, three status events each: far more than the idle subscriber may hold.
    const handles = await Promise.all(Array.from({ length: 10 }, () => manager.dispatch(NoopJob, {})))
    await Promise.all(handles.map((h) => h.result()))
    // Every job ran to its end meanwhile; the idle subscription learns that it fell behind.
    await expect(idle.next()).rejects.toMatchObject({ _tag: "EventsOverflow", limit: 5 })
    // A new subscription starts afresh.
    const fresh = collect(manager.events)
    const next = await manager.dispatch(NoopJob, {})
    await waitUntil(() => finished(fresh.events, next.id), 10_000, "a new subscription's events")
  })

  it("sees the events of jobs that another process runs", async () => {
    const dataDir = tempDir()
    // A real worker process runs every job; this process only dispatches and listens.
    await startProcess("test/fixtures/worker.ts", [dataDir, "2"])
    const manager = await openManager({ ...storeFor(dataDir), concurrency: 0 })
    const sub = collect(manager.events)
    // No event is missed once the worker has read that this manager listens.
    await manager.othersRecording()
    const handle = await manager.dispatch(NarratedJob, { steps: 2, delayMs: 30 })
    await waitUntil(() => finished(sub.events, handle.id), 30_000, "the worker's completed event")

    const mine = sub.events.filter((e) => e.id === handle.id)
    // The dispatch is this manager's; everything after it, the worker's, read from the store.
    expect(mine[0]).toMatchObject({ type: "status", status: "queued", manager: manager.id })
    const remote = mine.slice(1)
    expect(remote.every((e) => e.manager !== null && e.manager !== manager.id && e.name === "narrated")).toBe(true)
    expect(remote.filter((e) => e.type !== "progress").map(gist)).toEqual([
      "status running",
      "log step 0",
      "log step 1",
      "status completed",
    ])
    // Progress is written (and so heard) at most once per throttle period; the last value always.
    const progress = remote.filter((e) => e.type === "progress")
    expect(progress.length).toBeGreaterThan(0)
    expect(progress[progress.length - 1]).toMatchObject({ progress: { _tag: "Count", done: 2, total: 2 } })
    expect(new Set(remote.map((e) => e.manager)).size).toBe(1)
  })

  it("does not give a subscriber its own manager's events twice when they are also recorded for others", async () => {
    const dataDir = tempDir()
    const runner = await openManager({ ...storeFor(dataDir), concurrency: 2 })
    const own = collect(runner.events)
    // Another manager on the store listens: the runner now also writes its events to the store,
    // where its own reader finds them too.
    const other = await openManager({ ...storeFor(dataDir), concurrency: 0 })
    const theirs = collect(other.events)
    await other.othersRecording()
    const handle = await runner.dispatch(NarratedJob, { steps: 2, delayMs: 30 })
    await waitUntil(() => finished(theirs.events, handle.id), 30_000, "the other manager to hear the end")
    await waitUntil(() => finished(own.events, handle.id), 10_000, "the runner's own end event")
    // The other manager dispatches one more job: the runner reads its queued event from the
    // store after its own rows of the job (by seq), so by then it has passed over those.
    const probe = await other.dispatch(NoopJob, { tag: "probe" })
    await waitUntil(
      () => own.events.some((e) => e.id === probe.id && e.manager === other.id),
      30_000,
      "the runner to hear the other's dispatch",
    )

    const expected = ["status queued", "status running", "log step 0", "log step 1", "status completed"]
    expect(theirs.events.filter((e) => e.id === handle.id && e.type !== "progress").map(gist)).toEqual(expected)
    expect(own.events.filter((e) => e.id === handle.id && e.type !== "progress").map(gist)).toEqual(expected)
    expect(own.events.filter((e) => e.id === handle.id).every((e) => e.manager === runner.id)).toBe(true)
  })
  it("keeps saying it listens for a lease period after its last subscriber leaves, so one that comes straight back misses nothing", async () => {
    const dataDir = tempDir()
    // Long enough that the steps below, on a slow machine, stay well inside one lease period.
    const leaseMs = 4_000
    const manager = await openManager({ ...storeFor(dataDir), concurrency: 0, leaseMs })
    expect(await leaseListens(dataDir, manager.id)).toBe(false)
    const first = manager.events[Symbol.asyncIterator]()
    await manager.othersRecording()
    expect(await leaseListens(dataDir, manager.id)).toBe(true)
    await first.return!()
    const left = Date.now()
    // Gone a moment (a page reloading): the lease still says it listens, and a subscriber
    // coming back finds the others recording already.
    expect(await leaseListens(dataDir, manager.id)).toBe(true)
    const again = manager.events[Symbol.asyncIterator]()
    let settled = false
    void manager.othersRecording().then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(true)
    await again.return!()
    // Gone for good: a lease period later it says so, and the others stop recording.
    await waitUntil(
      async () => (await leaseListens(dataDir, manager.id)) === false,
      20_000,
      "the lease to say it no longer listens",
    )
    expect(Date.now() - left).toBeGreaterThanOrEqual(leaseMs)
  })
})
