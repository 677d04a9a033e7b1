import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, gateJobs, readJobRow, startCli, type RunningCli } from "./cli.js"

// Generous: every step spawns a process, and a loaded CI machine may take seconds for each.
const LONG = 90_000

const started: RunningCli[] = []
const start = (args: ReadonlyArray<string>) => {
  const running = startCli(args)
  started.push(running)
  return running
}

afterEach(async () => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    await running.exited
  }
})

const statusOf = (dataDir: string, id: string) => readJobRow(dataDir, id)?.status

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

/**
 * Starts a worker and waits until it is up, so that it has created the database before another
 * process opens it (two first opens at once race in the migration; see the report).
 */
const startWorker = async (dataDir: string, ...args: string[]) => {
  const worker = start(["-d", dataDir, "--jobs", gateJobs, "worker", ...args])
  await waitUntil(() => worker.stdout().includes("Ctrl-C stops"), LONG, "the worker to start")
  return worker
}

/** Stops a worker the way a user does, and checks that it stopped gracefully. */
const stopWorker = async (worker: RunningCli) => {
  worker.child.kill("SIGINT")
  const result = await worker.exited
  expect(result.code, result.stderr).toBe(0)
  expect(result.stdout).toMatch(/SIGINT: stopping/)
  expect(result.stdout).toMatch(/stopped\n$/)
}

describe("commands from other processes", () => {
  it("pauses, resumes and cancels jobs that a worker in another process runs", { timeout: 10 * LONG }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const worker = await startWorker(dataDir, "--concurrency", "2")
    const id = await dispatchGate(dataDir, release)
    // Running, and past its first checkpoint: the worker really has it.
    await waitUntil(
      () => statusOf(dataDir, id) === "running" && Number(readJobRow(dataDir, id)!.state_version) > 0,
      LONG,
      "the worker to run the job",
    )

    const pause = await cli("-d", dataDir, "pause", id)
    expect(pause.code, pause.stderr).toBe(0)
    expect(pause.stdout).toContain(`Job ${id} is paused`)
    const paused = readJobRow(dataDir, id)!
    expect(paused).toMatchObject({ status: "paused", paused_by: "user" })

    const resume = await cli("-d", dataDir, "resume", id)
    expect(resume.code, resume.stderr).toBe(0)
    expect(resume.stdout).toMatch(new RegExp(`Job ${id} is (queued|running)`))
    expect(resume.stdout).not.toContain("No manager is running")
    await waitUntil(
      () => statusOf(dataDir, id) === "running" && readJobRow(dataDir, id)!.attempts === 2,
      LONG,
      "the worker to resume the job",
    )
    writeFileSync(release, "")
    await waitUntil(() => statusOf(dataDir, id) === "completed", LONG, "the job to complete")
    const output = JSON.parse(readJobRow(dataDir, id)!.output as string)
    expect(output.attempt).toBe(2)
    // It went on from its checkpoint: the ticks counted before the pause are in the total.
    expect(output.ticks).toBeGreaterThanOrEqual(Number(paused.state_version))

    const other = await dispatchGate(dataDir, join(tempDir(), "never"))
    await waitUntil(() => statusOf(dataDir, other) === "running", LONG, "the second job to run")
    const cancel = await cli("-d", dataDir, "cancel", other)
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toContain(`Job ${other} is cancelled`)
    expect(statusOf(dataDir, other)).toBe("cancelled")

    await stopWorker(worker)
    expect(worker.stdout()).toContain(`completed gate ${id}`)
    expect(worker.stdout()).toContain(`cancelled gate ${other}`)
  })

  it("pauses the job on Ctrl-C during run, and a worker runs it only after jobstate resume", {
    timeout: 10 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const run = start([
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--params",
      JSON.stringify({ releaseFile: release }),
    ])
    const id = await waitUntil(() => /Dispatched gate job (\S+)/.exec(run.stderr())?.[1], LONG, "the dispatch")
    await waitUntil(() => statusOf(dataDir, id) === "running", LONG, "the job to run")
    run.child.kill("SIGINT")
    const ran = await run.exited
    expect(ran.code).toBe(130)
    expect(ran.stderr).toMatch(new RegExp(`jobstate -d \\S+ --jobs \\S+ resume ${id}`))
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "paused", paused_by: "user" })

    // A user's pause outlives a new manager on the data dir.
    const worker = await startWorker(dataDir)
    expect(statusOf(dataDir, id)).toBe("paused")

    const resume = await cli("-d", dataDir, "resume", id)
    expect(resume.code, resume.stderr).toBe(0)
    writeFileSync(release, "")
    await waitUntil(() => statusOf(dataDir, id) === "completed", LONG, "the job to complete")
    await stopWorker(worker)
  })

  it("pauses the job when run is sent SIGTERM (timeout, systemd, a container's stop), as on Ctrl-C", {
    timeout: 10 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const run = start([
      "-d",
      dataDir,
      "--jobs",
      gateJobs,
      "run",
      "gate",
      "--params",
      JSON.stringify({ releaseFile: release }),
    ])
    const id = await waitUntil(() => /Dispatched gate job (\S+)/.exec(run.stderr())?.[1], LONG, "the dispatch")
    await waitUntil(() => statusOf(dataDir, id) === "running", LONG, "the job to run")
    run.child.kill("SIGTERM")
    const ran = await run.exited
    expect(ran.code).toBe(130)
    // Paused, not left running under a process that is gone.
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "paused", paused_by: "user" })
  })

  it("stops a worker gracefully on SIGTERM, and the next worker resumes what it was running", {
    timeout: 10 * LONG,
  }, async () => {
    const dataDir = tempDir()
    const release = join(tempDir(), "release")
    const first = await startWorker(dataDir)
    const id = await dispatchGate(dataDir, release)
    await waitUntil(() => statusOf(dataDir, id) === "running", LONG, "the first worker to run the job")
    first.child.kill("SIGTERM")
    const stopped = await first.exited
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(stopped.stdout).toContain("SIGTERM: stopping; 1 running job(s) pause")
    expect(readJobRow(dataDir, id)).toMatchObject({ status: "paused", paused_by: "shutdown" })

    const second = await startWorker(dataDir)
    await waitUntil(() => readJobRow(dataDir, id)!.attempts === 2, LONG, "the second worker to resume the job")
    writeFileSync(release, "")
    await waitUntil(() => statusOf(dataDir, id) === "completed", LONG, "the job to complete")
    await stopWorker(second)
    expect(second.stdout()).toContain(`completed gate ${id}`)
  })

  it("watches jobs that a worker runs, read-only, until they end", { timeout: 10 * LONG }, async () => {
    const dataDir = tempDir()
    const worker = await startWorker(dataDir)
    const watchAll = start(["-d", dataDir, "watch"])

    // A job that runs until released, so the watcher sees it for sure.
    const release = join(tempDir(), "release")
    const gate = await dispatchGate(dataDir, release)
    await waitUntil(() => watchAll.stderr().includes(`gate ${gate} running`), LONG, "the watcher to see the job run")
    const watchGate = start(["-d", dataDir, "watch", gate])
    await waitUntil(() => watchGate.stderr().includes("[gate] running"), LONG, "the job watcher to show it")
    writeFileSync(release, "")
    const watched = await watchGate.exited
    expect(watched.code, watched.stderr).toBe(0)
    expect(JSON.parse(watched.stdout)).toMatchObject({ attempt: 1 })
    await waitUntil(() => watchAll.stderr().includes(`gate ${gate} completed`), LONG, "the watcher to see the job end")

    // A real copy, dispatched for the worker; watching it ends with its output.
    const source = tempDir("jobstate-cli-src-")
    mkdirSync(join(source, "docs"))
    for (let i = 0; i < 20; i++) writeFileSync(join(source, "docs", `f${i}.txt`), `file ${i}\n`.repeat(100))
    const dispatch = await cli(
      "-d",
      dataDir,
      "run",
      "file_copy",
      "--detach",
      "--params",
      JSON.stringify({ sources: [source], destination: join(tempDir(), "out") }),
    )
    const copy = dispatch.stdout.trim()
    const watchCopy = await cli("-d", dataDir, "watch", copy)
    expect(watchCopy.code, watchCopy.stderr).toBe(0)
    expect(JSON.parse(watchCopy.stdout)).toMatchObject({ copiedCount: 20, failedCount: 0 })
    expect(watchCopy.stderr).toContain(`Job ${copy} completed`)

    watchAll.child.kill("SIGINT")
    expect((await watchAll.exited).code).toBe(0)
    await stopWorker(worker)
  })
})
