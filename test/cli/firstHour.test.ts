/** What a newcomer meets first on the command line: clear refusals, a paged list, progress as the dashboard shows it. */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, JobManager, Progress } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, gateJobs } from "./cli.js"

const ReportingJob = defineJob({
  name: "reporting",
  params: Schema.Struct({}),
  progress: Schema.Struct({ done: Schema.Number, total: Schema.Number }),
  run: (ctx) => ctx.progress(Progress.structured({ done: 425, total: 600 })).pipe(Effect.andThen(Effect.never)),
})

describe("the CLI, as a newcomer meets it", () => {
  it("refuses a data dir that is not there, a --jobs file that is not there (every command), and a port out of range: exit 2, one line", async () => {
    const nowhere = join(tempDir(), "typo")
    const missing = await cli("-d", nowhere, "list")
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(
      `jobstate: No data dir at ${nowhere}: check --data-dir (or JOBSTATE_DATA_DIR); a worker, or any command that writes, creates it\n`,
    )
    expect((await cli("-d", tempDir(), "list")).stdout).toMatch(/^No jobs in /)
    const dataDir = tempDir()
    for (const args of [
      ["list"],
      ["show", "abcd"],
      ["logs", "abcd"],
      ["watch"],
      ["prune", "--status", "completed", "--older-than", "0"],
    ]) {
      const result = await cli("-d", dataDir, "--jobs", "./no-such-jobs.mjs", ...args)
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr, args.join(" ")).toBe(
        "jobstate: Cannot load --jobs ./no-such-jobs.mjs: no such file (nor ./no-such-jobs.mts)\n",
      )
    }
    const port = await cli("-d", dataDir, "ui", "--port", "99999")
    expect(port.code).toBe(2)
    expect(port.stderr).toContain("--port must be an integer from 0 to 65535")
  })

  it("refuses a data dir that holds other files but no jobs.db (-d .) rather than listing it as empty", async () => {
    const appDir = tempDir()
    writeFileSync(join(appDir, "package.json"), "{}")
    for (const args of [["list"], ["show", "abcd1234"]]) {
      const result = await cli("-d", appDir, ...args)
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr).toBe(
        `jobstate: No jobs.db in ${appDir}: it is not a jobstate data dir; check --data-dir (or JOBSTATE_DATA_DIR; the default is ./.jobstate)\n`,
      )
    }
  })

  it("answers a mistyped job type with the near one, and a missing type under --jobs without telling to add --jobs", async () => {
    const dataDir = tempDir()
    const typo = await cli("-d", dataDir, "--jobs", gateJobs, "run", "gaet", "--detach")
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(/^jobstate: UnknownJobType: Unknown job type "gaet"\..* \(did you mean "gate"\?\)\n$/)
    const absent = await cli("-d", dataDir, "--jobs", gateJobs, "run", "thumbnails", "--detach")
    expect(absent.stderr).toContain("(is it exported by name from your --jobs module?)")
    const noJobs = await cli("-d", dataDir, "run", "thumbnails", "--detach")
    expect(noJobs.stderr).toContain("(a type of your own: add --jobs <the module that exports it>)")
  })

  it("after a retry of a type the CLI does not know, names the worker command with the --jobs it needs", async () => {
    const dataDir = tempDir()
    const Broken = defineJob({ name: "broken", params: Schema.Struct({}), run: () => Effect.fail(new Error("no")) })
    const manager = await JobManager.open({ dataDir, jobs: [Broken] })
    const handle = await manager.dispatch(Broken, {})
    await handle.result().catch(() => undefined)
    await manager.close()
    const retry = await cli("-d", dataDir, "retry", handle.id)
    expect(retry.code, retry.stderr).toBe(0)
    expect(retry.stdout).toContain(
      `No worker of type "broken" is running on ${dataDir}: start \`npx jobstate -d ${dataDir} --jobs <the module that exports the "broken" job> worker\` to run it.`,
    )
  })

  it("lists a page of jobs and says how to see more", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: [NoopJob], concurrency: 0 })
    for (let i = 0; i < 60; i++) await manager.dispatch(NoopJob, {})
    await manager.close()
    const rows = (stdout: string) => stdout.split("\n").filter((l) => /^[0-9a-f]{8}-/.test(l))
    const page = await cli("-d", dataDir, "list")
    expect(rows(page.stdout)).toHaveLength(50)
    // One row each; what they wait for is said once, not under every row.
    expect(page.stdout.trim().split("\n")).toHaveLength(1 + 50 + 2)
    // The CLI does not know the type "noop" (no --jobs): the hint says where its worker needs it from.
    expect(page.stdout).toContain(
      `50 noop jobs above wait for a worker of type "noop" (none is running): npx jobstate -d ${dataDir} --jobs <the module that exports the "noop" job> worker`,
    )
    const last = rows(page.stdout).at(-1)!.split(/\s+/)[0]
    expect(page.stdout.trim().split("\n").at(-1)).toBe(
      `… more jobs; next page: npx jobstate -d ${dataDir} list --after ${last} (or -n <how many>, or --json for all)`,
    )
    const rest = await cli("-d", dataDir, "list", "--after", last!)
    expect(rows(rest.stdout)).toHaveLength(10)
    expect(rest.stdout).not.toContain("more jobs")
    const skipped = await cli("-d", dataDir, "list", "--offset", "50")
    expect(rows(skipped.stdout)).toEqual(rows(rest.stdout))
    expect(JSON.parse((await cli("-d", dataDir, "list", "--json")).stdout)).toHaveLength(60)
  })

  it("shows structured progress as the dashboard does: a percent in the list, done/total in show", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: [ReportingJob] })
    try {
      const handle = await manager.dispatch(ReportingJob, {})
      await waitUntil(
        async () => (await manager.getJobInfo(handle.id)).progressData !== null,
        20_000,
        "the progress write",
      )
      const list = await cli("-d", dataDir, "list")
      expect(list.stdout).toMatch(new RegExp(`${handle.id}\\s+reporting\\s+running\\s+70%`))
      const show = await cli("-d", dataDir, "show", handle.id)
      expect(show.stdout).toMatch(/progress\s+70% 425\/600/)
    } finally {
      await manager.simulateCrash()
    }
  })
})

describe("jobstate run's dispatch options", () => {
  it("takes --delay, --unique-key and --timeout as dispatch does", async () => {
    const dataDir = tempDir()
    const releaseFile = join(tempDir(), "never")
    const params = JSON.stringify({ releaseFile })
    const first = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "-p",
      params,
      "--detach",
      "--delay",
      "1h",
      "--unique-key",
      "nightly",
    )
    expect(first.code, first.stderr).toBe(0)
    const id = first.stdout.trim()
    // The hint names a worker command that can run it: with this command's --jobs.
    expect(first.stderr).toContain(
      `no worker of type "gate" is running: start one with \`npx jobstate -d ${dataDir} --jobs ${gateJobs} worker\``,
    )
    const again = await cli(
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "-p",
      params,
      "--detach",
      "--unique-key",
      "nightly",
    )
    expect(again.stdout.trim()).toBe(id)
    const info = JSON.parse((await cli("-d", dataDir, "show", id, "--json")).stdout) as {
      runAt: string
      uniqueKey: string
    }
    expect(info.uniqueKey).toBe("nightly")
    expect(Date.parse(info.runAt) - Date.now()).toBeGreaterThan(50 * 60_000)
    // The gate never opens: the attempt is stopped after 1 s and fails with JobTimeout.
    const timedOut = await cli("-d", dataDir, "--jobs", gateJobs, "run", "gate", "-p", params, "--timeout", "1s")
    expect(timedOut.code).toBe(1)
    expect(timedOut.stderr).toMatch(/JobTimeout/)
  })
})
