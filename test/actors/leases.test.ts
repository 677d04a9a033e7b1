import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { decodeLifecycle, encodeLifecycle, transitionOffline } from "../../src/actors/lifecycle.js"
import { CountJob, NoopJob, OnceJob, allTestJobs } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

/** Makes a stored job look as if `owner` were running it, with that owner's lease. */
const runningUnder = (dataDir: string, id: string, owner: { id: string; host: string; expiresAt: number }) => {
  const db = new Database(join(dataDir, "jobs.db"))
  const row = db.prepare("SELECT snapshot FROM jobs WHERE id = ?").get(id) as { snapshot: Buffer }
  const queued = decodeLifecycle(row.snapshot, id)
  const running = transitionOffline(queued, { type: "START" }, id)!.snapshot
  db.prepare("UPDATE jobs SET status = 'running', owner = ?, snapshot = ? WHERE id = ?").run(owner.id, encodeLifecycle(running), id)
  db.prepare("INSERT INTO managers (id, pid, host, types, expires_at) VALUES (?, 1, ?, ?, ?)").run(owner.id, owner.host, "[]", owner.expiresAt)
  db.close()
}

/** Stores a job without running it: dispatched while the only slot is held, then the manager closes. */
const storedJob = async (dataDir: string, definition: typeof NoopJob | typeof OnceJob = NoopJob) => {
  const m = await JobManager.open({ dataDir, jobs: allTestJobs, concurrency: 1 })
  const blocker = await m.dispatch(CountJob, { n: 1_000_000, effectsFile: join(dataDir, "e"), delayMs: 5 })
  const job = definition === NoopJob ? await m.dispatch(NoopJob, { tag: "leased" }) : await m.dispatch(OnceJob, {})
  await m.cancel(blocker.id)
  await m.close()
  return job.id
}

describe("owners and leases", () => {
  it("recovers the running jobs of a manager whose lease has run out, on any host", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir)
    runningUnder(dataDir, id, { id: "ghost", host: "another-host", expiresAt: Date.now() - 55_000 })
    const manager = await openManager({ dataDir, leaseMs: 5_000 })
    expect(await (await manager.handle(id)).result()).toEqual({ tag: "leased" })
  })

  it("fails, instead of resuming, a job of a type that is not resumable", async () => {
    const dataDir = tempDir()
    const id = await storedJob(dataDir, OnceJob)
    runningUnder(dataDir, id, { id: "ghost", host: "another-host", expiresAt: Date.now() - 55_000 })
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
    runningUnder(dataDir, id, { id: "elsewhere", host: "another-host", expiresAt: Date.now() + 60_000 })
    const manager = await openManager({ dataDir, leaseMs: 5_000 })
    await new Promise((r) => setTimeout(r, 300))
    const info = await manager.getJobInfo(id)
    expect(info.status).toBe("running")
    expect(await manager.listRunningJobs()).toHaveLength(0)
  })
})
