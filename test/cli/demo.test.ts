import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { cli } from "./cli.js"

const jobsIn = (dataDir: string) => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT name, status, attempts, output FROM jobs ORDER BY seq").all() as Array<{
      name: string
      status: string
      attempts: number
      output: string
    }>
  } finally {
    db.close()
  }
}

describe("jobstate demo", () => {
  it("indexes and copies a sample tree, pausing and resuming the copy from its checkpoint", {
    timeout: 180_000,
  }, async () => {
    const dataDir = tempDir()
    const { code, stdout, stderr } = await cli("-d", dataDir, "demo")
    expect(code, stderr).toBe(0)
    // Not a terminal: plain progress lines, no cursor movement.
    expect(stdout).not.toContain("\u001b[")
    expect(stdout).toMatch(/^\[file_copy\] running \d+%/m)
    expect(stdout).toMatch(/^Paused file_copy \(by user\) at \d+%/m)
    expect(stdout).toMatch(/^ {2}Checkpoint #\d+ .*: \d+ files copied/m)
    expect(stdout).toMatch(/^Resumed file_copy/m)
    expect(stdout).toMatch(/^ {2}Attempt 2 started at /m)
    expect(stdout).toMatch(/^indexer completed/m)
    expect(stdout).toMatch(/^file_copy completed/m)
    expect(stdout).toContain(join(dataDir, "jobs.db"))
    // The last hint is a command that works from the project without a global install.
    expect(stdout.trim().split("\n").at(-1)).toMatch(/^Look around: npx jobstate --data-dir /)

    const jobs = jobsIn(dataDir)
    expect(jobs.map((j) => [j.name, j.status])).toEqual([
      ["indexer", "completed"],
      ["file_copy", "completed"],
    ])
    const copy = jobs[1]!
    expect(copy.attempts).toBe(2)
    const copied = JSON.parse(copy.output)
    const indexed = JSON.parse(jobs[0]!.output)
    expect(copied).toMatchObject({ copiedCount: indexed.totalFiles, failedCount: 0, totalBytes: indexed.totalBytes })
    expect(existsSync(join(dataDir, "demo-index.db"))).toBe(true)
  })

  it("records the manager's and the jobs' actors for the Stately inspector", { timeout: 180_000 }, async () => {
    const dataDir = tempDir()
    const events = join(tempDir(), "events.jsonl")
    const { code, stderr } = await cli("-d", dataDir, "inspect", "--no-server", "--out", events)
    expect(code, stderr).toBe(0)
    const recorded = readFileSync(events, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
    const actors = recorded.filter((e) => e.type === "@xstate.actor").map((e) => e.name)
    // Each job actor is named by its type and id, so the inspector tells them apart.
    expect(actors).toContain("jobManager")
    expect(actors.filter((name) => /^indexer:[0-9a-f-]{36}$/.test(name))).toHaveLength(1)
    expect(actors.filter((name) => /^file_copy:[0-9a-f-]{36}$/.test(name)).length).toBeGreaterThanOrEqual(1)
    const jobStates = recorded
      .filter((e) => e.type === "@xstate.snapshot" && e.snapshot?.context?.jobId)
      .map((e) => JSON.stringify(e.snapshot.value))
    expect(jobStates).toEqual(
      expect.arrayContaining(['{"running":"active"}', '{"running":"pausing"}', '"paused"', '"completed"']),
    )
  })
})
