import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Schema } from "effect"
import { defineJob, JobManager } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli } from "./cli.js"

/** A data dir holding five finished jobs, dispatched in the order of their ids job-1 … job-5. */
const fiveJobs = async () => {
  const dataDir = tempDir()
  let n = 0
  const manager = await JobManager.open({ dataDir, jobs: [NoopJob], generateId: () => `job-${++n}` })
  for (let i = 0; i < 5; i++) await (await manager.dispatch(NoopJob, { tag: String(i) })).result()
  await manager.close()
  return dataDir
}

const Other = defineJob({ name: "other", params: Schema.Struct({}), run: async () => {} })

/**
 * A data dir holding 2,500 queued jobs, ids job-1 … job-2500 in dispatch order: in each 500,
 * 300 `noop` jobs due in an hour, then 200 `other` jobs. More than two pages of `list --json`.
 * Its own dir, shared by the tests of a block (`tempDir` removes its dirs after each test).
 */
const manyJobs = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "jobstate-test-"))
  let n = 0
  const manager = await JobManager.open({
    dataDir,
    jobs: [NoopJob, Other],
    concurrency: 0,
    generateId: () => `job-${++n}`,
  })
  for (let round = 0; round < 5; round++) {
    await manager.dispatchMany(
      NoopJob,
      Array.from({ length: 300 }, (_, i) => ({ tag: String(i) })),
      { delayMs: 3_600_000 },
    )
    await manager.dispatchMany(
      Other,
      Array.from({ length: 200 }, () => ({})),
    )
  }
  await manager.close()
  const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `job-${from + i}`)
  const all = ids(1, 2500)
  const typeOf = (id: string) => ((Number(id.slice(4)) - 1) % 500 < 300 ? "noop" : "other")
  return {
    dataDir,
    all,
    noop: all.filter((id) => typeOf(id) === "noop"),
    other: all.filter((id) => typeOf(id) === "other"),
  }
}

const newestFirst = (ids: ReadonlyArray<string>) => [...ids].reverse()

const listed = async (dataDir: string, ...args: string[]) => {
  const { code, stdout, stderr } = await cli("-d", dataDir, "list", "--json", ...args)
  expect(code, stderr).toBe(0)
  return (JSON.parse(stdout) as Array<{ id: string }>).map((job) => job.id)
}

describe("jobstate list", () => {
  it("lists the newest jobs first, and -n gives the latest ones", async () => {
    const dataDir = await fiveJobs()
    expect(await listed(dataDir)).toEqual(["job-5", "job-4", "job-3", "job-2", "job-1"])
    expect(await listed(dataDir, "-n", "2")).toEqual(["job-5", "job-4"])
    expect(await listed(dataDir, "-n", "2", "--offset", "2")).toEqual(["job-3", "job-2"])
    expect(await listed(dataDir, "-n", "2", "--offset", "4")).toEqual(["job-1"])
    expect(await listed(dataDir, "--offset", "5")).toEqual([])
  })

  it("lists the oldest first with --sort oldest, with the same paging", async () => {
    const dataDir = await fiveJobs()
    expect(await listed(dataDir, "--sort", "oldest", "-n", "2")).toEqual(["job-1", "job-2"])
    expect(await listed(dataDir, "--sort", "oldest", "-n", "2", "--offset", "3")).toEqual(["job-4", "job-5"])
    expect(await listed(dataDir, "--sort", "oldest", "--status", "completed", "--offset", "4")).toEqual(["job-5"])
    expect(await listed(dataDir, "--status", "failed")).toEqual([])
  })

  it("prints the table newest first too, and rejects an unknown order", async () => {
    const dataDir = await fiveJobs()
    const table = await cli("-d", dataDir, "list", "-n", "3")
    expect(table.code).toBe(0)
    expect(
      table.stdout
        .split("\n")
        .slice(1, 4)
        .map((line) => line.split(/\s+/)[0]),
    ).toEqual(["job-5", "job-4", "job-3"])
    const bad = await cli("-d", dataDir, "list", "--sort", "random")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("newest, oldest")
  })

  it("pages by keyset: --after the last id of a page, --before the first, in either order", async () => {
    const dataDir = await fiveJobs()
    expect(await listed(dataDir, "-n", "2", "--after", "job-4")).toEqual(["job-3", "job-2"])
    expect(await listed(dataDir, "--after", "job-2")).toEqual(["job-1"])
    expect(await listed(dataDir, "--after", "job-1")).toEqual([])
    // A page before a job is the jobs nearest it, in the list's order.
    expect(await listed(dataDir, "-n", "2", "--before", "job-2")).toEqual(["job-4", "job-3"])
    expect(await listed(dataDir, "--before", "job-3")).toEqual(["job-5", "job-4"])
    expect(await listed(dataDir, "--sort", "oldest", "-n", "2", "--after", "job-2")).toEqual(["job-3", "job-4"])
    expect(await listed(dataDir, "--sort", "oldest", "-n", "2", "--before", "job-4")).toEqual(["job-2", "job-3"])
    expect(await listed(dataDir, "--status", "completed", "-n", "1", "--after", "job-3")).toEqual(["job-2"])
  })

  it("says how to get the next page from the last id of a full one, and the previous from the first", async () => {
    const dataDir = await fiveJobs()
    const ids = (stdout: string) =>
      stdout
        .split("\n")
        .filter((l) => l.startsWith("job-"))
        .map((l) => l.split(/\s+/)[0])
    const first = await cli("-d", dataDir, "list", "-n", "2", "--sort", "oldest")
    expect(first.code, first.stderr).toBe(0)
    expect(ids(first.stdout)).toEqual(["job-1", "job-2"])
    expect(first.stdout.trim().split("\n").at(-1)).toBe(
      `… more jobs; next page: npx jobstate -d ${dataDir} list --sort oldest -n 2 --after job-2`,
    )
    const second = await cli("-d", dataDir, "list", "--sort", "oldest", "-n", "2", "--after", "job-2")
    expect(ids(second.stdout)).toEqual(["job-3", "job-4"])
    expect(second.stdout.trim().split("\n").at(-1)).toBe(
      `… more jobs; next page: npx jobstate -d ${dataDir} list --sort oldest -n 2 --after job-4`,
    )
    // The last page is not full: no hint.
    const last = await cli("-d", dataDir, "list", "--sort", "oldest", "-n", "2", "--after", "job-4")
    expect(ids(last.stdout)).toEqual(["job-5"])
    expect(last.stdout).not.toContain("more jobs")
    // Exactly full, with nothing beyond: no hint either.
    const exact = await cli("-d", dataDir, "list", "-n", "2", "--after", "job-3")
    expect(ids(exact.stdout)).toEqual(["job-2", "job-1"])
    expect(exact.stdout).not.toContain("more jobs")
    const back = await cli("-d", dataDir, "list", "--status", "completed", "-n", "2", "--before", "job-2")
    expect(ids(back.stdout)).toEqual(["job-4", "job-3"])
    expect(back.stdout.trim().split("\n").at(-1)).toBe(
      `… more jobs; previous page: npx jobstate -d ${dataDir} list --status completed -n 2 --before job-4`,
    )
    // --json prints the page and nothing else on stdout.
    const json = await cli("-d", dataDir, "list", "--json", "-n", "2", "--after", "job-5")
    expect(json.code, json.stderr).toBe(0)
    expect((JSON.parse(json.stdout) as Array<{ id: string }>).map((j) => j.id)).toEqual(["job-4", "job-3"])
  })

  it("refuses an unknown id, --after with --before, and a cursor with --offset (exit 2)", async () => {
    const dataDir = await fiveJobs()
    const unknown = await cli("-d", dataDir, "list", "--after", "job-9")
    expect(unknown.code).toBe(2)
    expect(unknown.stdout).toBe("")
    expect(unknown.stderr).toBe(
      "jobstate: --after job-9: no such job to page from (an id, or a unique prefix of 4 characters or more; a pruned job has no place in the list)\n",
    )
    const before = await cli("-d", dataDir, "list", "--json", "--before", "job-9")
    expect(before.code).toBe(2)
    expect(before.stderr).toContain("--before job-9: no such job to page from")
    const both = await cli("-d", dataDir, "list", "--after", "job-2", "--before", "job-4")
    expect(both.code).toBe(2)
    expect(both.stderr).toBe("jobstate: Give --after or --before, not both\n")
    const offset = await cli("-d", dataDir, "list", "--after", "job-4", "--offset", "1")
    expect(offset.code).toBe(2)
    expect(offset.stderr).toBe("jobstate: Give --after or --offset, not both\n")
    // In an empty data dir there is no job to page from either.
    const empty = await cli("-d", tempDir(), "list", "--after", "job-1")
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("--after job-1: no such job to page from")
  })

  it("shows a queued job not yet due as delayed and one no worker runs as waiting, and --status finds each", async () => {
    const dataDir = tempDir()
    const Unrun = defineJob({ name: "unrun", params: Schema.Struct({}), run: async () => {} })
    const worker = await JobManager.open({ dataDir, jobs: [NoopJob] })
    const producer = await JobManager.open({ dataDir, jobs: [NoopJob, Unrun], concurrency: 0 })
    try {
      const delayed = await producer.dispatch(NoopJob, { tag: "later" }, { delayMs: 3_600_000 })
      const unrun = await producer.dispatch(Unrun, {})
      const table = await cli("-d", dataDir, "list")
      expect(table.stdout).toMatch(new RegExp(`${delayed.id}\\s+noop\\s+delayed`))
      expect(table.stdout).toMatch(new RegExp(`${unrun.id}\\s+unrun\\s+waiting`))
      expect(await listed(dataDir, "--status", "delayed")).toEqual([delayed.id])
      expect(await listed(dataDir, "--status", "waiting")).toEqual([unrun.id])
      expect((await listed(dataDir, "--status", "queued")).sort()).toEqual([delayed.id, unrun.id].sort())
      expect(await listed(dataDir, "--status", "waiting", "--offset", "1")).toEqual([])
      // A case of a status pages from a cursor too (the unrun job was dispatched after the delayed one).
      expect(await listed(dataDir, "--status", "waiting", "--before", delayed.id)).toEqual([unrun.id])
      expect(await listed(dataDir, "--status", "delayed", "--after", unrun.id)).toEqual([delayed.id])
      expect(await listed(dataDir, "--status", "waiting", "--after", unrun.id)).toEqual([])
    } finally {
      await producer.close()
      await worker.close()
    }
  })

  describe("on a store of more than a page", () => {
    let store: Awaited<ReturnType<typeof manyJobs>>
    beforeAll(async () => {
      store = await manyJobs()
    }, 60_000)
    afterAll(() => rmSync(store.dataDir, { recursive: true, force: true }))

    it("--json without -n writes every job, a page at a time, as one JSON array in the --sort order", async () => {
      const { dataDir, all, noop, other } = store
      const whole = await cli("-d", dataDir, "list", "--json")
      expect(whole.code, whole.stderr).toBe(0)
      const parsed = JSON.parse(whole.stdout) as Array<{ id: string; name: string }>
      expect(parsed.map((job) => job.id)).toEqual(newestFirst(all))
      // The same bytes as the whole list printed at once (-n reads it in one query).
      const atOnce = await cli("-d", dataDir, "list", "--json", "-n", "2500")
      expect(whole.stdout).toBe(atOnce.stdout)
      expect(whole.stdout).toBe(`${JSON.stringify(parsed, null, 2)}\n`)
      expect(await listed(dataDir, "--sort", "oldest")).toEqual(all)
      // Exactly one full page of rows of the type, then none.
      expect(await listed(dataDir, "--type", "other")).toEqual(newestFirst(other))
      expect(await listed(dataDir, "--type", "noop", "--sort", "oldest", "--offset", "1200")).toEqual(noop.slice(1200))
      expect(await listed(dataDir, "--offset", "2499")).toEqual(["job-1"])
      expect(await listed(dataDir, "--offset", "2500")).toEqual([])
      // From a cursor: every job after it, or every job before it (from the list's start up to it).
      expect(await listed(dataDir, "--after", "job-1001")).toEqual(newestFirst(all.slice(0, 1000)))
      expect(await listed(dataDir, "--before", "job-1001")).toEqual(newestFirst(all.slice(1001)))
      expect(await listed(dataDir, "--sort", "oldest", "--before", "job-2200")).toEqual(all.slice(0, 2199))
      expect(await listed(dataDir, "--sort", "oldest", "--after", "job-1499")).toEqual(all.slice(1499))
      expect(await listed(dataDir, "--type", "other", "--after", "job-2300")).toEqual(
        newestFirst(other.filter((id) => Number(id.slice(4)) < 2300)),
      )
      expect(await listed(dataDir, "--type", "other", "--sort", "oldest", "--before", "job-301")).toEqual([])
    })

    it("--json streams a case of a status (delayed, waiting) across pages too", async () => {
      const { dataDir, noop, other } = store
      // A worker of noop: its jobs are delayed (due in an hour), the other jobs wait for a worker.
      const worker = await JobManager.open({ dataDir, jobs: [NoopJob] })
      try {
        expect(await listed(dataDir, "--status", "delayed")).toEqual(newestFirst(noop))
        expect(await listed(dataDir, "--status", "waiting", "--sort", "oldest")).toEqual(other)
        expect(await listed(dataDir, "--status", "delayed", "--offset", "1000")).toEqual(newestFirst(noop).slice(1000))
        expect(await listed(dataDir, "--status", "waiting", "--type", "noop")).toEqual([])
        expect(await listed(dataDir, "--status", "delayed", "--type", "noop", "--before", "job-301")).toEqual(
          newestFirst(noop).filter((id) => Number(id.slice(4)) > 301),
        )
        expect(await listed(dataDir, "--status", "queued", "--type", "other", "--after", "job-2001")).toEqual(
          newestFirst(other.filter((id) => Number(id.slice(4)) < 2001)),
        )
      } finally {
        await worker.close()
      }
    })

    it("--type filters exactly, with -n, the table and its next-page hint", async () => {
      const { dataDir, noop, other } = store
      expect(await listed(dataDir, "--type", "other", "-n", "3")).toEqual(newestFirst(other).slice(0, 3))
      expect(await listed(dataDir, "--type", "noop", "--sort", "oldest", "-n", "2", "--after", "job-300")).toEqual([
        "job-501",
        "job-502",
      ])
      expect(await listed(dataDir, "--type", "noop", "--status", "queued", "-n", "2", "--offset", "1")).toEqual(
        newestFirst(noop).slice(1, 3),
      )
      const rows = (stdout: string) =>
        stdout
          .split("\n")
          .filter((l) => l.startsWith("job-"))
          .map((l) => l.split(/\s+/).slice(0, 2))
      const table = await cli("-d", dataDir, "list", "--type", "other", "-n", "2")
      expect(table.code, table.stderr).toBe(0)
      expect(rows(table.stdout)).toEqual([
        ["job-2500", "other"],
        ["job-2499", "other"],
      ])
      expect(table.stdout.trim().split("\n").at(-1)).toBe(
        `… more jobs; next page: npx jobstate -d ${dataDir} list --type other -n 2 --after job-2499`,
      )
      const next = await cli("-d", dataDir, "list", "--type", "other", "-n", "2", "--after", "job-2499")
      expect(rows(next.stdout)).toEqual([
        ["job-2498", "other"],
        ["job-2497", "other"],
      ])
      // The default page of 50, with the status and order given.
      const page = await cli("-d", dataDir, "list", "--type", "noop", "--status", "queued", "--sort", "oldest")
      expect(rows(page.stdout).map(([id]) => id)).toEqual(noop.slice(0, 50))
      expect(rows(page.stdout).every(([, type]) => type === "noop")).toBe(true)
      expect(page.stdout.trim().split("\n").at(-1)).toBe(
        `… more jobs; next page: npx jobstate -d ${dataDir} list --status queued --type noop --sort oldest --after job-50 (or -n <how many>, or --json for all)`,
      )
    })

    it("an unknown type is no jobs, not an error, and the table names the types stored", async () => {
      const { dataDir } = store
      const table = await cli("-d", dataDir, "list", "--type", "nope")
      expect(table.code, table.stderr).toBe(0)
      expect(table.stdout).toBe(
        `No jobs of type nope in ${dataDir} (no job of that type is stored; the types stored: noop, other)\n`,
      )
      const filtered = await cli("-d", dataDir, "list", "--type", "other", "--status", "failed")
      expect(filtered.stdout).toBe(`No jobs of type other with status failed in ${dataDir}\n`)
      for (const args of [["--json"], ["--json", "-n", "5"]]) {
        const json = await cli("-d", dataDir, "list", "--type", "nope", ...args)
        expect(json.code, json.stderr).toBe(0)
        expect(json.stdout).toBe("[]\n")
      }
    })
  })

  it("--json in an empty data dir is an empty array, and a cursor there is still exit 2", async () => {
    const empty = await cli("-d", tempDir(), "list", "--json")
    expect(empty.code, empty.stderr).toBe(0)
    expect(empty.stdout).toBe("[]\n")
    const cursor = await cli("-d", tempDir(), "list", "--json", "--after", "job-1")
    expect(cursor.code).toBe(2)
    expect(cursor.stdout).toBe("")
    expect(cursor.stderr).toContain("--after job-1: no such job to page from")
  })
})
