/**
 * W2 drain: N noop jobs already stored (by prep.ts, in an earlier process); time from open until
 * all are completed, at concurrency 1 and 8. "Completed" = every job was claimed and no job is
 * live any more (a live job leaves only after the write recording its end committed); checked
 * against the rows afterwards. Also the worst event-loop stall and the process's peak RSS.
 * Floor: claim UPDATE + complete UPDATE per job, each its own transaction, setImmediate between jobs.
 */
import { prepared } from "./prep.js"
import {
  childMain,
  copyDir,
  figure,
  measured,
  nextTurn,
  peakRssMB,
  repeat,
  runChild,
  settledMemoryMB,
  stallMeter,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

interface Args {
  readonly mode: "jobstate" | "floor"
  readonly dir: string
  readonly n: number
  readonly concurrency?: number
}

interface Result {
  readonly perSec: number
  readonly openMs: number
  readonly stallMs: number
  readonly peakRssMB: number
  /** V8 heap in use after the drain, after a full GC. */
  readonly heapAfterMB: number
}

const jobstate = async ({ dir, n, concurrency }: Args): Promise<Result> => {
  const { JobManager } = await import("jobstate")
  const { Noop } = await import("./jobs.js")
  const { jobstateCounts } = await import("./floor.js")
  measured.start()
  const t0 = performance.now()
  const manager = await JobManager.open({ dataDir: dir, jobs: [Noop], concurrency: concurrency ?? 1 })
  const openMs = performance.now() - t0
  const meter = stallMeter()
  await waitUntil(() => manager.stats().claims >= n && manager.stats().running === 0)
  const ms = performance.now() - t0
  const stallMs = meter.stop()
  measured.stop()
  const { heapMB } = await settledMemoryMB()
  await manager.close()
  const counts = jobstateCounts(dir)
  if (counts.completed !== n) throw new Error(`W2: expected ${n} completed, found ${JSON.stringify(counts)}`)
  return { perSec: (n / ms) * 1000, openMs, stallMs, peakRssMB: peakRssMB(), heapAfterMB: heapMB }
}

const floor = async ({ dir, n }: Args): Promise<Result> => {
  const { FloorQueue } = await import("./floor.js")
  const noop = (_params: unknown) => null
  const t0 = performance.now()
  const q = FloorQueue.open(dir)
  const openMs = performance.now() - t0
  const meter = stallMeter()
  for (let job = q.claim(); job !== undefined; job = q.claim()) {
    q.complete(job.seq, noop(job.params))
    await nextTurn()
  }
  const ms = performance.now() - t0
  const stallMs = meter.stop()
  const { heapMB } = await settledMemoryMB()
  const counts = q.counts()
  q.close()
  if (counts.completed !== n) throw new Error(`W2 floor: expected ${n} completed, found ${JSON.stringify(counts)}`)
  return { perSec: (n / ms) * 1000, openMs, stallMs, peakRssMB: peakRssMB(), heapAfterMB: heapMB }
}

childMain(import.meta.url, (args: Args) => (args.mode === "jobstate" ? jobstate(args) : floor(args)))

export default async function w2(b: Bench): Promise<Figure[]> {
  const jsDir = await prepared("jobstate", b.n)
  const floorDir = await prepared("floor", b.n)
  const gc = ["--expose-gc"] // for the heap figure, read after the timed part
  const runs = await repeat(b.runs, async () => ({
    c1: await runChild<Result>(
      "w2-drain.ts",
      { mode: "jobstate", dir: copyDir(jsDir), n: b.n, concurrency: 1 },
      { role: "jobstate", nodeFlags: gc },
    ),
    c8: await runChild<Result>(
      "w2-drain.ts",
      { mode: "jobstate", dir: copyDir(jsDir), n: b.n, concurrency: 8 },
      { role: "jobstate", nodeFlags: gc },
    ),
    floor: await runChild<Result>(
      "w2-drain.ts",
      { mode: "floor", dir: copyDir(floorDir), n: b.n },
      { role: "floor", nodeFlags: gc },
    ),
  }))
  const w = "W2 drain"
  const floorOf = (k: keyof Result) => runs.map((r) => r.floor[k])
  const stallGoal = { text: "≤ 20 ms", test: ({ js }: { js: number }) => js <= 20 }
  return [
    figure(
      { workload: w, name: `drain ${b.n} stored jobs, concurrency 1`, unit: "jobs/s" },
      runs.map((r) => r.c1.perSec),
      floorOf("perSec"),
    ),
    figure(
      { workload: w, name: `drain ${b.n} stored jobs, concurrency 8`, unit: "jobs/s" },
      runs.map((r) => r.c8.perSec),
      floorOf("perSec"),
      { text: "≥ 1.2× floor", test: ({ ratio }) => ratio >= 1.2 },
    ),
    figure(
      { workload: w, name: "open() returns (part of the drain time)", unit: "ms" },
      runs.map((r) => r.c8.openMs),
      floorOf("openMs"),
    ),
    figure(
      { workload: w, name: "longest event-loop stall after open, concurrency 1", unit: "ms" },
      runs.map((r) => r.c1.stallMs),
      floorOf("stallMs"),
      stallGoal,
    ),
    figure(
      { workload: w, name: "longest event-loop stall after open, concurrency 8", unit: "ms" },
      runs.map((r) => r.c8.stallMs),
      floorOf("stallMs"),
      stallGoal,
    ),
    figure(
      { workload: w, name: "peak RSS of the process, concurrency 8", unit: "MB" },
      runs.map((r) => r.c8.peakRssMB),
      floorOf("peakRssMB"),
    ),
    figure(
      { workload: w, name: "V8 heap in use after the drain (after GC), concurrency 8", unit: "MB" },
      runs.map((r) => r.c8.heapAfterMB),
      floorOf("heapAfterMB"),
    ),
  ]
}
