/**
 * W3 mixed: a producer in the same process dispatches N jobs, yielding (setImmediate) after each,
 * while the manager runs them at concurrency 8. Jobs/s from the first dispatch until all are
 * completed, and dispatch→start latency: `performance.now()` at dispatch travels in the params
 * and is subtracted on the first line of `run`.
 * Floor: the same producer INSERTs; one consumer loop claims, runs, completes, setImmediate.
 */
import {
  childMain,
  figure,
  measured,
  nextTurn,
  percentile,
  repeat,
  runChild,
  sortNumbers,
  stallMeter,
  tempDir,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

interface Args {
  readonly mode: "jobstate" | "floor"
  readonly dir: string
  readonly n: number
}

interface Result {
  readonly perSec: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly stallMs: number
}

/** `spans` = [dispatched, started] per job, in `performance.now()` ms. */
const summary = (n: number, ms: number, spans: Array<readonly [number, number]>, stallMs: number): Result => {
  if (spans.length !== n) throw new Error(`W3: ${spans.length} of ${n} jobs started`)
  const latencies = spans.map(([a, b]) => b - a)
  const sorted = sortNumbers(latencies)
  measured.slow(spans.filter(([a, b]) => b - a >= percentile(sorted, 99)))
  return {
    perSec: (n / ms) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[n - 1]!,
    stallMs,
  }
}

const jobstate = async ({ dir, n }: Args): Promise<Result> => {
  const { Effect, Schema } = await import("effect")
  const { defineJob, JobManager } = await import("jobstate")
  const spans: Array<readonly [number, number]> = []
  const Timed = defineJob({
    name: "timed",
    params: Schema.Struct({ t: Schema.Number }),
    run: (ctx) => Effect.sync(() => void spans.push([ctx.params.t, performance.now()])),
  })
  const manager = await JobManager.open({ dataDir: dir, jobs: [Timed], concurrency: 8 })
  measured.start()
  const meter = stallMeter()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    await manager.dispatch(Timed, { t: performance.now() })
    await nextTurn()
  }
  await waitUntil(() => manager.stats().claims >= n && manager.stats().running === 0)
  const ms = performance.now() - t0
  const stallMs = meter.stop()
  measured.stop()
  await manager.close()
  return summary(n, ms, spans, stallMs)
}

const floor = async ({ dir, n }: Args): Promise<Result> => {
  const { FloorQueue } = await import("./floor.js")
  const q = FloorQueue.open(dir)
  const spans: Array<readonly [number, number]> = []
  let wake: (() => void) | undefined
  const consumer = async () => {
    while (spans.length < n) {
      const job = q.claim()
      if (job === undefined) {
        await new Promise<void>((r) => (wake = r))
        continue
      }
      spans.push([(job.params as { t: number }).t, performance.now()])
      q.complete(job.seq, null)
      await nextTurn()
    }
  }
  const meter = stallMeter()
  const t0 = performance.now()
  const consumed = consumer()
  for (let i = 0; i < n; i++) {
    q.enqueue("timed", { t: performance.now() })
    wake?.()
    wake = undefined
    await nextTurn()
  }
  await consumed
  const ms = performance.now() - t0
  const stallMs = meter.stop()
  q.close()
  return summary(n, ms, spans, stallMs)
}

childMain(import.meta.url, (args: Args) => (args.mode === "jobstate" ? jobstate(args) : floor(args)))

export default async function w3(b: Bench): Promise<Figure[]> {
  const runs = await repeat(b.runs, async () => ({
    js: await runChild<Result>("w3-mixed.ts", { mode: "jobstate", dir: tempDir(), n: b.n }, { role: "jobstate" }),
    floor: await runChild<Result>("w3-mixed.ts", { mode: "floor", dir: tempDir(), n: b.n }, { role: "floor" }),
  }))
  const w = "W3 mixed"
  const of = (k: keyof Result) => [runs.map((r) => r.js[k]), runs.map((r) => r.floor[k])] as const
  return [
    figure({ workload: w, name: `produce + run ${b.n} jobs, concurrency 8`, unit: "jobs/s" }, ...of("perSec")),
    figure({ workload: w, name: "dispatch→start latency p50", unit: "ms" }, ...of("p50")),
    figure({ workload: w, name: "dispatch→start latency p99", unit: "ms" }, ...of("p99"), {
      text: "≤ 1 ms",
      test: ({ js }) => js <= 1,
    }),
    figure({ workload: w, name: "dispatch→start latency max", unit: "ms" }, ...of("max")),
    figure({ workload: w, name: "longest event-loop stall", unit: "ms" }, ...of("stallMs")),
  ]
}
