import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { CountJob, WaitJob, WhoRanJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

// Killed after each test even when it times out, so no worker outlives its test.
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL")
})

const startWorker = async (dataDir: string, concurrency = 4): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/worker.ts", dataDir, String(concurrency)], {
    stdio: ["ignore", "pipe", "inherit"],
  })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve())
    child.on("exit", (code) => reject(new Error(`worker exited ${code}`)))
  })
  return child
}

const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise((resolve) => {
    child.on("exit", resolve)
    child.kill(signal)
  })

const lines = (file: string) => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}

describe("two processes on one data dir", () => {
  it("claims each job in exactly one process", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "who.txt")
    const [a, b] = await Promise.all([startWorker(dataDir), startWorker(dataDir)])
    // This process dispatches (and runs, too): three managers race for the same queue.
    const manager = await openManager({ dataDir })
    const handles = []
    try {
      for (let i = 0; i < 300; i++) handles.push(await manager.dispatch(WhoRanJob, { file, ms: 10 }))
      await Promise.all(handles.map((h) => h.result()))
    } finally {
      // Every process is stopped before the runs are counted, so a second run that starts
      // after the first one's result (a late double claim) is counted too.
      await Promise.all([stop(a, "SIGTERM"), stop(b, "SIGTERM")])
    }
    const stored = await manager.listJobs({ name: WhoRanJob.name })
    await manager.close()

    // Each run appends one line before doing anything else: count them per job.
    const runs = lines(file).map((l) => l.split(" ") as [string, string])
    const runsOf = new Map<string, string[]>()
    for (const [id, pid] of runs) runsOf.set(id, [...(runsOf.get(id) ?? []), pid])
    const dispatched = new Set(handles.map((h) => h.id))
    const runTwice = [...runsOf]
      .filter(([, pids]) => pids.length > 1)
      .map(([id, pids]) => `${id} (run ${pids.length} times, by pids ${pids.join(", ")})`)
    expect(runTwice, "jobs run more than once").toEqual([])
    expect(
      handles.filter((h) => !runsOf.has(h.id)).map((h) => h.id),
      "jobs never run",
    ).toEqual([])
    expect(
      [...runsOf.keys()].filter((id) => !dispatched.has(id)),
      "runs of jobs nobody dispatched",
    ).toEqual([])
    // A claim that did not run (or a run the file missed) still counts as a start in the row.
    const notOnce = stored.filter((j) => j.status !== "completed" || j.attempts !== 1)
    expect(
      notOnce.map((j) => `${j.id} ${j.status} after ${j.attempts} starts`),
      "jobs not completed in exactly one start",
    ).toEqual([])
    expect(stored).toHaveLength(300)
    const pids = new Set(runs.map(([, pid]) => pid))
    expect(pids.size).toBeGreaterThanOrEqual(2)
  })

  it("recovers the running jobs of a process that dies while another manager is open", async () => {
    const dataDir = tempDir()
    const effectsFile = join(dataDir, "effects.txt")
    // This manager's only slot is taken before the worker starts, so the job can only run in
    // the worker until the worker dies.
    const manager = await openManager({ dataDir, concurrency: 1 })
    const blocker = await manager.dispatch(WaitJob, {})
    await waitUntil(async () => (await manager.listRunningJobs()).some((j) => j.id === blocker.id))
    const worker = await startWorker(dataDir, 4)
    const handle = await manager.dispatch(CountJob, { n: 40, effectsFile, delayMs: 10 })
    await waitUntil(() => lines(effectsFile).length >= 5, 30_000, "the worker to run the job")
    expect((await manager.listRunningJobs()).map((j) => j.id)).toEqual([blocker.id])
    await stop(worker, "SIGKILL")
    await manager.cancel(blocker.id)
    expect(await handle.result()).toMatchObject({ counted: 40, attempt: 2 })
    const items = lines(effectsFile).map((l) => Number(l.split(" ")[1]))
    expect(new Set(items).size).toBe(40)
  })
})
