import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { linesOf, startProcess, stopProcess } from "../fixtures/processes.js"
import { BetaJob, SlowCountJob, sharedJobs } from "../fixtures/sharedJobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, root, startCli } from "./cli.js"

const sharedJobsModule = join(root, "test/fixtures/sharedJobs.ts")

const queueBeta = async (dataDir: string, file: string) => {
  const producer = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
  try {
    return (await producer.dispatch(BetaJob, { file })).id
  } finally {
    await producer.close()
  }
}

describe("what a CLI process runs", () => {
  it("`run` runs the job it dispatched and nothing else", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "runs.txt")
    const beta = await queueBeta(dataDir, file)
    const run = await cli("-d", dataDir, "--jobs", sharedJobsModule, "run", "alpha", "-p", JSON.stringify({ file }))
    expect(run.code, run.stderr).toBe(0)
    expect(linesOf(file).map((l) => l.split(" ")[0])).toEqual(["alpha"])
    const show = JSON.parse((await cli("-d", dataDir, "show", beta, "--json")).stdout)
    // Not claimed, so not left "paused (by shutdown)" either.
    expect(show).toMatchObject({ status: "queued", attempts: 0, pausedBy: null })
  })

  it("`worker --types` runs only the types it is given", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "runs.txt")
    const beta = await queueBeta(dataDir, file)
    const producer = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
    const alpha = await producer.dispatchByName("alpha", { file })
    await producer.close()
    const worker = startCli(["-d", dataDir, "--jobs", sharedJobsModule, "worker", "--types", "alpha"])
    try {
      await waitUntil(() => linesOf(file).length >= 1, 30_000, "the worker to run alpha")
      await new Promise((r) => setTimeout(r, 500))
      expect(linesOf(file).map((l) => l.split(" ")[1])).toEqual([alpha.id])
      const list = await cli("-d", dataDir, "list")
      expect(list.stdout).toMatch(new RegExp(`${beta}\\s+beta\\s+waiting`))
    } finally {
      worker.child.kill("SIGTERM")
      await worker.exited
    }
  })

  it("`worker` logs the jobs it recovers from a dead process, and what it did with them", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const first = await startProcess("test/fixtures/typedWorker.ts", [
      dataDir,
      JSON.stringify({ register: ["slow_count"] }),
    ])
    const producer = await JobManager.open({ dataDir, jobs: sharedJobs, concurrency: 0 })
    const job = await producer.dispatch(SlowCountJob, { n: 30, file, delayMs: 20 })
    await producer.close()
    await waitUntil(() => linesOf(file).length >= 3, 30_000, "the job to run")
    await stopProcess(first, "SIGKILL")
    const worker = startCli(["-d", dataDir, "--jobs", sharedJobsModule, "worker", "--drain"])
    const { code, stdout } = await worker.exited
    expect(code).toBe(0)
    expect(stdout).toMatch(
      new RegExp(
        `slow_count ${job.id}: recovered \\(its manager \\S+ stopped \\(process gone\\)\\); queued to resume from checkpoint \\d+`,
      ),
    )
  })

  it("`worker --types` refuses a type it does not know", async () => {
    const result = await cli("-d", tempDir(), "worker", "--types", "nope")
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('Unknown job type "nope"')
  })
})
