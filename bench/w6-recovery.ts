/**
 * W6 recovery: a database with C completed jobs and R jobs left `running` by a SIGKILLed process
 * (100k and 1,000; with --quick scaled by N/10,000). Time from the start of `open` to the first
 * resumed job's `run` (attempt 2), and until all R are completed; the recovering manager uses
 * concurrency R, as the killed one did.
 * Made by: "seed" runs one real `long` job to completion, then copies its row C times with SQL;
 * "crash" dispatches R long checkpointing jobs at concurrency R and is SIGKILLed once every one
 * has committed a checkpoint. The WAL is then checkpointed into the db file (so that every run
 * starts from a copy of one file); the rows, including the killed manager's lease, are untouched.
 */
import Database from "better-sqlite3"
import { join } from "node:path"
import {
  childMain,
  copyDir,
  figure,
  measured,
  repeat,
  runChild,
  stallMeter,
  tempDir,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

interface Args {
  readonly mode: "seed" | "crash" | "recover"
  readonly dir: string
  readonly completed: number
  readonly running: number
}

/** `steps` checkpoints, `stepMs` apart; records when a resumed attempt starts. */
const longJob = async (hooks: { started: (attempt: number) => void; checkpointed: (id: string) => void }) => {
  const { Effect, Schema } = await import("effect")
  const { defineJob } = await import("jobstate")
  return defineJob({
    name: "long",
    params: Schema.Struct({ steps: Schema.Number, stepMs: Schema.Number }),
    state: Schema.Struct({ done: Schema.Number }),
    initialState: () => ({ done: 0 }),
    output: Schema.Struct({ done: Schema.Number }),
    run: (ctx) =>
      Effect.gen(function* () {
        hooks.started(ctx.attempt)
        for (let i = ctx.state.done; i < ctx.params.steps; i++) {
          yield* Effect.sleep(ctx.params.stepMs)
          yield* ctx.checkpoint({ done: i + 1 })
          hooks.checkpointed(ctx.id)
        }
        return { done: ctx.params.steps }
      }),
  })
}

const seed = async ({ dir, completed }: Args) => {
  const { JobManager } = await import("jobstate")
  const Long = await longJob({ started: () => {}, checkpointed: () => {} })
  const manager = await JobManager.open({ dataDir: dir, jobs: [Long] })
  await (await manager.dispatch(Long, { steps: 3, stepMs: 1 })).result()
  await manager.close()
  const db = new Database(join(dir, "jobs.db"))
  const columns = (
    db.prepare(`SELECT name FROM pragma_table_info('jobs') WHERE name NOT IN ('seq', 'id')`).all() as { name: string }[]
  )
    .map((c) => c.name)
    .join(", ")
  db.prepare(
    `WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < ?)
     INSERT INTO jobs (id, ${columns}) SELECT lower(hex(randomblob(16))), ${columns} FROM k, (SELECT * FROM jobs LIMIT 1)`,
  ).run(completed - 1)
  db.close()
  return {}
}

const crash = async ({ dir, running }: Args) => {
  const { JobManager } = await import("jobstate")
  const checkpointed = new Set<string>()
  const Long = await longJob({ started: () => {}, checkpointed: (id) => checkpointed.add(id) })
  const manager = await JobManager.open({ dataDir: dir, jobs: [Long], concurrency: running })
  for (let i = 0; i < running; i++) await manager.dispatch(Long, { steps: 10, stepMs: 50 })
  await waitUntil(() => checkpointed.size >= running && manager.stats().running === running)
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
  await new Promise(() => {}) // SIGKILLed by the parent
  return {}
}

const recover = async ({ dir, completed, running }: Args) => {
  const { JobManager } = await import("jobstate")
  const { jobstateCounts } = await import("./floor.js")
  let firstResumed: number | undefined
  const Long = await longJob({
    started: (attempt) => void (attempt > 1 && (firstResumed ??= performance.now())),
    checkpointed: () => {},
  })
  measured.start()
  const meter = stallMeter()
  const t0 = performance.now()
  const manager = await JobManager.open({ dataDir: dir, jobs: [Long], concurrency: running })
  const openMs = performance.now() - t0
  await waitUntil(() => firstResumed !== undefined)
  await waitUntil(() => manager.stats().claims >= running && manager.stats().running === 0)
  const allMs = performance.now() - t0
  const stallMs = meter.stop()
  measured.stop()
  await manager.close()
  const counts = jobstateCounts(dir)
  if (counts.completed !== completed + running)
    throw new Error(`W6: expected ${completed + running} completed, found ${JSON.stringify(counts)}`)
  return { openMs, firstMs: firstResumed! - t0, allMs, stallMs }
}

childMain(import.meta.url, (args: Args) =>
  args.mode === "seed" ? seed(args) : args.mode === "crash" ? crash(args) : recover(args),
)

export default async function w6(b: Bench): Promise<Figure[]> {
  const scale = b.quick ? b.n / 10_000 : 1
  const sizes = { completed: Math.round(100_000 * scale), running: Math.round(1_000 * scale) }
  const dir = tempDir("jobstate-bench-prep-w6-")
  await runChild("w6-recovery.ts", { mode: "seed", dir, ...sizes }, { role: "prep" })
  await runChild(
    "w6-recovery.ts",
    { mode: "crash", dir, ...sizes },
    { role: "prep", onLine: (line) => line.includes('"ready"') },
  )
  const db = new Database(join(dir, "jobs.db"))
  const left = db.prepare(`SELECT count(*) AS n FROM jobs WHERE status = 'running'`).get() as { n: number }
  db.close() // the last connection: checkpoints the WAL into the db file
  if (left.n !== sizes.running) throw new Error(`W6: ${left.n} jobs left running, expected ${sizes.running}`)
  type R = { openMs: number; firstMs: number; allMs: number; stallMs: number }
  const runs = await repeat(b.runs, () =>
    runChild<R>("w6-recovery.ts", { mode: "recover", dir: copyDir(dir), ...sizes }, { role: "jobstate" }),
  )
  const w = "W6 recovery"
  const what = `${sizes.completed.toLocaleString("en-US")} completed + ${sizes.running.toLocaleString("en-US")} left running`
  return [
    figure(
      { workload: w, name: `open() returns (${what})`, unit: "ms" },
      runs.map((r) => r.openMs),
    ),
    figure(
      { workload: w, name: "open → first resumed job running", unit: "ms" },
      runs.map((r) => r.firstMs),
      undefined,
      {
        text: "≤ 200 ms",
        test: ({ js }) => js <= 200,
      },
    ),
    figure(
      {
        workload: w,
        name: `open → all ${sizes.running.toLocaleString("en-US")} resumed jobs completed`,
        unit: "ms",
        note: "each had ~9 × 50 ms steps left",
      },
      runs.map((r) => r.allMs),
    ),
    figure(
      { workload: w, name: "longest event-loop stall (includes open)", unit: "ms" },
      runs.map((r) => r.stallMs),
    ),
  ]
}
