import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, gateJobs, readJobRow, root, startCli, type RunningCli } from "./cli.js"

// Generous: every step spawns a process, and a loaded CI machine may take seconds for each.
const LONG = 90_000

const fixtureJobs = join(root, "test/fixtures/jobs.ts")

const started: RunningCli[] = []
afterEach(async () => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    await running.exited
  }
})

/** The messages of `jobstate logs` output, without time and level. */
const messages = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => l.replace(/^\S+ \S+\s+/, ""))

describe("jobstate logs: a job's end, said once", () => {
  it("a running job cancelled from another process: one cancel line, in the log and in logs --follow", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const dispatched = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--detach",
      "-p",
      JSON.stringify({ releaseFile: release }),
    )
    expect(dispatched.code, dispatched.stderr).toBe(0)
    const id = dispatched.stdout.trim()
    const worker = startCli(["-d", dataDir, "--jobs", gateJobs, "worker"])
    started.push(worker)
    await waitUntil(() => readJobRow(dataDir, id)?.status === "running", LONG, "the job to run")
    const follow = startCli(["-d", dataDir, "logs", "--follow", id])
    started.push(follow)
    await waitUntil(() => follow.stdout().includes("started (attempt 1)"), LONG, "logs --follow to start")

    const cancel = await cli("-d", dataDir, "cancel", id)
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toContain(`Job ${id} is cancelled`)
    const followed = await follow.exited
    expect(followed.code, followed.stderr).toBe(0)

    const logs = await cli("-d", dataDir, "logs", id)
    expect(logs.code, logs.stderr).toBe(0)
    for (const [what, stdout] of [
      ["logs", logs.stdout],
      ["logs --follow", followed.stdout],
    ] as const) {
      const lines = messages(stdout)
      expect(
        lines.filter((l) => /cancel/.test(l)),
        `${what}:\n${stdout}`,
      ).toEqual([expect.stringMatching(/^cancelled after checkpoint \d+$/)])
      expect(lines.at(-1), what).toMatch(/^cancelled after checkpoint \d+$/)
    }
  })

  it("a queued job cancelled with no worker, and a failed job: one line each for the end; a completed job still ends with one", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const queued = await cli("-d", dataDir, "--jobs", fixtureJobs, "run", "noop", "--detach", "--delay", "1h")
    const id = queued.stdout.trim()
    expect((await cli("-d", dataDir, "cancel", id)).code).toBe(0)
    expect(messages((await cli("-d", dataDir, "logs", id)).stdout)).toEqual([
      "dispatched",
      "cancelled by a user while queued",
    ])

    const failed = await cli("-d", dataDir, "--jobs", fixtureJobs, "run", "failing", "-p", '{"mode":"typed"}')
    expect(failed.code).toBe(1)
    const failedId = /Dispatched \w+ job (\S+)/.exec(failed.stderr)![1]!
    expect(messages((await cli("-d", dataDir, "logs", failedId)).stdout)).toEqual([
      "dispatched",
      "started (attempt 1)",
      "failed: [QuotaExceeded] quota of 3 exceeded",
    ])

    const completed = await cli("-d", dataDir, "--jobs", fixtureJobs, "run", "noop", "-p", '{"tag":"x"}')
    expect(completed.code, completed.stderr).toBe(0)
    const completedId = /Dispatched \w+ job (\S+)/.exec(completed.stderr)![1]!
    expect(messages((await cli("-d", dataDir, "logs", completedId)).stdout)).toEqual([
      "dispatched",
      "started (attempt 1)",
      "completed",
    ])
  })
})
