import { describe, expect, it } from "vitest"
import { JobFailed } from "../../src/index.js"
import { FanOutJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { readRows } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const sumOfSquares = (n: number) => ((n - 1) * n * (2 * n - 1)) / 6

describe("child jobs", () => {
  it("a parent on a concurrency-1 manager waits for its children without holding the slot", async () => {
    const manager = await openManager({ concurrency: 1 })
    const parent = await manager.dispatch(FanOutJob, { count: 5 })
    expect(await parent.result()).toEqual({ sum: sumOfSquares(5), children: 5 })
    const children = await manager.listJobs({ parentId: parent.id })
    expect(children.map((c) => c.status)).toEqual(Array(5).fill("completed"))
    expect(children.every((c) => c.parentId === parent.id)).toBe(true)
    const info = await manager.getJobInfo(parent.id)
    expect(info.children).toEqual({ completed: 5 })
    // One attempt spawned and began to wait; the second found them done.
    expect(info.attempts).toBe(2)
  })

  it("a failing child fails the parent with the child's error", async () => {
    const manager = await openManager({ concurrency: 2 })
    const parent = await manager.dispatch(FanOutJob, { count: 4, failAt: 2 })
    const failure = (await parent.result().catch((e: unknown) => e)) as JobFailed
    expect(failure).toBeInstanceOf(JobFailed)
    expect(failure.error._tag).toBe("ChildJobFailed")
    expect(failure.error.message).toContain("QuotaExceeded")
  })

  it("retrying a parent that failed for its child retries the child first, and completes", async () => {
    const manager = await openManager({ concurrency: 2 })
    const parent = await manager.dispatch(FanOutJob, { count: 4, failAt: 3, failOnce: true })
    expect(await parent.result().catch((e: JobFailed) => e.error._tag)).toBe("ChildJobFailed")
    expect(await manager.retry(parent.id)).toBe("queued")
    expect(await parent.result()).toEqual({ sum: sumOfSquares(4), children: 4 })
    const children = await manager.listJobs({ parentId: parent.id })
    expect(children.map((c) => c.attempts)).toEqual([1, 1, 1, 2])
  })

  it("a parent that handles a child's failure completes", async () => {
    const manager = await openManager({ concurrency: 2 })
    const parent = await manager.dispatch(FanOutJob, { count: 3, failAt: 1, recover: true })
    const out = await parent.result()
    const children = await manager.listJobs({ parentId: parent.id })
    const failed = children.find((c) => c.status === "failed")!
    expect(out).toEqual({ sum: -1, children: 3, failedChild: failed.id })
  })

  it("pausing a parent pauses its children; resuming it resumes them, and it completes", async () => {
    const manager = await openManager({ concurrency: 4 })
    const parent = await manager.dispatch(FanOutJob, { count: 3, idle: true })
    await waitUntil(
      async () => {
        const info = await manager.getJobInfo(parent.id)
        return info.awaitingChildren && info.children?.running === 3
      },
      20_000,
      "the parent to wait, its children to run",
    )
    expect(await manager.pause(parent.id)).toBe("paused")
    const paused = await manager.listJobs({ parentId: parent.id })
    expect(paused.map((c) => [c.status, c.pausedBy])).toEqual(Array(3).fill(["paused", "parent"]))
    // Paused, the parent waits for nothing: its children will not end on their own.
    expect((await manager.getJobInfo(parent.id)).awaitingChildren).toBe(false)
    expect(await manager.resume(parent.id)).toBe("queued")
    // Resumed, each idle child finishes (its second attempt), and the parent with them.
    expect(await parent.result()).toEqual({ sum: 0, children: 3 })
    expect((await manager.listJobs({ parentId: parent.id })).map((c) => c.attempts)).toEqual([2, 2, 2])
  })

  it("a parent that fails for good cancels its live children", async () => {
    const manager = await openManager({ concurrency: 4 })
    const parent = await manager.dispatch(FanOutJob, { count: 2, idle: true, failAfterSpawn: true })
    expect(await parent.result().catch((e: JobFailed) => e.error._tag)).toBe("QuotaExceeded")
    await waitUntil(
      async () => {
        const children = await manager.listJobs({ parentId: parent.id })
        return children.length === 2 && children.every((c) => c.status === "cancelled")
      },
      20_000,
      "the children to be cancelled",
    )
  })

  it("cancelling a parent cancels its live children", async () => {
    const manager = await openManager({ concurrency: 3 })
    const parent = await manager.dispatch(FanOutJob, { count: 4, idle: true })
    await waitUntil(async () => (await manager.getJobInfo(parent.id)).awaitingChildren, 20_000, "the parent to wait")
    expect(await manager.cancel(parent.id)).toBe("cancelled")
    const children = await manager.listJobs({ parentId: parent.id })
    expect(children.map((c) => c.status)).toEqual(Array(4).fill("cancelled"))
  })
})

describe("child jobs at scale, across processes and crashes", () => {
  const worker = (dataDir: string, options: object) =>
    startProcess("test/fixtures/childWorker.ts", [dataDir, JSON.stringify(options)])
  const childrenOf = async (dataDir: string, parentId: string) =>
    (await readRows(dataDir)).filter((r) => r.parent_id === parentId)
  /** Stored once each: as many rows as keys, and every one completed. */
  const expectEachChildOnce = async (dataDir: string, parentId: string, count: number) => {
    const rows = await childrenOf(dataDir, parentId)
    expect(rows).toHaveLength(count)
    expect(new Set(rows.map((r) => r.child_key)).size).toBe(count)
    expect(rows.filter((r) => r.status !== "completed")).toEqual([])
  }

  it("fans out 1,000 children on a manager running 4 at a time", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, concurrency: 4 })
    const parent = await manager.dispatch(FanOutJob, { count: 1_000, batch: 100 })
    expect(await parent.result()).toEqual({ sum: sumOfSquares(1_000), children: 1_000 })
    await expectEachChildOnce(dataDir, parent.id, 1_000)
    expect((await manager.getJobInfo(parent.id)).children).toEqual({ completed: 1_000 })
  })

  it("runs the children in other processes than the parent's", async () => {
    const dataDir = tempDir()
    const squares = await worker(dataDir, { types: ["square"], concurrency: 2 })
    const parents = await openManager({ dataDir, types: ["fan_out"], concurrency: 1 })
    const parent = await parents.dispatch(FanOutJob, { count: 20 })
    expect(await parent.result()).toEqual({ sum: sumOfSquares(20), children: 20 })
    expect(parents.stats().claims).toBe(2)
    await stopProcess(squares, "SIGTERM")
  })

  it("loses and doubles no child when the process is killed during the fan-out", async () => {
    const dataDir = tempDir()
    const first = await worker(dataDir, { concurrency: 4, leaseMs: 1_000 })
    const producer = await openManager({ dataDir, concurrency: 0 })
    const parent = await producer.dispatch(FanOutJob, { count: 1_000, batch: 50, spawnDelayMs: 200, childDelayMs: 1 })
    await waitUntil(async () => (await childrenOf(dataDir, parent.id)).length >= 200, 60_000, "200 children")
    await stopProcess(first, "SIGKILL")
    // Killed mid fan-out: the parent was still spawning.
    expect((await childrenOf(dataDir, parent.id)).length).toBeLessThan(1_000)
    expect((await producer.getJobInfo(parent.id)).status).toBe("running")
    await worker(dataDir, { concurrency: 4, leaseMs: 1_000 })
    expect(await parent.result()).toEqual({ sum: sumOfSquares(1_000), children: 1_000 })
    await expectEachChildOnce(dataDir, parent.id, 1_000)
  })

  it("loses and doubles no child when the process is killed while the parent waits", async () => {
    const dataDir = tempDir()
    const first = await worker(dataDir, { concurrency: 4, leaseMs: 1_000 })
    const producer = await openManager({ dataDir, concurrency: 0 })
    const parent = await producer.dispatch(FanOutJob, { count: 300, childDelayMs: 20 })
    await waitUntil(
      async () => {
        const info = await producer.getJobInfo(parent.id)
        return info.awaitingChildren && (info.children?.completed ?? 0) >= 20
      },
      60_000,
      "the parent to wait, some children done",
    )
    await stopProcess(first, "SIGKILL")
    const before = await producer.getJobInfo(parent.id)
    expect(before.awaitingChildren).toBe(true)
    expect(before.children?.completed ?? 0).toBeLessThan(300)
    await worker(dataDir, { concurrency: 4, leaseMs: 1_000 })
    expect(await parent.result()).toEqual({ sum: sumOfSquares(300), children: 300 })
    await expectEachChildOnce(dataDir, parent.id, 300)
  })
})
