/**
 * W4 progress: 200 jobs × 100 `ctx.progress` reports each (as fast as the job can call it),
 * concurrency 8. Progress calls/s over the whole run (first dispatch → all completed), the
 * progress writes the engine made (`stats().progressWrites`), and whether every job's last
 * report (100/100) is what its row holds afterwards.
 * Floor: one UPDATE per report, each its own transaction (20,000 UPDATEs, timed alone).
 */
import { childMain, figure, measured, repeat, runChild, tempDir, waitUntil, type Bench, type Figure } from "./lib.js"

interface Args {
  readonly mode: "jobstate" | "floor"
  readonly dir: string
  readonly jobs: number
  readonly reports: number
}

interface Result {
  readonly perSec: number
  /** Calls per second of time spent inside the jobs' report loops (floor: the UPDATEs alone). */
  readonly inLoopPerSec: number
  readonly writes: number
  readonly finalPersisted: boolean
}

const jobstate = async ({ dir, jobs, reports }: Args): Promise<Result> => {
  const { Effect, Schema } = await import("effect")
  const Database = (await import("better-sqlite3")).default
  const { defineJob, JobManager, Progress } = await import("jobstate")
  let inLoopMs = 0
  const Chatty = defineJob({
    name: "chatty",
    params: Schema.Struct({ calls: Schema.Number }),
    run: (ctx) =>
      Effect.gen(function* () {
        const t = performance.now()
        for (let i = 1; i <= ctx.params.calls; i++) yield* ctx.progress(Progress.count(i, ctx.params.calls))
        inLoopMs += performance.now() - t
      }),
  })
  const manager = await JobManager.open({ dataDir: dir, jobs: [Chatty], concurrency: 8 })
  measured.start()
  const t0 = performance.now()
  for (let i = 0; i < jobs; i++) await manager.dispatch(Chatty, { calls: reports })
  await waitUntil(() => manager.stats().claims >= jobs && manager.stats().running === 0)
  const ms = performance.now() - t0
  measured.stop()
  const writes = manager.stats().progressWrites
  await manager.close()
  const db = new Database(`${dir}/jobs.db`)
  const rows = db.prepare(`SELECT status, progress, progress_data FROM jobs`).all() as {
    status: string
    progress: number | null
    progress_data: string | null
  }[]
  db.close()
  const finalPersisted =
    rows.length === jobs &&
    rows.every(
      (r) =>
        r.status === "completed" &&
        r.progress === 1 &&
        (JSON.parse(r.progress_data ?? "{}") as { done?: number }).done === reports,
    )
  return {
    perSec: ((jobs * reports) / ms) * 1000,
    inLoopPerSec: ((jobs * reports) / inLoopMs) * 1000,
    writes,
    finalPersisted,
  }
}

const floor = async ({ dir, jobs, reports }: Args): Promise<Result> => {
  const { FloorQueue } = await import("./floor.js")
  const q = FloorQueue.open(dir)
  const seqs: number[] = []
  for (let i = 0; i < jobs; i++) {
    q.enqueue("chatty", { calls: reports })
    seqs.push(q.claim()!.seq)
  }
  const t0 = performance.now()
  for (const seq of seqs) for (let i = 1; i <= reports; i++) q.progress(seq, { _tag: "Count", done: i, total: reports })
  const ms = performance.now() - t0
  q.close()
  const perSec = ((jobs * reports) / ms) * 1000
  return { perSec, inLoopPerSec: perSec, writes: jobs * reports, finalPersisted: true }
}

childMain(import.meta.url, (args: Args) => (args.mode === "jobstate" ? jobstate(args) : floor(args)))

export default async function w4(b: Bench): Promise<Figure[]> {
  const args = { jobs: 200, reports: 100 }
  const runs = await repeat(b.runs, async () => ({
    js: await runChild<Result>("w4-progress.ts", { mode: "jobstate", dir: tempDir(), ...args }, { role: "jobstate" }),
    floor: await runChild<Result>("w4-progress.ts", { mode: "floor", dir: tempDir(), ...args }, { role: "floor" }),
  }))
  const w = "W4 progress"
  const persisted = runs.every((r) => r.js.finalPersisted)
  return [
    figure(
      {
        workload: w,
        name: "progress reports, 200 jobs × 100, concurrency 8",
        unit: "calls/s",
        note: `last value persisted for every job: ${persisted ? "yes" : "NO"}`,
      },
      runs.map((r) => r.js.perSec),
      runs.map((r) => r.floor.perSec),
      { text: "≥ 10× floor, last value persisted", test: ({ ratio }) => ratio >= 10 && persisted },
    ),
    figure(
      {
        workload: w,
        name: "progress reports, counting only time inside the jobs' report loops",
        unit: "calls/s",
        note: "job start/finish excluded",
      },
      runs.map((r) => r.js.inLoopPerSec),
      runs.map((r) => r.floor.inLoopPerSec),
    ),
    figure(
      { workload: w, name: "database writes for 20,000 reports", unit: "writes" },
      runs.map((r) => r.js.writes),
      runs.map((r) => r.floor.writes),
    ),
  ]
}
