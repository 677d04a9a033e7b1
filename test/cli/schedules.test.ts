import { existsSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager, type ScheduleInfo } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli } from "./cli.js"

/** A data dir with two schedules that will not fire during the test (they tick at 03:00 and on 1 January). */
const twoSchedules = async () => {
  const dataDir = tempDir()
  const manager = await JobManager.open({ dataDir, jobs: [NoopJob], concurrency: 0 })
  const nightly = await manager.schedule("nightly", NoopJob, { tag: "n" }, { cron: "0 3 * * *", timezone: "Europe/Stockholm" })
  const yearly = await manager.schedule("yearly", NoopJob, {}, { cron: "0 0 1 1 *" })
  await manager.close()
  return { dataDir, nightly, yearly }
}

describe("jobstate schedules", () => {
  it("lists the schedules with their next run, as JSON and as a table", async () => {
    const { dataDir, nightly, yearly } = await twoSchedules()
    const listed = await cli("-d", dataDir, "schedules", "--json")
    expect(listed.code, listed.stderr).toBe(0)
    expect(JSON.parse(listed.stdout) as ScheduleInfo[]).toEqual([nightly, yearly])

    const table = await cli("-d", dataDir, "schedules")
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^NAME\s+TYPE\s+CRON\s+ZONE\s+NEXT RUN\s+LAST RUN\s+LAST JOB\s+PARAMS$/)
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ["nightly", "noop", "0 3 * * *", "Europe/Stockholm", nightly.nextRunAt, "-", "-", '{"tag":"n"}'],
      ["yearly", "noop", "0 0 1 1 *", "UTC", yearly.nextRunAt, "-", "-", "{}"],
    ])
  })

  it("removes a schedule with --remove, and says so when there is none by that name", async () => {
    const { dataDir, yearly } = await twoSchedules()
    const removed = await cli("-d", dataDir, "schedules", "--remove", "nightly")
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stdout).toContain('Removed schedule "nightly"')
    expect(JSON.parse((await cli("-d", dataDir, "schedules", "--json")).stdout)).toEqual([yearly])
    const again = await cli("-d", dataDir, "schedules", "--remove", "nightly")
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('No schedule named "nightly"')
  })

  it("says there are none in a data dir without schedules, and creates nothing there", async () => {
    const dataDir = tempDir()
    const empty = await cli("-d", dataDir, "schedules")
    expect(empty.code, empty.stderr).toBe(0)
    expect(empty.stdout).toBe(`No schedules in ${dataDir}\n`)
    expect(existsSync(join(dataDir, "jobs.db"))).toBe(false)
  })
})
