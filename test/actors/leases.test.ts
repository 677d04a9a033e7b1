import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { initialTransition, transition } from "xstate"
import { decodeLifecycle, encodeLifecycle, transitionOffline } from "../../src/actors/snapshots.js"
import { jobLifecycleMachine } from "../../src/machines/jobLifecycleMachine.js"
import { pack, unpack } from "../../src/persistence/codec.js"
import { NoopJob, OnceJob, allTestJobs } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { fakeLease, rawSql, readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"

/** Makes a stored job look as if `owner` were running it, with that owner's lease. */
const runningUnder = async (dataDir: string, id: string, owner: { id: string; host: string; expiresAt: number }) => {
  const queued = decodeLifecycle((await readRow(dataDir, id))!.snapshot, id)
  const running = transitionOffline(queued, { type: "START" }, id)!.snapshot
  await rawSql(dataDir, "UPDATE jobs SET status = 'running', owner = $1, snapshot = $2 WHERE id = $3", [
    owner.id,
    encodeLifecycle(running),
    id,
  ])
  await fakeLease(dataDir, { id: owner.id, pid: 1, host: owner.host, types: [], expiresAt: owner.expiresAt })
}

/** Stores a job without running it: a producer (concurrency 0) dispatches it. */
const storedJob = async (dataDir: string, definition: typeof NoopJob | typeof OnceJob = NoopJob) => {
  const m = await JobManager.open({ ...storeFor(dataDir), jobs: allTestJobs, concurrency: 0 })
  const job = definition === NoopJob ? await m.dispatch(NoopJob, { tag: "leased" }) : await m.dispatch(OnceJob, {})
  await m.close()
  return job.id
}

describe("owners and leases", () => {
  it("recovers the running jobs of a manager whose lease has run out, on any host", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir)
    await runningUnder(dataDir, id, { id: "ghost", host: "another-host", expiresAt: Date.now() - 55_000 })
    const manager = await openManager({ dataDir, leaseMs: 5_000 })
    expect(await (await manager.handle(id)).result()).toEqual({ tag: "leased" })
  })

  it("resumes a job whose row holds XState's whole persisted snapshot (as versions before the compact record wrote it), and stores the compact record", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir)
    // What earlier versions stored: getPersistedSnapshot of a running job, with its invoked worker.
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: id })
    const [running] = transition(jobLifecycleMachine, queued, { type: "START" })
    const persisted = jobLifecycleMachine.getPersistedSnapshot(running) as unknown as { children: object }
    expect(Object.keys(persisted.children)).toEqual(["worker"])
    await rawSql(dataDir, "UPDATE jobs SET status = 'running', attempts = 1, owner = $1, snapshot = $2 WHERE id = $3", [
      "ghost",
      pack(persisted),
      id,
    ])
    await fakeLease(dataDir, { id: "ghost", pid: 1, host: "another-host", types: [], expiresAt: Date.now() - 55_000 })
    const manager = await openManager({ dataDir, leaseMs: 5_000 })
    expect(await (await manager.handle(id)).result()).toEqual({ tag: "leased" })
    const row = (await readRow(dataDir, id))!
    expect(row.attempts).toBe(2)
    // The row now holds the state value and the context only: not XState's children, status or history.
    const stored = unpack(row.snapshot, "snapshot") as Record<string, unknown>
    expect(Object.keys(stored).sort()).toEqual(["context", "value"])
    expect(stored.value).toBe("completed")
  })

  it("fails, instead of resuming, a job of a type that is not resumable", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir, OnceJob)
    await runningUnder(dataDir, id, { id: "ghost", host: "another-host", expiresAt: Date.now() - 55_000 })
    const manager = await openManager({ dataDir })
    const info = await manager.getJobInfo(id)
    expect(info.status).toBe("failed")
    expect(info.error).toMatchObject({ _tag: "NotResumable" })
    expect(info.error?.message).toContain(id)
    expect(info.error?.message).toContain("not resumable")
  })

  it("leaves alone the running jobs of a manager on another host whose lease is fresh", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir)
    await runningUnder(dataDir, id, { id: "elsewhere", host: "another-host", expiresAt: Date.now() + 60_000 })
    const manager = await openManager({ dataDir, leaseMs: 5_000 })
    await new Promise((r) => setTimeout(r, 300))
    const info = await manager.getJobInfo(id)
    expect(info.status).toBe("running")
    expect(await manager.listRunningJobs()).toHaveLength(0)
  })
})
