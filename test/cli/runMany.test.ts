import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { unpack } from "../../src/persistence/codec.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli, cliWithInput, gateJobs } from "./cli.js"

interface Stored {
  readonly id: string
  readonly name: string
  readonly status: string
  readonly priority: number
  readonly params: unknown
  readonly runAt: number | null
  readonly uniqueKey: string | null
}

/** Every job stored in the data dir, in dispatch order (none when nothing created jobs.db). */
const stored = (dataDir: string): Stored[] => {
  const file = join(dataDir, "jobs.db")
  if (!existsSync(file)) return []
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const rows = db
      .prepare("SELECT id, name, status, priority, params, run_at, unique_key FROM jobs ORDER BY seq")
      .all() as Array<Record<string, unknown>>
    return rows.map((r) => ({
      id: r.id as string,
      name: r.name as string,
      status: r.status as string,
      priority: r.priority as number,
      params: unpack(r.params as Buffer, "params"),
      runAt: r.run_at as number | null,
      uniqueKey: r.unique_key as string | null,
    }))
  } finally {
    db.close()
  }
}

const gate = (releaseFile: string) => JSON.stringify({ releaseFile })

/** `run gate` with `input` on stdin (`--params-file -`), with the gate job's module. */
const runMany = (dataDir: string, input: string, ...args: string[]) =>
  cliWithInput(input, "-d", dataDir, "--jobs", gateJobs, "run", "gate", "--params-file", "-", ...args)

describe("jobstate run with many params (NDJSON)", () => {
  it("dispatches a job per line of stdin, in order, skipping blank lines, and prints their ids one a line", async () => {
    const dataDir = tempDir()
    const input = `${gate("/r/a")}\n\n${gate("/r/b")}\r\n   \n${gate("/r/c")}\n`
    const before = Date.now()
    const run = await runMany(dataDir, input, "--priority", "high", "--delay", "1h")
    expect(run.code, run.stderr).toBe(0)
    const ids = run.stdout.split("\n")
    expect(ids.pop()).toBe("")
    const jobs = stored(dataDir)
    expect(jobs.map((j) => j.id)).toEqual(ids)
    expect(jobs.map((j) => [j.name, j.status, j.priority, j.params, j.uniqueKey])).toEqual([
      ["gate", "queued", 1, { releaseFile: "/r/a" }, null],
      ["gate", "queued", 1, { releaseFile: "/r/b" }, null],
      ["gate", "queued", 1, { releaseFile: "/r/c" }, null],
    ])
    // --delay applies to each: none may start before an hour from the dispatch.
    for (const job of jobs) expect(job.runAt).toBeGreaterThanOrEqual(before + 3_600_000)
    // A detached dispatch: nothing runs them here, and the hint says what will.
    expect(run.stderr).toBe(
      `Dispatched 3 gate jobs from stdin; no worker of type "gate" is running: start one with \`npx jobstate -d ${dataDir} --jobs ${gateJobs} worker\`\n`,
    )
  })

  it("stores them a --batch-size at a time, all in order", async () => {
    const dataDir = tempDir()
    const input = ["a", "b", "c", "d", "e"].map((x) => gate(`/r/${x}`)).join("\n")
    const run = await runMany(dataDir, input, "--batch-size", "2")
    expect(run.code, run.stderr).toBe(0)
    const jobs = stored(dataDir)
    expect(jobs.map((j) => j.params)).toEqual(["a", "b", "c", "d", "e"].map((x) => ({ releaseFile: `/r/${x}` })))
    expect(run.stdout).toBe(`${jobs.map((j) => j.id).join("\n")}\n`)
    expect(jobs.map((j) => j.priority)).toEqual([0, 0, 0, 0, 0])
  })

  it("prints its counts as counts: 1,200, not 1200", async () => {
    const dataDir = tempDir()
    const input = Array.from({ length: 1_200 }, (_, i) => gate(`/r/${i}`)).join("\n")
    const run = await runMany(dataDir, input)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toContain("Dispatched 1,200 gate jobs from stdin")
    expect(stored(dataDir)).toHaveLength(1_200)
  })

  it("refuses a line that is not JSON, naming it, and dispatches nothing", async () => {
    const dataDir = tempDir()
    const input = `${gate("/r/a")}\n\n{"releaseFile": "/r/b"\n${gate("/r/c")}\n`
    const run = await runMany(dataDir, input)
    expect(run.code).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toMatch(/^jobstate: Line 3 of stdin is not valid JSON \(.*\); nothing was dispatched/)
    expect(run.stderr.trim().split("\n")).toHaveLength(1)
    expect(stored(dataDir)).toEqual([])
  })

  it("refuses params a job would refuse, naming the line, and stores nothing, even of the batches before it", async () => {
    const dataDir = tempDir()
    // The bad one is on line 5 (blank lines count), in the third batch of two.
    const input = `${gate("/r/a")}\n${gate("/r/b")}\n\n${gate("/r/c")}\n{"releaseFile": 5}\n${gate("/r/d")}\n`
    const run = await runMany(dataDir, input, "--batch-size", "2")
    expect(run.code).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toMatch(
      /^jobstate: Invalid params for "gate" on line 5 of stdin: releaseFile: .*; nothing was dispatched\n$/,
    )
    expect(stored(dataDir)).toEqual([])
    // An undeclared key is refused as it is for one job.
    const extra = await runMany(dataDir, `${gate("/r/a")}\n{"releaseFile": "/r/b", "colour": "red"}\n`)
    expect(extra.code).toBe(2)
    expect(extra.stderr).toContain('Invalid params for "gate" on line 2 of stdin: colour')
    expect(stored(dataDir)).toEqual([])
  })

  it("refuses --unique-key and --params with many params, and empty input, dispatching nothing", async () => {
    const dataDir = tempDir()
    const keyed = await runMany(dataDir, `${gate("/r/a")}\n${gate("/r/b")}\n`, "--unique-key", "k")
    expect(keyed.code).toBe(2)
    expect(keyed.stderr).toBe(
      "jobstate: --unique-key names one job: it cannot be given with many params (stdin), where every job would have it and all but the first would be the first one's id\n",
    )
    const both = await runMany(dataDir, `${gate("/r/a")}\n`, "--params", gate("/r/b"))
    expect(both.code).toBe(2)
    expect(both.stderr).toContain("Give either --params or --params-file, not both")
    const empty = await runMany(dataDir, "\n  \n")
    expect(empty.code).toBe(2)
    expect(empty.stderr).toBe(
      "jobstate: No params in stdin: give one JSON object a line (NDJSON); nothing was dispatched\n",
    )
    expect(stored(dataDir)).toEqual([])
  })

  it("reads a .ndjson or .jsonl file as many, a .json file as one job's params, and says so when a .json file holds many", async () => {
    const dataDir = tempDir()
    const dir = tempDir()
    writeFileSync(join(dir, "jobs.jsonl"), `${gate("/r/a")}\n${gate("/r/b")}\n`)
    const many = await cli("-d", dataDir, "--jobs", gateJobs, "run", "gate", "--params-file", join(dir, "jobs.jsonl"))
    expect(many.code, many.stderr).toBe(0)
    expect(many.stdout.trim().split("\n")).toHaveLength(2)
    expect(many.stderr).toContain(`Dispatched 2 gate jobs from ${join(dir, "jobs.jsonl")}`)

    // A pretty-printed .json file is one job's params, as it always was (detached: nothing releases it).
    writeFileSync(join(dir, "one.json"), JSON.stringify({ releaseFile: "/r/c" }, null, 2))
    const one = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--params-file",
      join(dir, "one.json"),
      "--detach",
    )
    expect(one.code, one.stderr).toBe(0)

    writeFileSync(join(dir, "many.json"), `${gate("/r/d")}\n${gate("/r/e")}\n`)
    const misnamed = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--params-file",
      join(dir, "many.json"),
    )
    expect(misnamed.code).toBe(2)
    expect(misnamed.stderr).toContain(
      "it looks like NDJSON (one object a line): for one job each, name it .ndjson or .jsonl, or give it on stdin with --params-file -",
    )
    expect(stored(dataDir).map((j) => j.params)).toEqual([
      { releaseFile: "/r/a" },
      { releaseFile: "/r/b" },
      { releaseFile: "/r/c" },
    ])
  })
})
