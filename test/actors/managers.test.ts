import { describe, expect, it } from "vitest"
import { NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

describe("listManagers", () => {
  it("shows every manager on the store: host, pid, types, concurrency, the jobs it runs, its lease's age", async () => {
    const dataDir = tempDir()
    const producer = await openManager({ dataDir, concurrency: 0, leaseMs: 4_000 })
    const worker = await startProcess("test/fixtures/worker.ts", [dataDir, "3"])
    const job = await producer.dispatch(WaitJob, {})
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it",
    )

    const managers = await producer.listManagers()
    expect(managers).toHaveLength(2)
    const self = managers.find((m) => m.self)!
    expect(self).toMatchObject({
      id: producer.id,
      pid: process.pid,
      types: [],
      concurrency: 0,
      running: [],
      leaseMs: 4_000,
      state: "live",
    })
    const other = managers.find((m) => !m.self)!
    expect(other).toMatchObject({ pid: worker.pid, concurrency: 3, running: [job.id], state: "live" })
    expect(other.types).toContain("wait")
    expect(other.host).toBe(self.host)
    expect(other.renewedAgoMs).toBeGreaterThanOrEqual(0)
    expect(other.renewedAgoMs).toBeLessThan(other.leaseMs)

    // SIGKILLed: taken for dead at once on this host, until a sweep recovers its job and forgets it.
    await stopProcess(worker, "SIGKILL")
    await waitUntil(
      async () => (await producer.listManagers()).every((m) => m.self || m.state === "process gone"),
      20_000,
      "the worker taken for dead or forgotten",
    )
    await producer.cancel(job.id)
  })
})

describe("listJobs by creation time", () => {
  it("keeps the jobs created in [createdAfter, createdBefore), and refuses a bound that is not a time", async () => {
    const producer = await openManager({ concurrency: 0 })
    const first = await producer.dispatch(NoopJob, { tag: "first" })
    await new Promise((r) => setTimeout(r, 20))
    const between = Date.now()
    await new Promise((r) => setTimeout(r, 20))
    const second = await producer.dispatch(NoopJob, { tag: "second" })
    expect((await producer.listJobs({ createdAfter: between })).map((j) => j.id)).toEqual([second.id])
    expect((await producer.listJobs({ createdBefore: new Date(between) })).map((j) => j.id)).toEqual([first.id])
    expect(await producer.listJobs({ createdAfter: between, createdBefore: between })).toEqual([])
    await expect(producer.listJobs({ createdAfter: Number.NaN })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      option: "createdAfter",
    })
  })
})
