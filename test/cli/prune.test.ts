import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli, readJobRow } from "./cli.js"

/** Three completed jobs, job-1 … job-3, each with a private directory; job-1 and job-2 ended two hours ago. */
const threeJobs = async () => {
  const dataDir = tempDir()
  let n = 0
  const manager = await JobManager.open({ dataDir, jobs: [NoopJob], generateId: () => `job-${++n}` })
  for (let i = 0; i < 3; i++) await (await manager.dispatch(NoopJob, {})).result()
  await manager.close()
  const db = new Database(join(dataDir, "jobs.db"))
  db.prepare("UPDATE jobs SET completed_at = ? WHERE id IN ('job-1', 'job-2')").run(
    new Date(Date.now() - 2 * 3_600_000).toISOString(),
  )
  db.close()
  for (const id of ["job-1", "job-2", "job-3"]) mkdirSync(join(dataDir, "jobs", id), { recursive: true })
  return dataDir
}

describe("jobstate prune", () => {
  it("deletes the jobs at rest that ended before --older-than, with their directories, and says how many", async () => {
    const dataDir = await threeJobs()
    const { code, stdout, stderr } = await cli(
      "-d",
      dataDir,
      "prune",
      "--status",
      "completed,failed",
      "--older-than",
      "90m",
    )
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(/^Deleted 2 jobs that ended before \S+ from .*: 2 completed, 0 failed\n$/)
    expect(readJobRow(dataDir, "job-1")).toBeUndefined()
    expect(readJobRow(dataDir, "job-2")).toBeUndefined()
    expect(readJobRow(dataDir, "job-3")).toBeDefined()
    expect(existsSync(join(dataDir, "jobs", "job-1"))).toBe(false)
    expect(existsSync(join(dataDir, "jobs", "job-3"))).toBe(true)

    const all = await cli("-d", dataDir, "prune", "--status", "completed", "--older-than", "0", "--json")
    expect(all.code, all.stderr).toBe(0)
    expect(JSON.parse(all.stdout)).toEqual({ deleted: 1, byStatus: { completed: 1 } })
    expect(readJobRow(dataDir, "job-3")).toBeUndefined()
  })

  it("refuses a live status and a malformed duration (exit 2), deleting nothing", async () => {
    const dataDir = await threeJobs()
    const live = await cli("-d", dataDir, "prune", "--status", "completed,running", "--older-than", "1h")
    expect(live.code).toBe(2)
    expect(live.stderr).toContain('"running" is not a status jobs rest in')
    const bad = await cli("-d", dataDir, "prune", "--status", "completed", "--older-than", "7 days")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--older-than must be a duration")
    const missing = await cli("-d", dataDir, "prune", "--status", "completed")
    expect(missing.code).toBe(2)
    expect(readJobRow(dataDir, "job-1")).toBeDefined()
  })
})
