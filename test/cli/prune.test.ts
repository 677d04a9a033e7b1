import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { createCountLine } from "../../src/cli/render.js"
import { cli, readJobRow, root } from "./cli.js"

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

/** `n` completed jobs, job-1 … job-n. */
const completedJobs = async (n: number) => {
  const dataDir = tempDir()
  let i = 0
  const manager = await JobManager.open({ dataDir, jobs: [NoopJob], generateId: () => `job-${++i}` })
  await Promise.all(Array.from({ length: n }, async () => (await manager.dispatch(NoopJob, {})).result()))
  await manager.close()
  return dataDir
}

const fakeStream = () => {
  let text = ""
  const stream = { write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream
  return { stream, text: () => text }
}

describe("the running count", () => {
  it("redraws one line of a terminal with the count so far, and clears it when done", () => {
    const { stream, text } = fakeStream()
    const line = createCountLine(stream, (n) => `Pruning: ${n} jobs deleted`, { interactive: true, intervalMs: 0 })
    line.add(500)
    line.add(500)
    line.add(17)
    line.done()
    expect(text()).toBe(
      "\r\x1b[2KPruning: 500 jobs deleted\r\x1b[2KPruning: 1000 jobs deleted\r\x1b[2KPruning: 1017 jobs deleted\r\x1b[2K",
    )
  })

  it("writes nothing where there is no terminal, and nothing to clear when it drew nothing", () => {
    const plain = fakeStream()
    const line = createCountLine(plain.stream, (n) => `${n}`, { interactive: false })
    line.add(3)
    line.done()
    expect(plain.text()).toBe("")
    const quick = fakeStream()
    const unseen = createCountLine(quick.stream, (n) => `${n}`, { interactive: true, delayMs: 60_000 })
    unseen.add(3)
    unseen.done()
    expect(quick.text()).toBe("")
  })
})

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

  it("deletes in batches of --batch-size, printing only its summary when stderr is not a terminal", async () => {
    const dataDir = await completedJobs(5)
    const pruned = await cli("-d", dataDir, "prune", "--status", "completed", "--older-than", "0", "--batch-size", "2")
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.stderr).toBe("")
    expect(pruned.stdout).toMatch(/^Deleted 5 jobs of any age from .*: 5 completed\n$/)
    for (let i = 1; i <= 5; i++) expect(readJobRow(dataDir, `job-${i}`)).toBeUndefined()
    const bad = await cli("-d", dataDir, "prune", "--status", "completed", "--older-than", "0", "--batch-size", "0")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--batch-size must be an integer >= 1")
  })

  // util-linux's `script` (Debian's essential bsdutils) gives the command a terminal.
  it("shows a running count of the deleted jobs on a terminal, cleared before the summary; none with --json", async () => {
    const inTerminal = (dataDir: string, ...args: string[]) => {
      const command = ["node", "bin/jobstate.js", "-d", dataDir, "prune", ...args].join(" ")
      const env: NodeJS.ProcessEnv = { ...process.env, TERM: "xterm" }
      delete env.CI
      return execFileSync("script", ["-qec", command, "/dev/null"], { cwd: root, env, encoding: "utf8" })
    }
    const quiet = await completedJobs(5)
    const json = inTerminal(quiet, "--status", "completed", "--older-than", "0", "--batch-size", "2", "--json")
    expect(json).toBe(`${JSON.stringify({ deleted: 5, byStatus: { completed: 5 } })}\r\n`)
    const dataDir = await completedJobs(5)
    const shown = inTerminal(dataDir, "--status", "completed", "--older-than", "0", "--batch-size", "2")
    // The first batch is drawn at once; the line is cleared before the summary.
    expect(shown).toMatch(
      /^\r\x1b\[2KPruning: 2 jobs deleted \(completed\)…(\r\x1b\[2KPruning: [45] jobs deleted \(completed\)…)*\r\x1b\[2KDeleted 5 jobs of any age from .*: 5 completed\r?\n$/,
    )
    for (let i = 1; i <= 5; i++) expect(readJobRow(dataDir, `job-${i}`)).toBeUndefined()
  })
})
