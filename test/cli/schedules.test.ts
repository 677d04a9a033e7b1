import { existsSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager, type ScheduleInfo } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, root, startCli } from "./cli.js"

/** `--jobs` module with the `dated` job type: a Date param, by name an ISO string. */
const datedJobs = join(root, "test/cli/fixtures/datedJob.ts")

/** A data dir with two schedules that will not fire during the test (they tick at 03:00 and on 1 January). */
const twoSchedules = async () => {
  const dataDir = tempDir()
  const manager = await JobManager.open({ dataDir, jobs: [NoopJob], concurrency: 0 })
  const nightly = await manager.schedule(
    "nightly",
    NoopJob,
    { tag: "n" },
    { cron: "0 3 * * *", timezone: "Europe/Stockholm" },
  )
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

/** The jobs of a type, read from jobs.db as any other program would. */
const jobsOfType = (dataDir: string, name: string) => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT id, status, priority, output FROM jobs WHERE name = ?").all(name) as Array<{
      id: string
      status: string
      priority: number
      output: string | null
    }>
  } finally {
    db.close()
  }
}

describe("jobstate schedule add / remove", () => {
  it("adds a schedule by type name with JSON params (a Date as an ISO string), zone and priority; a second add replaces it", async () => {
    const dataDir = tempDir()
    const added = await cli(
      "-d",
      dataDir,
      "--jobs",
      datedJobs,
      "schedule",
      "add",
      "nightly",
      "dated",
      "-p",
      '{"at":"2031-05-01T00:00:00Z","note":null}',
      "--cron",
      "0 3 * * *",
      "--timezone",
      "Europe/Stockholm",
      "--priority",
      "high",
    )
    expect(added.code, added.stderr).toBe(0)
    const [listed] = JSON.parse((await cli("-d", dataDir, "schedules", "--json")).stdout) as ScheduleInfo[]
    expect(listed).toMatchObject({
      name: "nightly",
      jobName: "dated",
      cron: "0 3 * * *",
      timezone: "Europe/Stockholm",
      priority: 1,
      params: { at: "2031-05-01T00:00:00.000Z" },
      lastRunAt: null,
    })
    expect(added.stdout).toBe(
      `Added schedule "nightly": a dated job at "0 3 * * *" (Europe/Stockholm); next run ${listed!.nextRunAt}\n`,
    )
    // No worker runs: the hint says how to start one, with this command's -d and --jobs.
    expect(added.stderr).toBe(
      `No worker of type "dated" is running on ${dataDir}: start \`npx jobstate -d ${dataDir} --jobs ${datedJobs} worker\` to fire it and run its jobs.\n`,
    )

    const replaced = await cli(
      "-d",
      dataDir,
      "--jobs",
      datedJobs,
      "schedule",
      "add",
      "nightly",
      "dated",
      "--params",
      '{"at":"2032-01-01T00:00:00Z"}',
      "--cron",
      "@hourly",
      "--json",
    )
    expect(replaced.code, replaced.stderr).toBe(0)
    const info = JSON.parse(replaced.stdout) as ScheduleInfo
    expect(info).toMatchObject({
      name: "nightly",
      cron: "@hourly",
      timezone: "UTC",
      priority: 0,
      params: { at: "2032-01-01T00:00:00.000Z" },
      createdAt: listed!.createdAt,
    })
    expect(JSON.parse((await cli("-d", dataDir, "schedules", "--json")).stdout)).toEqual([info])
    const again = await cli(
      "-d",
      dataDir,
      "--jobs",
      datedJobs,
      "schedule",
      "add",
      "nightly",
      "dated",
      "-p",
      '{"at":"2032-01-01T00:00:00Z"}',
      "--cron",
      "@daily",
    )
    expect(again.stdout).toMatch(/^Replaced schedule "nightly": a dated job at "@daily" \(UTC\); next run \S+Z\n$/)
  })

  it("its ticks fire in a worker, which runs each job with its params decoded (the Date a Date)", async () => {
    const dataDir = tempDir()
    const added = await cli(
      "-d",
      dataDir,
      "--jobs",
      datedJobs,
      "schedule",
      "add",
      "every-second",
      "dated",
      "-p",
      '{"at":"2031-05-01T10:00:00+02:00"}',
      "--cron",
      "* * * * * *",
      "--priority",
      "5",
    )
    expect(added.code, added.stderr).toBe(0)
    const worker = startCli(["-d", dataDir, "--jobs", datedJobs, "worker"])
    try {
      const [job] = await waitUntil(
        () => {
          const done = jobsOfType(dataDir, "dated").filter((j) => j.status === "completed")
          return done.length > 0 ? done : undefined
        },
        30_000,
        "a fired job to complete",
      )
      expect(job!.priority).toBe(5)
      expect(JSON.parse(job!.output!)).toEqual({ year: 2031, isDate: true, note: "(none)" })
    } finally {
      worker.child.kill("SIGINT")
      await worker.exited
    }
    const removed = await cli("-d", dataDir, "schedule", "remove", "every-second")
    expect(removed.code, removed.stderr).toBe(0)
  })

  it("refuses bad input as a usage error (exit 2, one line), before it creates anything, and leaves a schedule it would replace as it was", async () => {
    const dataDir = tempDir()
    const add = (...args: string[]) => cli("-d", dataDir, "--jobs", datedJobs, "schedule", "add", ...args)
    const refused = async (args: string[], message: string | RegExp) => {
      const result = await add(...args)
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2)
      expect(result.stdout).toBe("")
      const lines = result.stderr.trim().split("\n")
      expect(lines, args.join(" ")).toHaveLength(1)
      if (typeof message === "string") expect(lines[0]).toContain(message)
      else expect(lines[0]).toMatch(message)
    }
    const date = '{"at":"2031-05-01T00:00:00Z"}'
    await refused(
      ["x", "dated", "-p", date, "--cron", "61 * * * *"],
      'InvalidOptions: Invalid option cron: "61 * * * *" is not a cron expression',
    )
    await refused(["x", "dated", "-p", date, "--cron", "every day"], /InvalidOptions: Invalid option cron: "every day"/)
    await refused(["x", "dated", "-p", date, "--cron", "0 0 0 1 1 * 2001"], /has no tick after now/)
    await refused(["x", "dated", "-p", date], "required option '--cron <expr>' not specified")
    await refused(
      ["x", "dated", "-p", date, "--cron", "0 3 * * *", "--timezone", "Mars/Olympus_Mons"],
      /InvalidOptions: Invalid option timezone: "Mars\/Olympus_Mons"/,
    )
    await refused(
      ["x", "dated", "-p", date, "--cron", "0 3 * * *", "--priority", "1.5"],
      /--priority must be an integer/,
    )
    await refused(["x", "nope", "--cron", "0 3 * * *"], /UnknownJobType: Unknown job type "nope"/)
    await refused(
      ["x", "dated", "-p", '{"at":"not a date"}', "--cron", "0 3 * * *"],
      /InvalidParams: Invalid params for "dated": at:/,
    )
    await refused(
      ["x", "dated", "-p", '{"at":"2031-05-01T00:00:00Z","extra":1}', "--cron", "0 3 * * *"],
      /InvalidParams: .*extra/,
    )
    await refused(["x", "dated", "-p", "{bad", "--cron", "0 3 * * *"], /--params is not valid JSON/)
    await refused(["", "dated", "-p", date, "--cron", "0 3 * * *"], /InvalidOptions: Invalid option name/)
    expect(existsSync(join(dataDir, "jobs.db")), "refused input creates no store").toBe(false)

    const kept = await add("kept", "dated", "-p", date, "--cron", "0 3 * * *", "--json")
    expect(kept.code, kept.stderr).toBe(0)
    await refused(["kept", "dated", "-p", date, "--cron", "not a cron"], /Invalid option cron/)
    expect(JSON.parse((await cli("-d", dataDir, "schedules", "--json")).stdout)).toEqual([JSON.parse(kept.stdout)])
  })

  it("removes a schedule with `schedule remove`, and says so when there is none by that name", async () => {
    const { dataDir, yearly } = await twoSchedules()
    const removed = await cli("-d", dataDir, "schedule", "remove", "nightly")
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stdout).toBe('Removed schedule "nightly"\n')
    expect(JSON.parse((await cli("-d", dataDir, "schedules", "--json")).stdout)).toEqual([yearly])
    const again = await cli("-d", dataDir, "schedule", "remove", "nightly")
    expect(again.code).toBe(2)
    expect(again.stderr).toBe(`jobstate: No schedule named "nightly" in ${dataDir}\n`)
  })
})
