import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, gateJobs, readJobRow, startCli, type RunningCli } from "./cli.js"

// Generous: every step spawns a process, and a loaded CI machine may take seconds for each.
const LONG = 90_000

const started: RunningCli[] = []
afterEach(async () => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    await running.exited
  }
})

/** An indexer job of a location that does not exist: it fails when it runs. Returns its id. */
const dispatchFailing = async (dataDir: string) => {
  const detach = await cli(
    "-d",
    dataDir,
    "run",
    "indexer",
    "--detach",
    "--params",
    JSON.stringify({ location: join(tempDir(), "missing"), mode: "Metadata", indexDb: join(dataDir, "index.db") }),
  )
  expect(detach.code, detach.stderr).toBe(0)
  return detach.stdout.trim()
}

const dispatchGate = async (dataDir: string, releaseFile: string) => {
  const result = await cli(
    "-d",
    dataDir,
    "--jobs",
    gateJobs,
    "run",
    "gate",
    "--detach",
    "--params",
    JSON.stringify({ releaseFile }),
  )
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim()
}

describe("finishing jobs in one terminal", () => {
  it("resume --wait resumes a paused job, runs it here until it ends, and prints its output", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const id = await dispatchGate(dataDir, release)
    const pause = await cli("-d", dataDir, "pause", id)
    expect(pause.code, pause.stderr).toBe(0)
    expect(readJobRow(dataDir, id)!.status).toBe("paused")
    writeFileSync(release, "")

    const resumed = await cli("-d", dataDir, "--jobs", gateJobs, "resume", "--wait", id.slice(0, 8))
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ attempt: 1 })
    expect(resumed.stderr).toContain(`Job ${id} completed`)
    expect(readJobRow(dataDir, id)!.status).toBe("completed")

    // An ended job: its outcome, at once.
    const again = await cli("-d", dataDir, "--jobs", gateJobs, "resume", "--wait", id)
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ attempt: 1 })
  })

  it("a Ctrl-C'd run says how to finish the job with a command that can be pasted as is", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const run = startCli([
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--params",
      JSON.stringify({ releaseFile: release }),
    ])
    started.push(run)
    const id = await waitUntil(() => /Dispatched gate job (\S+)/.exec(run.stderr())?.[1], LONG, "the dispatch")
    await waitUntil(() => readJobRow(dataDir, id)?.status === "running", LONG, "the job to run")
    run.child.kill("SIGINT")
    const { code, stderr } = await run.exited
    expect(code).toBe(130)
    // The hint carries the data dir and the --jobs module this run used.
    const hint = /`npx jobstate (.*?) resume --wait (\S+)`/.exec(stderr)
    expect(hint, stderr).not.toBeNull()
    expect(hint![1]).toBe(`-d ${dataDir} --jobs ${gateJobs}`)
    writeFileSync(release, "")
    const resumed = await cli(...hint![1]!.split(" "), "resume", "--wait", hint![2]!)
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(readJobRow(dataDir, id)!.status).toBe("completed")
  })

  it("resume --wait finishes a job whose worker was killed, from its checkpoint", { timeout: 4 * LONG }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const worker = startCli(["-d", dataDir, "--jobs", gateJobs, "worker"])
    started.push(worker)
    await waitUntil(() => worker.stdout().includes("Ctrl-C stops"), LONG, "the worker to start")
    const id = await dispatchGate(dataDir, release)
    await waitUntil(
      () => readJobRow(dataDir, id)?.status === "running" && Number(readJobRow(dataDir, id)!.state_version) > 0,
      LONG,
      "a checkpoint",
    )
    worker.child.kill("SIGKILL")
    await worker.exited
    expect(readJobRow(dataDir, id)!.status).toBe("running") // as the dead worker left it
    writeFileSync(release, "")

    const resumed = await cli("-d", dataDir, "--jobs", gateJobs, "resume", "--wait", id)
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ attempt: 2 })
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "completed", attempts: 2 })
  })

  it("resume --wait exits 1 when the job fails, and 2 when it does not know the job's type", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const id = await dispatchFailing(dataDir)
    expect((await cli("-d", dataDir, "pause", id)).code).toBe(0)
    const failed = await cli("-d", dataDir, "resume", "--wait", id)
    expect(failed.code).toBe(1)
    expect(failed.stderr.trim().split("\n").at(-1)).toMatch(
      /failed: \[IndexerError\] Cannot index: the location does not exist/,
    )

    const gate = await dispatchGate(dataDir, join(tempDir(), "never"))
    const unknown = await cli("-d", dataDir, "resume", "--wait", gate)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain(`is of type "gate", which this command does not know: add --jobs`)
    expect(readJobRow(dataDir, gate)!.status).toBe("queued")
  })

  it("worker --drain runs what is queued and exits when nothing of its types is left", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    writeFileSync(release, "")
    const ids = [
      await dispatchGate(dataDir, release),
      await dispatchGate(dataDir, release),
      await dispatchGate(dataDir, release),
    ]
    const drained = await cli("-d", dataDir, "--jobs", gateJobs, "worker", "--drain", "--concurrency", "2")
    expect(drained.code, drained.stderr).toBe(0)
    expect(drained.stdout).toMatch(/drained: no job of file_copy, gate, indexer is queued or running/)
    expect(drained.stdout).toMatch(/stopped\n$/)
    for (const id of ids) expect(readJobRow(dataDir, id)!.status).toBe("completed")

    // Nothing to do: it exits at once.
    const idle = await cli("-d", dataDir, "--jobs", gateJobs, "worker", "--drain")
    expect(idle.code, idle.stderr).toBe(0)
  })

  it("worker --drain exits 1 when a job it ran failed", { timeout: 4 * LONG }, async () => {
    const dataDir = tempDir()
    await dispatchFailing(dataDir)
    const drained = await cli("-d", dataDir, "worker", "--drain")
    expect(drained.code).toBe(1)
    expect(drained.stderr.trim()).toBe("jobstate: 1 job(s) failed; see `npx jobstate list --status failed`")
  })

  it("worker --quiet logs failed jobs and its own lines, not each job's start and end", {
    timeout: 4 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    writeFileSync(release, "")
    const ok = [await dispatchGate(dataDir, release), await dispatchGate(dataDir, release)]
    const failedId = await dispatchFailing(dataDir)
    const quiet = await cli("-d", dataDir, "--jobs", gateJobs, "worker", "--drain", "--quiet")
    expect(quiet.code).toBe(1)
    const lines = quiet.stdout.trim().split("\n")
    // The failed job, named, and nothing of the jobs that ran fine.
    expect(lines.filter((l) => /^\S+ (running|completed) /.test(l))).toEqual([])
    expect(lines.filter((l) => l.includes(failedId))).toEqual([expect.stringMatching(/ failed indexer /)])
    for (const id of ok) expect(quiet.stdout).not.toContain(id)
    // Its own lines stay: what it runs, and what it saw.
    expect(quiet.stdout).toMatch(/ worker \S+ on .*: running up to 4 job\(s\)/)
    expect(quiet.stdout).toMatch(/this worker saw 2 job\(s\) complete, 1 fail, 0 cancelled/)
  })
})
