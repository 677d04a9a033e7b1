import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli } from "./cli.js"

const levels = (stdout: string) =>
  (JSON.parse(stdout) as { findings: Array<{ check: string; level: string }> }).findings.map(
    (f) => `${f.check} ${f.level}`,
  )

describe("jobstate doctor", () => {
  it("says a healthy store is healthy, warns of stalled jobs and of queued jobs no worker runs, and exits 0", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: [NoopJob], concurrency: 0 })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await manager.dispatch(NoopJob, {})).id)
    await manager.close()
    const healthy = await cli("-d", dataDir, "doctor", "--json")
    expect(healthy.code).toBe(0)
    expect(levels(healthy.stdout)).toEqual([
      "open ok",
      "schema ok",
      "integrity ok",
      "managers ok",
      "stalled ok",
      "waiting warn",
    ])

    // Two jobs left running by a manager that is gone (no lease at all).
    const db = new Database(join(dataDir, "jobs.db"))
    db.prepare("UPDATE jobs SET status = 'running', owner = 'gone' WHERE id IN (?, ?)").run(ids[0], ids[1])
    db.close()
    const stalled = await cli("-d", dataDir, "doctor")
    expect(stalled.code).toBe(0)
    expect(stalled.stdout).toMatch(
      new RegExp(`warn  2 stalled job\\(s\\), running under a manager that is gone: .*${ids[0]}`),
    )
    expect(stalled.stdout).toContain("warn  queued jobs no live manager runs: 1 noop; start a worker of their type")
  })

  it("fails, exit 1, on a damaged file, naming it, and leaves it as it was", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: [NoopJob], concurrency: 0 })
    for (let i = 0; i < 300; i++) await manager.dispatch(NoopJob, {})
    await manager.close()
    const file = join(dataDir, "jobs.db")
    writeFileSync(file, readFileSync(file).subarray(0, 20_000))
    const before = readFileSync(file)
    const damaged = await cli("-d", dataDir, "doctor")
    expect(damaged.code).toBe(1)
    expect(damaged.stdout).toContain(
      `fail  cannot use the store: Persistence error during open (Open): ${file}: database disk image is malformed`,
    )
    expect(readFileSync(file).equals(before)).toBe(true)
  })

  it("fails, exit 1, where there is no store, or an empty file, and creates nothing", async () => {
    const nowhere = join(tempDir(), "nowhere")
    const missing = await cli("-d", nowhere, "doctor")
    expect(missing.code).toBe(1)
    expect(missing.stdout).toMatch(/fail {2}no store at .*nowhere\/jobs\.db/)
    expect(existsSync(nowhere)).toBe(false)
    const emptyDir = tempDir()
    writeFileSync(join(emptyDir, "jobs.db"), "")
    const empty = await cli("-d", emptyDir, "doctor")
    expect(empty.code).toBe(1)
    expect(empty.stdout).toContain("has no jobstate tables: it is empty, or another program's database")
    expect(readFileSync(join(emptyDir, "jobs.db")).length).toBe(0)
  })
})
