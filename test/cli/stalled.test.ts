import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { linesOf, startProcess, stopProcess } from "../fixtures/processes.js"
import { OnceSlowJob, SlowCountJob, sharedJobs } from "../fixtures/sharedJobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, root } from "./cli.js"

const worker = (dataDir: string, options: object) =>
  startProcess("test/fixtures/typedWorker.ts", [dataDir, JSON.stringify(options)])
const sharedJobsModule = join(root, "test/fixtures/sharedJobs.ts")

/** Dispatches a job from a producer (a manager that runs nothing) and closes it. */
const dispatch = async (dataDir: string, dispatchIt: (m: JobManager) => Promise<{ id: string }>) => {
  const producer = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
  try {
    return (await dispatchIt(producer)).id
  } finally {
    await producer.close()
  }
}

describe("jobs whose manager died", () => {
  it("never runs a killed non-resumable job again, whatever pause and resume the CLI sends first", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "starts.txt")
    const first = await worker(dataDir, { register: ["once_slow"] })
    const id = await dispatch(dataDir, (m) => m.dispatch(OnceSlowJob, { file }))
    await waitUntil(() => linesOf(file).length === 1, 30_000, "the job to start")
    await stopProcess(first, "SIGKILL")

    // No manager runs: list and show say the job is stalled, not that it runs.
    const list = await cli("-d", dataDir, "list")
    expect(list.stdout).toMatch(/once_slow\s+stalled/)
    // What list shows, --status finds.
    const stalled = await cli("-d", dataDir, "list", "--status", "stalled", "--json")
    expect((JSON.parse(stalled.stdout) as Array<{ id: string }>).map((j) => j.id)).toEqual([id])
    expect(list.stdout).toContain('the next worker of type "once_slow"')
    const show = await cli("-d", dataDir, "show", id)
    expect(show.stdout).toMatch(/stalled\s+stalled since/)
    // Its status line says so too, as list does (it said "running").
    expect(show.stdout).toMatch(/^status\s+stalled$/m)

    // The CLI does not know the type: it must not decide to re-queue the job.
    const pause = await cli("-d", dataDir, "pause", id)
    expect(pause.code, pause.stderr).toBe(0)
    expect(pause.stdout).toContain("stalled")
    const resume = await cli("-d", dataDir, "resume", id)
    expect(resume.code, resume.stderr).toBe(0)
    expect(resume.stdout + resume.stderr).not.toContain("it is running")
    expect(resume.stdout).toContain("The next worker of that type resumes it")
    expect(resume.stdout).toContain("add --jobs <module that exports it>")

    const second = await worker(dataDir, { register: ["once_slow"] })
    try {
      const manager = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
      try {
        await waitUntil(async () => (await manager.getJobInfo(id)).status === "failed", 30_000, "the job to be failed")
        const info = await manager.getJobInfo(id)
        expect(info.error).toMatchObject({ _tag: "NotResumable" })
        expect(info.error!.message).toContain("not resumable")
        expect(info.attempts).toBe(1)
      } finally {
        await manager.close()
      }
      await new Promise((r) => setTimeout(r, 500))
      expect(linesOf(file)).toHaveLength(1)
    } finally {
      await stopProcess(second, "SIGTERM")
    }
  })

  it("fails a killed non-resumable job at once when the CLI knows its type, instead of pausing it", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "starts.txt")
    const first = await worker(dataDir, { register: ["once_slow"] })
    const id = await dispatch(dataDir, (m) => m.dispatch(OnceSlowJob, { file }))
    await waitUntil(() => linesOf(file).length === 1, 30_000, "the job to start")
    await stopProcess(first, "SIGKILL")
    const pause = await cli("-d", dataDir, "--jobs", sharedJobsModule, "pause", id)
    expect(pause.code).toBe(2)
    expect(pause.stderr).toContain("failed")
    const resume = await cli("-d", dataDir, "--jobs", sharedJobsModule, "resume", id)
    expect(resume.code).toBe(2)
    const show = await cli("-d", dataDir, "show", id, "--json")
    expect(JSON.parse(show.stdout)).toMatchObject({ status: "failed", error: { _tag: "NotResumable" } })
  })

  it("resumes a stalled resumable job from the CLI: queued again, then run from its checkpoint by the next worker", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const first = await worker(dataDir, { register: ["slow_count"] })
    const id = await dispatch(dataDir, (m) => m.dispatch(SlowCountJob, { n: 20, file, delayMs: 20 }))
    await waitUntil(() => linesOf(file).length >= 5, 30_000, "the job to run")
    await stopProcess(first, "SIGKILL")
    const resume = await cli("-d", dataDir, "--jobs", sharedJobsModule, "resume", id)
    expect(resume.code, resume.stderr).toBe(0)
    expect(resume.stdout).toContain(`Job ${id} is queued`)
    const second = await worker(dataDir, { register: ["slow_count"] })
    try {
      const manager = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
      try {
        expect(await (await manager.handle(id)).result()).toMatchObject({ counted: 20, attempt: 2 })
      } finally {
        await manager.close()
      }
      const items = linesOf(file).map((line) => Number(line.split(" ")[1]))
      expect(new Set(items).size).toBe(20)
      expect(items.length).toBeLessThanOrEqual(21)
      // The log tells the story: dispatched, started, put back in line, resumed from its checkpoint, completed.
      const logs = (await cli("-d", dataDir, "logs", id)).stdout.split("\n").map((l) => l.replace(/^\S+ \S+\s+/, ""))
      expect(logs).toEqual([
        "dispatched",
        "started (attempt 1)",
        "queued (its manager had stopped)",
        expect.stringMatching(/^resumed from checkpoint \d+ \(attempt 2\)$/),
        "completed",
        "",
      ])
    } finally {
      await stopProcess(second, "SIGTERM")
    }
  })
})
