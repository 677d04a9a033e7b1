import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, gateJobs, readJobRow, root, startCli, type RunningCli } from "./cli.js"

// Generous: every step spawns a process, and a loaded CI machine may take seconds for each.
const LONG = 90_000

/** `--jobs` module with the `failing` type (a typed failure each attempt, no retry policy of its own). */
const fixtureJobs = join(root, "test/fixtures/jobs.ts")

const started: RunningCli[] = []
afterEach(async () => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    await running.exited
  }
})

const dispatchedId = (stderr: string) => /Dispatched \w+ job (\S+)/.exec(stderr)?.[1]
const storedOverrides = (dataDir: string, id: string) => {
  const options = readJobRow(dataDir, id)!.options as string | null
  return options === null ? null : JSON.parse(options)
}

describe("jobstate retry with overrides", () => {
  it("--timeout: a job that timed out is retried with more time, and runs past its old timeout to the end", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    // The gate never opens: the attempt is stopped after 1 s.
    const run = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "-p",
      JSON.stringify({ releaseFile: release }),
      "--timeout",
      "1s",
    )
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/JobTimeout/)
    const id = dispatchedId(run.stderr)!
    expect(storedOverrides(dataDir, id)).toEqual({ timeoutMs: 1000 })

    const retried = await cli("-d", dataDir, "--jobs", gateJobs, "retry", id.slice(0, 8), "--timeout", "2m")
    expect(retried.code, retried.stderr).toBe(0)
    expect(retried.stdout).toContain(`Job ${id} is queued\nIts next attempts run with {"timeoutMs":120000}\n`)
    expect(storedOverrides(dataDir, id)).toEqual({ timeoutMs: 120_000 })

    const worker = startCli(["-d", dataDir, "--jobs", gateJobs, "worker", "--drain"])
    started.push(worker)
    await waitUntil(() => readJobRow(dataDir, id)?.status === "running", LONG, "the retried attempt to start")
    // Past the old timeout (1 s), with room to spare: it is still running.
    await new Promise((r) => setTimeout(r, 2_500))
    expect(readJobRow(dataDir, id)!.status).toBe("running")
    writeFileSync(release, "")
    const drained = await worker.exited
    expect(drained.code, drained.stderr).toBe(0)
    const row = readJobRow(dataDir, id)!
    expect(row.status).toBe("completed")
    expect(JSON.parse(row.output as string)).toMatchObject({ attempt: 2 })
  })

  it("--max-retries and --backoff give the attempts it starts a retry policy; a later --backoff keeps its --max-retries", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const run = await cli("-d", dataDir, "--jobs", fixtureJobs, "run", "failing", "-p", '{"mode":"typed"}')
    expect(run.code).toBe(1)
    const id = dispatchedId(run.stderr)!
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "failed", attempts: 1, options: null })

    // The type has no policy: a backoff alone has no number of retries to go with.
    const alone = await cli("-d", dataDir, "--jobs", fixtureJobs, "retry", id, "--backoff", "fixed:100ms")
    expect(alone.code).toBe(2)
    expect(alone.stderr).toBe(
      `jobstate: --backoff changes job ${id}'s retry policy, but its type "failing" has none: give --max-retries too\n`,
    )
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "failed", options: null })

    const retried = await cli(
      "-d",
      dataDir,
      "--jobs",
      fixtureJobs,
      "retry",
      id,
      "--max-retries",
      "2",
      "--backoff",
      "fixed:100ms",
    )
    expect(retried.code, retried.stderr).toBe(0)
    expect(storedOverrides(dataDir, id)).toEqual({ retry: { maxRetries: 2, backoff: { type: "fixed", delayMs: 100 } } })
    const drained = await cli("-d", dataDir, "--jobs", fixtureJobs, "worker", "--drain")
    expect(drained.code).toBe(1)
    // The retry's attempt and its two retries, 100 ms apart.
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "failed", attempts: 4 })
    const logs = await cli("-d", dataDir, "logs", id)
    expect(logs.stdout).toMatch(/retry 1 of 2 at/)
    expect(logs.stdout).toMatch(/retry 2 of 2 at/)

    // The policy as it stands is the base: --backoff none keeps maxRetries, drops the wait; a new timeout joins it.
    const again = await cli(
      "-d",
      dataDir,
      "--jobs",
      fixtureJobs,
      "retry",
      id,
      "--backoff",
      "none",
      "--timeout",
      "500ms",
    )
    expect(again.code, again.stderr).toBe(0)
    expect(storedOverrides(dataDir, id)).toEqual({ retry: { maxRetries: 2 }, timeoutMs: 500 })
  })

  it("refuses bad overrides (exit 2, one line) and a job it cannot retry, and changes nothing", async () => {
    const dataDir = tempDir()
    const run = await cli("-d", dataDir, "--jobs", fixtureJobs, "run", "failing", "-p", '{"mode":"typed"}')
    const id = dispatchedId(run.stderr)!
    const refused = async (args: string[], message: RegExp) => {
      const result = await cli("-d", dataDir, "--jobs", fixtureJobs, "retry", id, ...args)
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2)
      expect(result.stderr.trim().split("\n"), args.join(" ")).toEqual([expect.stringMatching(message)])
    }
    // A bare number is not a duration (the old --timeout <seconds> of retry is --wait-timeout now).
    await refused(["--timeout", "30"], /--timeout must be a duration such as 30s/)
    await refused(["--timeout", "0"], /InvalidOptions: Invalid option timeoutMs/)
    await refused(["--timeout", "30d"], /InvalidOptions: Invalid option timeoutMs/)
    await refused(["--max-retries", "-1"], /--max-retries must be an integer >= 0/)
    await refused(["--max-retries", "1.5"], /--max-retries must be an integer >= 0/)
    await refused(["--backoff", "weekly"], /--backoff must be fixed:<duration>, exponential:<duration> or none/)
    await refused(["--backoff", "fixed:soon"], /--backoff must be a duration/)
    await refused(["--wait-timeout", "0"], /--wait-timeout must be an integer >= 1/)
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "failed", options: null })

    // Queued again, it is not a job to retry: its overrides are not touched either.
    expect((await cli("-d", dataDir, "retry", id, "--wait-timeout", "5")).code).toBe(0)
    await refused(["--timeout", "1m"], /InvalidTransition: Cannot retry job .*: it is queued/)
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "queued", options: null })
  })
})
