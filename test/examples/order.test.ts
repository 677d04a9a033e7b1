import { describe, expect, it } from "vitest"
import { OrderJob, payments, ShipJob } from "../../examples/order.js"
import { basename } from "node:path"
import { checkMachineJob, testClock } from "../../src/testing/index.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

describe("the order workflow example (a machine job)", () => {
  it("charges once and ships on PAID, expires after a day without it, and resumes after a restart", async () => {
    const dataDir = tempDir()
    const clock = testClock()
    const manager = await openManager({ dataDir, jobs: [OrderJob, ShipJob], clock })
    const paid = await manager.dispatch(OrderJob, { orderId: "o-1", amount: 30 })
    const unpaid = await manager.dispatch(OrderJob, { orderId: "o-2", amount: 40 })
    await clock.settle()
    await waitUntil(async () => (await manager.getJobInfo(paid.id)).awaitingEvents)
    await manager.send(paid.id, { type: "PAID", ref: "tx-1" })
    expect(await paid.result()).toEqual({ result: "done", tracking: "track-o-1" })
    expect([...payments.values()].filter((p) => p.orderId === "o-1")).toEqual([{ orderId: "o-1", amount: 30 }])

    // The unpaid order rests through a restart; a day later it expires.
    await manager.close()
    const later = testClock(clock.now() + 86_400_000)
    const reopened = await openManager({ dataDir, jobs: [OrderJob, ShipJob], clock: later })
    await later.settle()
    expect(await (await reopened.handle(unpaid.id)).result()).toEqual({ result: "expired", tracking: null })
    expect((await reopened.getJobInfo(unpaid.id)).machinePath).toEqual(["awaitingPayment", "expired"])
  })
})

describe("the order workflow example, checked path by path with a crash at every state", () => {
  it("ends the same way on every path whatever state the crash comes in", async () => {
    const report = await checkMachineJob(OrderJob, {
      params: ({ dir }) => ({ orderId: basename(dir), amount: 30 }),
      events: [{ type: "PAID", ref: "tx-1" }, { type: "CANCEL_ORDER" }],
      jobs: [ShipJob],
    })
    expect(report.unfollowed).toEqual([])
    expect(report.paths.map((p) => p.outcome.state)).toEqual(
      expect.arrayContaining(["done", "expired", "cancelled", "failedCharge"]),
    )
    expect(report.runs).toBeGreaterThan(report.paths.length)
  })
})
