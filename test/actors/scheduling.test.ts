import { describe, expect, it } from "vitest"
import { JobPriority } from "../../src/index.js"
import { ChattyJob, NoopJob, TrackedJob, tracker, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

const resetTracker = () => {
  tracker.running = 0
  tracker.max = 0
  tracker.order.length = 0
}

describe("scheduling", () => {
  it("runs higher priorities first and FIFO within one priority", async () => {
    resetTracker()
    const manager = await openManager({ concurrency: 1 })
    const blocker = await manager.dispatch(WaitJob, {})
    const specs: Array<[string, number]> = [
      ["low-1", JobPriority.LOW],
      ["normal-1", JobPriority.NORMAL],
      ["critical-1", JobPriority.CRITICAL],
      ["high-1", JobPriority.HIGH],
      ["normal-2", JobPriority.NORMAL],
      ["critical-2", JobPriority.CRITICAL],
      ["low-2", JobPriority.LOW],
      ["high-2", JobPriority.HIGH],
    ]
    const handles = []
    for (const [label, priority] of specs)
      handles.push(await manager.dispatch(TrackedJob, { label, ms: 1 }, { priority }))
    await manager.cancel(blocker.id)
    await Promise.all(handles.map((h) => h.result()))
    expect(tracker.order).toEqual([
      "critical-1",
      "critical-2",
      "high-1",
      "high-2",
      "normal-1",
      "normal-2",
      "low-1",
      "low-2",
    ])
  })

  it("never runs more jobs at once than the concurrency limit, and uses all of it", async () => {
    resetTracker()
    const manager = await openManager({ concurrency: 3 })
    const handles = []
    // Long enough that a slow store's dispatches overlap the runs: all three slots get used.
    for (let i = 0; i < 30; i++) handles.push(await manager.dispatch(TrackedJob, { label: `t${i}`, ms: 50 }))
    const sampled: number[] = []
    const sampler = setInterval(async () => sampled.push((await manager.listRunningJobs()).length), 1)
    await Promise.all(handles.map((h) => h.result()))
    clearInterval(sampler)
    expect(tracker.max).toBe(3)
    expect(Math.max(...sampled)).toBeLessThanOrEqual(3)
    expect(tracker.order).toHaveLength(30)
  })

  it("groups the writes of one event-loop turn into one transaction", async () => {
    // All 200 queued before a worker opens, however fast or slow the store: what is measured
    // is the worker's grouping, not a race between dispatches and runs.
    const dataDir = tempDir()
    const producer = await openManager({ dataDir, concurrency: 0 })
    const ids = []
    for (let i = 0; i < 200; i++) ids.push((await producer.dispatch(NoopJob, {})).id)
    const manager = await openManager({ dataDir, concurrency: 8 })
    const before = manager.stats().transactions
    await Promise.all(ids.map(async (id) => (await manager.handle(id)).result()))
    // Unbatched, each job would take two transactions (claim, complete); grouped, a commit
    // completes the jobs that ended in one turn and claims as many.
    expect(manager.stats().transactions - before).toBeLessThan(100)
    expect(manager.stats().claims).toBe(200)
  })

  it("coalesces progress writes and always stores the last value", async () => {
    const manager = await openManager({ progressThrottleMs: 50 })
    const before = manager.stats().progressWrites
    const handle = await manager.dispatch(ChattyJob, { calls: 5000 })
    await handle.result()
    const writes = manager.stats().progressWrites - before
    expect(writes).toBeGreaterThanOrEqual(1)
    expect(writes).toBeLessThan(100)
    const info = await manager.getJobInfo(handle.id)
    expect(info.progressData).toEqual({ _tag: "Count", done: 5000, total: 5000 })
    expect(info.progress).toBe(1)
  })
})
