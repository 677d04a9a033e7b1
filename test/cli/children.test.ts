import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { allTestJobs, FanOutJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli } from "./cli.js"

describe("jobstate and child jobs", () => {
  it("show lists a parent's children and counts them; a child names its parent", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: allTestJobs, concurrency: 2 })
    try {
      const parent = await manager.dispatch(FanOutJob, { count: 3 })
      await parent.result()
      const children = await manager.listJobs({ parentId: parent.id })
      const show = await cli("-d", dataDir, "show", parent.id)
      expect(show.code, show.stderr).toBe(0)
      expect(show.stdout).toMatch(/^children\s+3 \(3 completed\)$/m)
      for (const c of children) expect(show.stdout).toContain(`  ${c.id}  square  completed`)
      const json = JSON.parse((await cli("-d", dataDir, "show", parent.id, "--json")).stdout)
      expect(json.children).toEqual({ completed: 3 })
      expect(json.childJobs.map((c: { id: string }) => c.id)).toEqual(children.map((c) => c.id))
      const child = await cli("-d", dataDir, "show", children[0]!.id)
      expect(child.stdout).toMatch(new RegExp(`^parent\\s+${parent.id}$`, "m"))
    } finally {
      await manager.close()
    }
  })

  it("show says a child whose manager is gone is stalled, as list does", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: allTestJobs, concurrency: 4, leaseMs: 60_000 })
    const parent = await manager.dispatch(FanOutJob, { count: 2, idle: true })
    await waitUntil(
      async () => (await manager.getJobInfo(parent.id)).children?.running === 2,
      20_000,
      "the children to run",
    )
    const children = await manager.listJobs({ parentId: parent.id })
    // Its manager stops as a killed process would; its lease says it is gone (expired).
    await manager.simulateCrash()
    const db = new (await import("better-sqlite3")).default(`${dataDir}/jobs.db`)
    db.prepare("UPDATE managers SET expires_at = 0").run()
    db.close()
    const show = await cli("-d", dataDir, "show", parent.id)
    for (const c of children) expect(show.stdout).toContain(`  ${c.id}  idle_child  stalled`)
    const list = await cli("-d", dataDir, "list")
    for (const c of children) expect(list.stdout).toMatch(new RegExp(`${c.id}\\s+idle_child\\s+stalled`))
  })

  it("cancel of a waiting parent cancels the children another process runs", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: allTestJobs, concurrency: 4, pollIntervalMs: 50 })
    try {
      const parent = await manager.dispatch(FanOutJob, { count: 2, idle: true })
      await waitUntil(
        async () => (await manager.getJobInfo(parent.id)).children?.running === 2,
        20_000,
        "the children to run",
      )
      const cancel = await cli("-d", dataDir, "cancel", parent.id)
      expect(cancel.code, cancel.stderr).toBe(0)
      expect((await manager.listJobs({ parentId: parent.id })).map((c) => c.status)).toEqual(["cancelled", "cancelled"])
      expect((await manager.getJobInfo(parent.id)).status).toBe("cancelled")
    } finally {
      await manager.close()
    }
  })
})
