/**
 * W1 enqueue: N awaited `dispatch` calls with nothing running.
 * jobstate: the manager (concurrency 1) first runs one `NoopBlocker` that holds the only slot,
 * so the N dispatched noop jobs are only stored. Floor: N INSERTs, each its own transaction.
 */
import { childMain, figure, measured, repeat, runChild, tempDir, waitUntil, type Bench, type Figure } from "./lib.js"

interface Args {
  readonly mode: "jobstate" | "floor"
  readonly dir: string
  readonly n: number
}

const jobstate = async ({ dir, n }: Args) => {
  const { JobManager } = await import("jobstate")
  const { NoopBlocker } = await import("./jobs.js")
  const manager = await JobManager.open({ dataDir: dir, jobs: [NoopBlocker], concurrency: 1 })
  await manager.dispatch(NoopBlocker, { i: -1 })
  await waitUntil(() => manager.stats().running === 1)
  measured.start()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await manager.dispatch(NoopBlocker, { i })
  const ms = performance.now() - t0
  measured.stop()
  const stats = manager.stats()
  await manager.close()
  if (stats.claims !== 1) throw new Error(`W1: ${stats.claims} jobs ran, expected only the blocker`)
  return { ms, perSec: (n / ms) * 1000 }
}

const floor = async ({ dir, n }: Args) => {
  const { FloorQueue } = await import("./floor.js")
  const q = FloorQueue.open(dir)
  const enqueue = async (i: number) => q.enqueue("noop", { i })
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await enqueue(i)
  const ms = performance.now() - t0
  q.close()
  return { ms, perSec: (n / ms) * 1000 }
}

childMain(import.meta.url, (args: Args) => (args.mode === "jobstate" ? jobstate(args) : floor(args)))

export default async function w1(b: Bench): Promise<Figure[]> {
  const runs = await repeat(b.runs, async () => ({
    js: await runChild<{ perSec: number }>(
      "w1-enqueue.ts",
      { mode: "jobstate", dir: tempDir(), n: b.n },
      { role: "jobstate" },
    ),
    floor: await runChild<{ perSec: number }>(
      "w1-enqueue.ts",
      { mode: "floor", dir: tempDir(), n: b.n },
      { role: "floor" },
    ),
  }))
  return [
    figure(
      { workload: "W1 enqueue", name: `dispatch, ${b.n} jobs, each awaited`, unit: "jobs/s" },
      runs.map((r) => r.js.perSec),
      runs.map((r) => r.floor.perSec),
      { text: "≥ 0.8× floor", test: ({ ratio }) => ratio >= 0.8 },
    ),
  ]
}
