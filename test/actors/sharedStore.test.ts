import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { linesOf, startProcess, stopProcess } from "../fixtures/processes.js"
import { AlphaJob, BetaJob, GammaJob, SlowCountJob, sharedJobs } from "../fixtures/sharedJobs.js"
import { openTestStore, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const worker = (dataDir: string, options: object) =>
  startProcess("test/fixtures/typedWorker.ts", [dataDir, JSON.stringify(options)])

describe("one store, many managers", () => {
  it("runs every job in a worker of its type, fails none, and leaves a type nobody runs queued", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "runs.txt")
    // Each worker knows only its own type: with the old rule, each failed the other's jobs as unknown.
    const alpha = await worker(dataDir, { register: ["alpha"] })
    const beta = await worker(dataDir, { register: ["beta"] })
    try {
      const producer = await openManager({ dataDir, jobs: sharedJobs, concurrency: 0 })
      const handles = []
      for (let i = 0; i < 20; i++) {
        handles.push(await producer.dispatch(AlphaJob, { file }), await producer.dispatch(BetaJob, { file }))
      }
      const gamma = await producer.dispatch(GammaJob, { file })
      // The producer runs nothing, yet hears of the ends that the workers commit.
      await Promise.all(handles.map((h) => h.result()))
      const runs = linesOf(file).map((line) => line.split(" ") as [string, string, string])
      const pidOf = { alpha: String(alpha.pid), beta: String(beta.pid) }
      expect(runs).toHaveLength(40)
      for (const [type, , pid] of runs)
        expect(pid, `${type} ran in the wrong process`).toBe(pidOf[type as "alpha" | "beta"])
      expect(new Set(runs.map(([, id]) => id)).size).toBe(40)
      expect(await producer.listJobs({ status: "failed" })).toHaveLength(0)
      // Several sweeps later, the gamma job is still queued, and says what it waits for.
      await new Promise((r) => setTimeout(r, 1_000))
      expect(await producer.getJobInfo(gamma.id)).toMatchObject({
        status: "queued",
        waitingForWorker: true,
        attempts: 0,
      })
    } finally {
      await Promise.all([stopProcess(alpha, "SIGTERM"), stopProcess(beta, "SIGTERM")])
    }
  })

  it("limits a worker to the types it is given, and a producer recovers and claims nothing", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "runs.txt")
    const onlyBeta = await worker(dataDir, { types: ["beta"] })
    try {
      const producer = await openManager({ dataDir, jobs: sharedJobs, concurrency: 0 })
      const a = await producer.dispatch(AlphaJob, { file })
      const b = await producer.dispatch(BetaJob, { file })
      await b.result()
      await new Promise((r) => setTimeout(r, 500))
      expect(await producer.getJobInfo(a.id)).toMatchObject({ status: "queued", waitingForWorker: true })
      expect(producer.stats().claims).toBe(0)
    } finally {
      await stopProcess(onlyBeta, "SIGTERM")
    }
  })

  it("keeps a live job whose manager has a long lease while a manager with a short lease sweeps, and pauses it through the row", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    // A long lease is renewed rarely (every 15 s): judged by the short lease's rule, it would look dead.
    const longLease = await worker(dataDir, { leaseMs: 60_000 })
    try {
      const producer = await openManager({ dataDir, jobs: sharedJobs, concurrency: 0 })
      const handle = await producer.dispatch(SlowCountJob, { n: 400, file, delayMs: 20 })
      await waitUntil(() => linesOf(file).length >= 3, 30_000, "the long-lease worker to run the job")
      // Opens after the worker's last renewal, and sweeps every 150 ms for 2 s.
      const shortLease = await openManager({ dataDir, jobs: sharedJobs, leaseMs: 300, concurrency: 4 })
      await new Promise((r) => setTimeout(r, 2_000))
      expect(shortLease.stats().claims).toBe(0)
      expect(await shortLease.getJobInfo(handle.id)).toMatchObject({ status: "running", attempts: 1, stalled: null })
      expect(await shortLease.pause(handle.id)).toBe("paused")
      const info = await shortLease.getJobInfo(handle.id)
      expect(info).toMatchObject({ status: "paused", pausedBy: "user", attempts: 1 })
      const items = linesOf(file).map((line) => Number(line.split(" ")[1]))
      expect(items).toEqual(items.map((_, i) => i)) // each item once, in order: nothing redone
      expect(info.checkpoints).toBe(items.length)
    } finally {
      await stopProcess(longLease, "SIGTERM")
    }
  })

  it("shows a job whose manager died as stalled, and the next worker of its type resumes it from its checkpoint", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const first = await worker(dataDir, { register: ["slow_count"] })
    const full = await openManager({ dataDir, jobs: sharedJobs, concurrency: 0 })
    const job = await full.dispatch(SlowCountJob, { n: 30, file, delayMs: 20 })
    await waitUntil(() => linesOf(file).length >= 5, 30_000, "the worker to run the job")
    await stopProcess(first, "SIGKILL")
    const stalled = await full.getJobInfo(job.id)
    expect(stalled.status).toBe("running")
    expect(stalled.stalled).toMatchObject({ since: expect.any(String) })
    expect(stalled.stalled!.owner).not.toBeNull()
    const second = await worker(dataDir, { register: ["slow_count"] })
    try {
      expect(await job.result()).toMatchObject({ counted: 30, attempt: 2 })
      const items = linesOf(file).map((line) => Number(line.split(" ")[1]))
      // At most the item in flight at the kill is done twice; nothing before the checkpoint.
      expect(items.length).toBeLessThanOrEqual(31)
      expect(new Set(items).size).toBe(30)
    } finally {
      await stopProcess(second, "SIGTERM")
    }
  })

  it("applies a pause whose worker was killed before it took effect, when the next worker recovers the job", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const first = await worker(dataDir, { register: ["slow_count"], concurrency: 1 })
    const producer = await openManager({ dataDir, jobs: sharedJobs, concurrency: 0 })
    // Each item takes 3 s before its checkpoint, the next point where a pause can take effect.
    const handle = await producer.dispatch(SlowCountJob, { n: 3, file, delayMs: 3_000 })
    await waitUntil(() => linesOf(file).length >= 1, 30_000, "the first item")
    const pausing = producer.pause(handle.id)
    // The worker hears of the pause at once, but cannot stop before its checkpoint: kill it meanwhile.
    await new Promise((r) => setTimeout(r, 1_000))
    await stopProcess(first, "SIGKILL")
    const second = await worker(dataDir, { register: ["slow_count"], concurrency: 1 })
    try {
      expect(await pausing).toBe("paused")
      const info = await producer.getJobInfo(handle.id)
      expect(info).toMatchObject({ status: "paused", pausedBy: "user" })
      await new Promise((r) => setTimeout(r, 1_000))
      expect(linesOf(file)).toHaveLength(1)
    } finally {
      await stopProcess(second, "SIGTERM")
    }
  })

  it("judges a lease by its own expiry: a manager is not dead while its lease runs", async () => {
    const dataDir = tempDir()
    const a = await JobManager.open({ ...storeFor(dataDir), jobs: sharedJobs, leaseMs: 60_000, concurrency: 0 })
    // b renews its 2 s lease every 0.5 s; a's heartbeat is 3 s old when read: live by its own
    // 60 s lease, dead by b's (a rule that judged every lease by one length). A 50 ms lease for b
    // lapsed on a loaded machine, where renewals came late.
    const b = await openManager({ dataDir, jobs: sharedJobs, leaseMs: 2_000 })
    try {
      await new Promise((r) => setTimeout(r, 3_000))
      const { Owners } = await import("../../src/actors/owners.js")
      const store = await openTestStore(dataDir)
      const owners = new Owners(await store.leases(), null)
      await store.close()
      expect(owners.isLive(a.id)).toBe(true)
      expect(owners.isLive(b.id)).toBe(true)
    } finally {
      await a.close()
    }
  })
})
