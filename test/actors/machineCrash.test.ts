import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { JobManagerOptions } from "../../src/index.js"
import { allTestJobs } from "../fixtures/jobs.js"
import { allMachineTestJobs, linesStarting, OrderJob } from "../fixtures/machineJobs.js"
import { openManager as openTestManager } from "../fixtures/openManager.js"
import { linesOf, startProcess, stopProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const openManager = (options: Partial<JobManagerOptions> = {}) =>
  openTestManager({ jobs: [...allTestJobs, ...allMachineTestJobs], ...options })

const worker = (dataDir: string) =>
  startProcess("test/fixtures/childWorker.ts", [
    dataDir,
    JSON.stringify({ concurrency: 4, leaseMs: 1_000, machines: true }),
  ])

/** The exit of a process, once it has exited (of itself). */
const exited = (child: Awaited<ReturnType<typeof startProcess>>) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.on("exit", (code) => resolve(code))
  })

describe("machine jobs across processes", () => {
  it("an order sent PAID while its worker is killed completes once, charging once", async () => {
    const dataDir = tempDir()
    const effects = join(dataDir, "effects.log")
    const first = await worker(dataDir)
    const producer = await openManager({ dataDir, concurrency: 0 })
    const handle = await producer.dispatch(OrderJob, { orderId: "o-1", amount: 5, effectsFile: effects })
    await waitUntil(async () => (await producer.getJobInfo(handle.id)).awaitingEvents, 30_000, "the order to rest")
    await stopProcess(first, "SIGKILL")
    // The worker is down: the event is stored, and waits for the next one.
    await producer.send(handle.id, { type: "PAID", ref: "tx-1" })
    await worker(dataDir)
    expect(await handle.result()).toEqual({ result: "done", tracking: "track-o-1", notes: [] })
    const lines = linesOf(effects)
    expect(linesStarting(lines, "charge-start")).toHaveLength(1)
    expect(linesStarting(lines, "charged")).toEqual(["charged tx-1"])
    expect(linesStarting(lines, "ship")).toEqual(["ship o-1"])
  })

  it("a step in flight when its worker is killed runs again; one that completed never does", async () => {
    const dataDir = tempDir()
    const effects = join(dataDir, "effects.log")
    const first = await worker(dataDir)
    const producer = await openManager({ dataDir, concurrency: 0 })
    // Killed while charging: the charge step runs again on the next worker (at least once).
    const charging = await producer.dispatch(OrderJob, {
      orderId: "o-c",
      amount: 5,
      effectsFile: effects,
      chargeMs: 1_500,
    })
    await producer.send(charging.id, { type: "PAID", ref: "tx-c" })
    await waitUntil(() => linesStarting(linesOf(effects), "charge-start").length === 1, 30_000, "the charge to start")
    await stopProcess(first, "SIGKILL")
    expect(linesStarting(linesOf(effects), "charged")).toEqual([])

    // Killed while shipping (its child job holds): the charge that completed is not run again.
    writeFileSync(`${effects}.hold`, "")
    const second = await worker(dataDir)
    await waitUntil(() => linesStarting(linesOf(effects), "ship").length === 1, 30_000, "the child job to start")
    expect((await producer.getJobInfo(charging.id)).machineState).toBe("shipping")
    await stopProcess(second, "SIGKILL")
    rmSync(`${effects}.hold`)
    await worker(dataDir)
    expect(await charging.result()).toEqual({ result: "done", tracking: "track-o-c", notes: [] })
    const lines = linesOf(effects)
    const [firstKey, secondKey] = linesStarting(lines, "charge-start").map((l) => l.split(" ")[2])
    // Two starts of the one charge, with the same idempotency key; one completion.
    expect(linesStarting(lines, "charge-start")).toHaveLength(2)
    expect(secondKey).toBe(firstKey)
    expect(linesStarting(lines, "charged")).toEqual(["charged tx-c"])
    // The child job was killed mid-run and resumed: one child, run twice, completed once.
    const children = await producer.listJobs({ parentId: charging.id })
    expect(children.map((c) => [c.name, c.status])).toEqual([["ship", "completed"]])
  })

  it("events sent from other processes arrive, each sender's in its order, each once", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, concurrency: 2, pollIntervalMs: 50 })
    const handle = await manager.dispatch(OrderJob, { orderId: "o-x", amount: 1, effectsFile: join(dataDir, "e.log") })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).awaitingEvents)
    const senders = await Promise.all(
      ["a", "b"].map((prefix) => startProcess("test/fixtures/machineSender.ts", [dataDir, handle.id, prefix, "40"])),
    )
    expect(await Promise.all(senders.map(exited))).toEqual([0, 0])
    await manager.send(handle.id, { type: "CANCEL_ORDER" })
    const { notes, result } = await handle.result()
    expect(result).toBe("cancelled")
    for (const prefix of ["a", "b"]) {
      expect(notes.filter((n) => n.startsWith(`${prefix}-`))).toEqual(
        Array.from({ length: 40 }, (_, i) => `${prefix}-${i}`),
      )
    }
    expect(notes).toHaveLength(80)
  })
})
