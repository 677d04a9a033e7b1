/**
 * W9 machine jobs (`defineMachineJob`), on SQLite and on PostgreSQL. Three children per store:
 *
 * transitions: concurrency 8. A counter machine whose one state invokes a `fromPromise` step that
 *   resolves at once; its `onDone` re-enters the state (count + 1) until it has stepped `steps`
 *   times, then goes to a final state. Each step's end is one macrostep, so one committed
 *   checkpoint: a job commits 1 (initial) + `steps` transitions. (`always` loops or raised events
 *   would all fall in one macrostep: one checkpoint.) Beside it, a plain `defineJob` async job
 *   awaiting `ctx.checkpoint` 1 + `steps` times. Both in the same process, in ABBA order
 *   (machine, plain, plain, machine) after an untimed warm-up; each round dispatches all its jobs
 *   and waits for every result. Checkpoints/s = `stats().checkpoints` made in the round (checked
 *   to be exactly jobs × (1 + steps)) over first dispatch → last result; CPU µs per checkpoint
 *   from `process.cpuUsage` over the same rounds; checkpoints per transaction from
 *   `stats().transactions`. The ratio machine/plain is the machine interpreter's cost per
 *   persisted transition. A warm-up round that commits nothing for 5 s counts the counters left
 *   resting (queued, awaiting events) with their step's result unapplied: they never finish, so
 *   then only the plain job is measured (the "hung" figure says so).
 *
 * latency: send→applied. "Resting": jobs that rest (queued, no slot) in `waiting` until GO; per
 *   sample, `manager.send` GO to the next one, and time until the machine's own action on that
 *   transition runs. The engine runs a machine's actions only after the transition's checkpoint
 *   is committed (src/actors/machineRun.ts `advance`), so the action is the first moment the
 *   transition is known committed, in-process, with no polling and no extra reads (handles and
 *   `manager.events` carry statuses, not transitions; the @internal `subscribeJob` hears
 *   committed checkpoints; polling getJobInfo would add reads and its period).
 *   The path timed: send (one transaction) → claim → inbox read → checkpoint commit. Samples are
 *   sequential: each job is dispatched and comes to rest just before its sample (so it is the
 *   only one resting), and the next once it has completed and nothing is live.
 *   "Live": one job that never rests (a parallel region holds a step that never ends), looping
 *   on GO: the same send, read and commit without the claim.
 *
 * resting: `n` machine jobs dispatched (concurrency 8), each comes to rest in `waiting`. Time
 *   from first dispatch until every one has run its initial transition and nothing is live;
 *   then the stored rows are checked (all queued, all awaiting events). RSS and V8 heap after a
 *   full GC (--expose-gc) before (after open and an untimed warm-up of 100 such jobs through
 *   rest and GO) and after. Meanwhile a plain noop job runs: dispatch → result, median and
 *   worst of 20, before the jobs rest and while they rest; send→applied for 50 of them, one at a
 *   time, while the others rest. Then each of the others is sent GO (awaited sends, one after
 *   another) and runs to completion: sends/s, and jobs/s from first send until every job has
 *   applied its event and nothing is live (checked: all `n` completed); RSS and heap again
 *   after GC.
 *
 * PostgreSQL: each child makes a database of its own on BENCH_PG_URL (default: the local server,
 * trust auth, user postgres) and drops it after. If the server cannot be reached, the
 * PostgreSQL figures are left out (said on stderr).
 */
import { randomBytes } from "node:crypto"
import {
  childMain,
  figure,
  measured,
  percentile,
  repeat,
  runChild,
  settledMemoryMB,
  sortNumbers,
  tempDir,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

type Store = "sqlite" | "postgres"

interface Args {
  readonly mode: "transitions" | "latency" | "resting"
  readonly store: Store
  readonly dir: string
  readonly n: number
}

const serverUrl = () =>
  process.env.BENCH_PG_URL ?? process.env.JOBSTATE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

/** A fresh database for this child, and a function that drops it. */
const pgDatabase = async (): Promise<{ url: string; drop: () => Promise<void> }> => {
  const pg = (await import("pg")).default
  const name = `jobstate_bench_w9_${process.pid}_${randomBytes(3).toString("hex")}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 5_000 })
    client.on("error", () => undefined)
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl())
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** The job types of this workload; `applied` hears each committed GO transition's machine action. */
const jobTypes = async (hooks: { entered: (jobId: string) => void; applied: (jobId: string, i: number) => void }) => {
  const { Effect, Schema } = await import("effect")
  const { assign, fromPromise, setup } = await import("xstate")
  const { defineJob, defineMachineJob } = await import("jobstate")

  const StepParams = Schema.Struct({ steps: Schema.Number })
  const Counter = defineMachineJob({
    name: "w9_counter",
    params: StepParams,
    output: Schema.Number,
    machine: setup({
      types: {} as {
        context: { n: number; steps: number }
        input: { params: typeof StepParams.Type; jobId: string }
      },
      actors: { step: fromPromise(async () => undefined) },
      guards: { more: ({ context }) => context.n + 1 < context.steps },
    }).createMachine({
      id: "counter",
      context: ({ input }) => ({ n: 0, steps: input.params.steps }),
      initial: "stepping",
      states: {
        stepping: {
          invoke: {
            src: "step",
            onDone: [
              {
                guard: "more",
                target: "stepping",
                reenter: true,
                actions: assign({ n: ({ context }) => context.n + 1 }),
              },
              { target: "done", actions: assign({ n: ({ context }) => context.n + 1 }) },
            ],
          },
        },
        done: { type: "final" },
      },
      output: ({ context }) => context.n,
    }),
  })

  /** Checkpoints 1 + `steps` times, as the counter machine commits 1 + `steps` transitions. */
  const Plain = defineJob({
    name: "w9_plain",
    params: StepParams,
    state: Schema.Struct({ n: Schema.Number, steps: Schema.Number }),
    initialState: (p) => ({ n: 0, steps: p.steps }),
    output: Schema.Number,
    run: async (ctx) => {
      for (let n = 0; n <= ctx.params.steps; n++) await ctx.checkpoint({ n, steps: ctx.params.steps })
      return ctx.params.steps
    },
  })

  const Go = Schema.Struct({ type: Schema.Literal("GO"), i: Schema.Number })
  const machineTypes = {} as {
    context: { jobId: string }
    input: { params: Record<string, never>; jobId: string }
    events: typeof Go.Type
  }
  /** Rests in `waiting` until GO, then ends. */
  const Waiter = defineMachineJob({
    name: "w9_waiter",
    params: Schema.Struct({}),
    events: Go,
    machine: setup({
      types: machineTypes,
      actions: {
        entered: ({ context }) => hooks.entered(context.jobId),
        applied: ({ context, event }) => hooks.applied(context.jobId, event.i),
      },
    }).createMachine({
      id: "waiter",
      context: ({ input }) => ({ jobId: input.jobId }),
      initial: "waiting",
      states: {
        waiting: { entry: "entered", on: { GO: { target: "done", actions: "applied" } } },
        done: { type: "final" },
      },
    }),
  })

  /** Never rests: a parallel region holds a step that ends only when aborted. Loops on GO. */
  const Holder = defineMachineJob({
    name: "w9_holder",
    params: Schema.Struct({}),
    events: Go,
    machine: setup({
      types: machineTypes,
      actors: {
        forever: fromPromise<void>(
          ({ signal }) =>
            new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
        ),
      },
      actions: { applied: ({ context, event }) => hooks.applied(context.jobId, event.i) },
    }).createMachine({
      id: "holder",
      context: ({ input }) => ({ jobId: input.jobId }),
      type: "parallel",
      states: {
        hold: { invoke: { src: "forever" } },
        main: {
          initial: "waiting",
          states: { waiting: { on: { GO: { target: "waiting", reenter: true, actions: "applied" } } } },
        },
      },
    }),
  })

  const Noop = defineJob({ name: "w9_noop", params: Schema.Struct({}), run: () => Effect.void })
  return { Counter, Plain, Waiter, Holder, Noop }
}

/** Opens a manager on the store; `close` closes it and drops a PostgreSQL database. */
const open = async (store: Store, dir: string, jobs: ReadonlyArray<unknown>, concurrency = 8) => {
  const { JobManager } = await import("jobstate")
  const pg = store === "postgres" ? await pgDatabase() : undefined
  const manager = await JobManager.open({
    dataDir: dir,
    ...(pg === undefined ? {} : { databaseUrl: pg.url }),
    jobs: jobs as never,
    concurrency,
  })
  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= manager.close().then(() => pg?.drop())
    return closed
  }
  opened.push(close)
  return { manager, close }
}

/** What `open` opened: closed (a database dropped) when the child ends, also when it fails. */
const opened: Array<() => Promise<void>> = []

// ---------------------------------------------------------------- transitions

interface TransitionsResult {
  /** Absent when the counter machines hung (`hung`): then only the plain job is measured. */
  readonly machine?: { readonly perSec: number; readonly cpuUs: number; readonly perTx: number }
  readonly plain: { readonly perSec: number; readonly cpuUs: number; readonly perTx: number }
  /** Warm-up counter machines that came to rest with a step's result unapplied, and stayed. */
  readonly hung: number
}

const transitions = async ({ store, dir, n }: Args): Promise<TransitionsResult> => {
  const types = await jobTypes({ entered: () => {}, applied: () => {} })
  const { manager, close } = await open(store, dir, [types.Counter, types.Plain])
  const steps = 100
  const jobs = Math.max(8, Math.round(n / steps))
  /** Resolves when no checkpoint has been committed for `ms`; `stop` ends the watch. */
  const stallWatch = (ms: number) => {
    let timer: ReturnType<typeof setInterval> | undefined
    const stalled = new Promise<"stalled">((resolve) => {
      let seen = manager.stats().checkpoints
      let quietSince = performance.now()
      timer = setInterval(() => {
        const now = manager.stats().checkpoints
        if (now !== seen) [seen, quietSince] = [now, performance.now()]
        else if (performance.now() - quietSince > ms) resolve("stalled")
      }, 100)
    })
    return { stalled, stop: () => clearInterval(timer) }
  }
  const round = async (kind: "machine" | "plain", count: number, stepsEach: number) => {
    const job = kind === "plain" ? types.Plain : types.Counter
    const before = manager.stats()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const handles = []
    for (let i = 0; i < count; i++)
      handles.push(await manager.dispatch(job as typeof types.Plain, { steps: stepsEach }))
    const watch = stallWatch(5_000)
    const outputs = await Promise.race([Promise.all(handles.map((h) => h.result())), watch.stalled])
    watch.stop()
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const after = manager.stats()
    const checkpoints = after.checkpoints - before.checkpoints
    if (outputs === "stalled") {
      const resting = await manager.listJobs({ name: job.name, status: "queued" })
      return { hung: resting.filter((j) => j.awaitingEvents).length, ms, checkpoints, cpuUs: 0, transactions: 0 }
    }
    if (checkpoints !== count * (1 + stepsEach) || outputs.some((o) => o !== stepsEach))
      throw new Error(`W9 ${kind}: ${checkpoints} checkpoints for ${count} × (1 + ${stepsEach}), outputs ${outputs}`)
    return {
      hung: 0,
      ms,
      checkpoints,
      cpuUs: cpu.user + cpu.system,
      transactions: after.transactions - before.transactions,
    }
  }
  type Round = Awaited<ReturnType<typeof round>>
  const figures = (a: Round, b: Round) => ({
    perSec: ((a.checkpoints + b.checkpoints) / (a.ms + b.ms)) * 1000,
    cpuUs: (a.cpuUs + b.cpuUs) / (a.checkpoints + b.checkpoints),
    perTx: (a.checkpoints + b.checkpoints) / (a.transactions + b.transactions),
  })
  // Warm-up. A counter whose step ends while the job reads its inbox comes to rest with the
  // step's result unapplied, and stays (seen on PostgreSQL): then only the plain job is measured.
  const { hung } = await round("machine", 8, 20)
  if (hung > 0) process.stderr.write(`\nW9 ${store}: ${hung} of 8 counter machines hung, resting after a step\n`)
  await round("plain", 8, 20)
  measured.start()
  const m1 = hung > 0 ? undefined : await round("machine", jobs, steps)
  const p1 = await round("plain", jobs, steps)
  const p2 = await round("plain", jobs, steps)
  const m2 = hung > 0 ? undefined : await round("machine", jobs, steps)
  measured.stop()
  await close()
  if ((m1?.hung ?? 0) + (m2?.hung ?? 0) > 0) throw new Error(`W9 ${store}: machine jobs hung in the timed rounds`)
  return {
    ...(m1 === undefined || m2 === undefined ? {} : { machine: figures(m1, m2) }),
    plain: figures(p1, p2),
    hung,
  }
}

// ---------------------------------------------------------------- latency

interface LatencyResult {
  readonly restingP50: number
  readonly restingP99: number
  readonly restingMax: number
  /** send() resolving: the event stored. */
  readonly storedP50: number
  readonly liveP50: number
  readonly liveP99: number
  readonly liveMax: number
  readonly samples: number
}

const latency = async ({ store, dir, n }: Args): Promise<LatencyResult> => {
  const samples = n
  let entered = 0
  const waiting = new Map<string, () => void>()
  const types = await jobTypes({
    entered: () => void entered++,
    applied: (jobId) => {
      const resolve = waiting.get(jobId)
      waiting.delete(jobId)
      resolve?.()
    },
  })
  const { manager, close } = await open(store, dir, [types.Waiter, types.Holder])
  const appliedTo = (jobId: string) => new Promise<void>((resolve) => waiting.set(jobId, resolve))

  // Resting: every sample its own job, the only one resting (every claim reads past the jobs
  // that rest: see `resting`, where N rest).
  const resting: number[] = []
  const stored: number[] = []
  const slow: Array<[number, number]> = []
  measured.start()
  for (let i = 0; i < samples + 20; i++) {
    const handle = await manager.dispatch(types.Waiter, {})
    await waitUntil(() => entered === i + 1 && manager.stats().running === 0)
    const applied = appliedTo(handle.id)
    const t0 = performance.now()
    await manager.send(handle.id, { type: "GO", i })
    const t1 = performance.now()
    await applied
    const t2 = performance.now()
    await handle.result()
    await waitUntil(() => manager.stats().running === 0)
    if (i < 20) continue // warm-up
    stored.push(t1 - t0)
    resting.push(t2 - t0)
    slow.push([t0, t2])
  }

  // Live: one job holding its slot, waiting in `waiting`.
  const holder = await manager.dispatch(types.Holder, {})
  await waitUntil(() => manager.stats().running === 1)
  const live: number[] = []
  for (let i = 0; i < samples + 20; i++) {
    const applied = appliedTo(holder.id)
    const t0 = performance.now()
    await manager.send(holder.id, { type: "GO", i })
    await applied
    if (i >= 20) live.push(performance.now() - t0)
  }
  measured.stop()
  measured.slow(slow.sort((a, b) => b[1] - b[0] - (a[1] - a[0])).slice(0, 10))
  await manager.cancel(holder.id)
  await close()
  const r = sortNumbers(resting)
  const s = sortNumbers(stored)
  const l = sortNumbers(live)
  return {
    restingP50: percentile(r, 50),
    restingP99: percentile(r, 99),
    restingMax: r[r.length - 1]!,
    storedP50: percentile(s, 50),
    liveP50: percentile(l, 50),
    liveP99: percentile(l, 99),
    liveMax: l[l.length - 1]!,
    samples,
  }
}

// ---------------------------------------------------------------- resting

interface RestingResult {
  readonly n: number
  readonly restMs: number
  readonly rssBeforeMB: number
  readonly rssAfterMB: number
  readonly heapBeforeMB: number
  readonly heapAfterMB: number
  readonly liveWhileResting: number
  readonly plainBeforeP50: number
  readonly plainBeforeMax: number
  readonly plainWhileP50: number
  readonly plainWhileMax: number
  /** send→applied of 50 of them, one at a time, while the others rest. */
  readonly appliedWhileP50: number
  readonly appliedWhileMax: number
  readonly sendsPerSec: number
  readonly drainPerSec: number
  /** After the drain (every job completed), after GC. */
  readonly rssDrainedMB: number
  readonly heapDrainedMB: number
}

const resting = async ({ store, dir, n }: Args): Promise<RestingResult> => {
  let entered = 0
  let applied = 0
  const waiting = new Map<string, () => void>()
  const types = await jobTypes({
    entered: () => void entered++,
    applied: (jobId) => {
      applied++
      waiting.get(jobId)?.()
      waiting.delete(jobId)
    },
  })
  const { manager, close } = await open(store, dir, [types.Waiter, types.Noop])
  const countOf = async (name: string, status: string) =>
    (await manager.countJobs()).find((c) => c.name === name && c.status === status)?.count ?? 0
  const restAll = async (count: number) => {
    const ids: string[] = []
    const target = entered + count
    for (let i = 0; i < count; i++) ids.push((await manager.dispatch(types.Waiter, {})).id)
    await waitUntil(() => entered === target && manager.stats().running === 0, 1, 600_000)
    return ids
  }
  const drainAll = async (ids: ReadonlyArray<string>) => {
    const target = applied + ids.length
    const t0 = performance.now()
    for (let i = 0; i < ids.length; i++) await manager.send(ids[i]!, { type: "GO", i })
    const sent = performance.now()
    await waitUntil(() => applied === target && manager.stats().running === 0, 1, 600_000)
    return { sendMs: sent - t0, ms: performance.now() - t0 }
  }
  const plainJobs = async () => {
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now()
      await (await manager.dispatch(types.Noop, {})).result()
      times.push(performance.now() - t0)
    }
    const sorted = sortNumbers(times)
    return { p50: percentile(sorted, 50), max: sorted[sorted.length - 1]! }
  }

  // Warm-up: the code paths run (JIT, statements) before the "before" figure.
  await drainAll(await restAll(100))
  const plainBefore = await plainJobs()
  const before = await settledMemoryMB()

  measured.start()
  const t0 = performance.now()
  const ids = await restAll(n)
  const restMs = performance.now() - t0
  measured.stop()
  const liveWhileResting = manager.stats().running
  const queued = (await manager.listJobs({ name: "w9_waiter", status: "queued", limit: n + 1 })).filter(
    (j) => j.awaitingEvents,
  ).length
  if (queued !== n) throw new Error(`W9 resting: ${queued} of ${n} jobs stored queued awaiting events`)
  const after = await settledMemoryMB()
  const plainWhile = await plainJobs()
  // send→applied while they rest: the first 50, one at a time.
  const latencies: number[] = []
  for (const id of ids.slice(0, 50)) {
    const done = new Promise<void>((resolve) => waiting.set(id, resolve))
    const t = performance.now()
    await manager.send(id, { type: "GO", i: -1 })
    await done
    latencies.push(performance.now() - t)
    await waitUntil(() => manager.stats().running === 0)
  }
  const sortedLatencies = sortNumbers(latencies)

  const drain = await drainAll(ids.slice(50))
  const completed = await countOf("w9_waiter", "completed")
  if (completed !== n + 100) throw new Error(`W9 resting: ${completed} completed, expected ${n + 100}`)
  const drained = await settledMemoryMB()
  await close()
  return {
    n,
    restMs,
    rssBeforeMB: before.rssMB,
    rssAfterMB: after.rssMB,
    heapBeforeMB: before.heapMB,
    heapAfterMB: after.heapMB,
    liveWhileResting,
    plainBeforeP50: plainBefore.p50,
    plainBeforeMax: plainBefore.max,
    plainWhileP50: plainWhile.p50,
    plainWhileMax: plainWhile.max,
    appliedWhileP50: percentile(sortedLatencies, 50),
    appliedWhileMax: sortedLatencies[sortedLatencies.length - 1]!,
    sendsPerSec: ((n - 50) / drain.sendMs) * 1000,
    drainPerSec: ((n - 50) / drain.ms) * 1000,
    rssDrainedMB: drained.rssMB,
    heapDrainedMB: drained.heapMB,
  }
}

childMain(import.meta.url, async (args: Args) => {
  try {
    return await (args.mode === "transitions"
      ? transitions(args)
      : args.mode === "latency"
        ? latency(args)
        : resting(args))
  } finally {
    for (const close of opened) await close().catch(() => undefined)
  }
})

// ---------------------------------------------------------------- parent side

/** Whether the PostgreSQL server answers (the PostgreSQL figures need it). */
const pgReachable = async (): Promise<boolean> => {
  const pg = (await import("pg")).default
  const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 3_000 })
  client.on("error", () => undefined)
  try {
    await client.connect()
    await client.end()
    return true
  } catch (error) {
    process.stderr.write(
      `\nW9: no PostgreSQL at ${serverUrl().replace(/:[^:@/]*@/, ":***@")} (${(error as Error).message}); set BENCH_PG_URL. PostgreSQL figures left out.\n`,
    )
    return false
  }
}

export default async function w9(b: Bench): Promise<Figure[]> {
  const stores: Store[] = (await pgReachable()) ? ["sqlite", "postgres"] : ["sqlite"]
  const figures: Figure[] = []
  const samples = b.quick ? 200 : 1_000
  const jobs = Math.max(8, Math.round(b.n / 100))
  for (const store of stores) {
    const w = `W9 machines, ${store === "sqlite" ? "SQLite" : "PostgreSQL"}`
    const child = <R>(mode: Args["mode"], n: number, gc = false) =>
      runChild<R>("w9-machines.ts", { mode, store, dir: tempDir(), n } satisfies Args, {
        role: "jobstate",
        timeoutMs: 900_000,
        ...(gc ? { nodeFlags: ["--expose-gc"] } : {}),
      })
    const t = await repeat(b.runs, () => child<TransitionsResult>("transitions", b.n))
    const l = await repeat(b.runs, () => child<LatencyResult>("latency", samples))
    const r = await repeat(b.runs, () => child<RestingResult>("resting", b.n, true))
    const plain = { baselineLabel: "plain job" }
    const before = { baselineLabel: "before" }
    const size = b.n.toLocaleString("en-US")
    const rest = (b.n - 50).toLocaleString("en-US")
    const measuredT = t.flatMap((x) => (x.machine === undefined ? [] : [{ machine: x.machine, plain: x.plain }]))
    const perRun = (f: (x: (typeof measuredT)[number]) => number) =>
      measuredT.map((x) => `${f(x).toFixed(2)}×`).join(", ")
    const ofRuns = measuredT.length < t.length ? ` (${measuredT.length} of ${t.length} runs)` : ""
    figures.push(
      figure(
        {
          workload: w,
          name: "counter machines that hung, of 8 (came to rest with a step's result unapplied)",
          unit: "jobs",
        },
        t.map((x) => x.hung),
        undefined,
        { text: "none", test: ({ js }) => js === 0 },
      ),
    )
    if (measuredT.length === 0)
      figures.push(
        figure(
          {
            workload: w,
            name: `a plain job's checkpoints/s, concurrency 8, ${jobs} jobs × 101`,
            unit: "checkpoints/s",
            note: "the machine's figure: none, its jobs hung",
          },
          t.map((x) => x.plain.perSec),
        ),
        figure(
          { workload: w, name: "CPU time per plain checkpoint", unit: "µs" },
          t.map((x) => x.plain.cpuUs),
        ),
      )
    else
      figures.push(
        figure(
          {
            workload: w,
            name: `persisted transitions/s, concurrency 8, ${jobs} jobs × 101 (fromPromise steps), vs a plain job's checkpoints/s${ofRuns}`,
            unit: "checkpoints/s",
            ...plain,
            note: `ratio in each run: ${perRun((x) => x.machine.perSec / x.plain.perSec)}`,
          },
          measuredT.map((x) => x.machine.perSec),
          measuredT.map((x) => x.plain.perSec),
        ),
        figure(
          {
            workload: w,
            name: `CPU time per persisted transition, vs per plain checkpoint${ofRuns}`,
            unit: "µs",
            ...plain,
            note: `ratio in each run: ${perRun((x) => x.machine.cpuUs / x.plain.cpuUs)}`,
          },
          measuredT.map((x) => x.machine.cpuUs),
          measuredT.map((x) => x.plain.cpuUs),
        ),
        figure(
          {
            workload: w,
            name: `persisted transitions per transaction (group commit), vs plain checkpoints${ofRuns}`,
            unit: "per tx",
            ...plain,
          },
          measuredT.map((x) => x.machine.perTx),
          measuredT.map((x) => x.plain.perTx),
        ),
      )
    figures.push(
      figure(
        { workload: w, name: `send→applied, resting job, p50 of ${samples}`, unit: "ms" },
        l.map((x) => x.restingP50),
      ),
      figure(
        { workload: w, name: `send→applied, resting job, p99 of ${samples}`, unit: "ms" },
        l.map((x) => x.restingP99),
      ),
      figure(
        { workload: w, name: "send→applied, resting job, worst", unit: "ms" },
        l.map((x) => x.restingMax),
      ),
      figure(
        { workload: w, name: "send() resolves (event stored), p50", unit: "ms" },
        l.map((x) => x.storedP50),
      ),
      figure(
        { workload: w, name: `send→applied, live job (holds its slot), p50 of ${samples}`, unit: "ms" },
        l.map((x) => x.liveP50),
      ),
      figure(
        { workload: w, name: `send→applied, live job (holds its slot), p99 of ${samples}`, unit: "ms" },
        l.map((x) => x.liveP99),
      ),
      figure(
        { workload: w, name: `${size} jobs to rest: first dispatch → all resting, none live`, unit: "jobs/s" },
        r.map((x) => (x.n / x.restMs) * 1000),
      ),
      figure(
        {
          workload: w,
          name: `RSS with ${size} jobs resting (after GC), vs before they were dispatched`,
          unit: "MB",
          ...before,
          note: `live jobs while they rest: ${r.map((x) => x.liveWhileResting).join(", ")}`,
        },
        r.map((x) => x.rssAfterMB),
        r.map((x) => x.rssBeforeMB),
      ),
      figure(
        { workload: w, name: `V8 heap in use with ${size} jobs resting (after GC), vs before`, unit: "MB", ...before },
        r.map((x) => x.heapAfterMB),
        r.map((x) => x.heapBeforeMB),
      ),
      figure(
        {
          workload: w,
          name: `RSS after all ${size} completed (after GC), vs before they were dispatched`,
          unit: "MB",
          ...before,
        },
        r.map((x) => x.rssDrainedMB),
        r.map((x) => x.rssBeforeMB),
      ),
      figure(
        {
          workload: w,
          name: `V8 heap in use after all ${size} completed (after GC), vs before`,
          unit: "MB",
          ...before,
        },
        r.map((x) => x.heapDrainedMB),
        r.map((x) => x.heapBeforeMB),
      ),
      figure(
        {
          workload: w,
          name: `a plain job's dispatch → result while ${size} rest, median of 20, vs before they rested`,
          unit: "ms",
          ...before,
        },
        r.map((x) => x.plainWhileP50),
        r.map((x) => x.plainBeforeP50),
      ),
      figure(
        {
          workload: w,
          name: `a plain job's dispatch → result while ${size} rest, worst of 20, vs before`,
          unit: "ms",
          ...before,
        },
        r.map((x) => x.plainWhileMax),
        r.map((x) => x.plainBeforeMax),
      ),
      figure(
        {
          workload: w,
          name: `send→applied while ${size} rest, median of 50 (one at a time), vs a lone resting job's p50`,
          unit: "ms",
          baselineLabel: "alone",
        },
        r.map((x) => x.appliedWhileP50),
        l.map((x) => x.restingP50),
      ),
      figure(
        { workload: w, name: `send→applied while ${size} rest, worst of 50`, unit: "ms" },
        r.map((x) => x.appliedWhileMax),
      ),
      figure(
        {
          workload: w,
          name: `sends to the other ${rest} resting jobs, awaited one by one, during the drain`,
          unit: "calls/s",
        },
        r.map((x) => x.sendsPerSec),
      ),
      figure(
        { workload: w, name: `drain: first send → all ${rest} applied and completed`, unit: "jobs/s" },
        r.map((x) => x.drainPerSec),
      ),
    )
  }
  return figures
}
