import { describe, expect, it } from "vitest"
import { JobFailed } from "../../src/index.js"
import { FanOutJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
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

  it("a parent that handles a child's failure completes", async () => {
    const manager = await openManager({ concurrency: 2 })
    const parent = await manager.dispatch(FanOutJob, { count: 3, failAt: 1, recover: true })
    const out = await parent.result()
    const children = await manager.listJobs({ parentId: parent.id })
    const failed = children.find((c) => c.status === "failed")!
    expect(out).toEqual({ sum: -1, children: 3, failedChild: failed.id })
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
