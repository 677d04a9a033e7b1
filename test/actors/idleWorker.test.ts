import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { openManager } from "../fixtures/openManager.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { semanticsJobs, StampJob } from "../fixtures/semanticsJobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

describe("a worker process", () => {
  it("stays up while idle (a manager that runs jobs holds it open until close), runs a job dispatched 2 s later, and exits 0 on SIGTERM", async () => {
    const dataDir = tempDir()
    const worker = await startProcess(join(import.meta.dirname, "../fixtures/idleWorker.ts"), [dataDir])
    let output = ""
    worker.stdout!.on("data", (d: Buffer) => (output += d.toString()))
    await new Promise((r) => setTimeout(r, 2_000))
    expect(worker.exitCode, "the idle worker exited").toBeNull()
    const producer = await openManager({ dataDir, jobs: semanticsJobs, concurrency: 0 })
    const handle = await producer.dispatch(StampJob, {})
    await handle.result()
    await waitUntil(() => output.includes(`${handle.id} completed`), 20_000, "the worker to say it completed the job")
    const exited = new Promise<number | null>((resolve) => worker.on("exit", (code) => resolve(code)))
    await stopProcess(worker, "SIGTERM")
    expect(await exited).toBe(0)
  })
})
