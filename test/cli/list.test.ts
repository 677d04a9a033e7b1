import { describe, expect, it } from "vitest"
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
    } finally {
      await producer.close()
      await worker.close()
    }
  })
})
