/**
 * W10 scale (issue 25): what a store of N jobs costs, at N = 10k, 100k and 1M, on SQLite and on
 * PostgreSQL. One run per size (a 1M size takes minutes); a read is the median of several calls.
 * Per store and size, each step in a fresh process, on a store of its own:
 *  1. enqueue: a producer (concurrency 0) stores N noop jobs with `dispatchMany`, 10,000 per call
 *     (one transaction each), and in turn with each call the floor stores 10,000 rows on a store of
 *     its own: a bare batched INSERT into jobstate's own `jobs` table, one transaction, the bytes
 *     of a real dispatch's row (bulk-floor.ts). Both warm up first on a third store. On SQLite a
 *     call is one synchronous transaction: its time is also a stall of the event loop;
 *  2. reads with N queued, by a producer (as a dashboard would): `getJobInfo` of 21 jobs spread over
 *     the store; pages of 50 of `listJobs` (first; after the job at depth N/2 by keyset; at offset
 *     N/2; status filter; type filter; newest first) and `countJobs`, each the median of 7 calls
 *     after one untimed (5 for counts);
 *  3. drain: a worker at concurrency 8 opens (`open()` with N queued) and runs until 10,000 jobs
 *     have ended (claims − running, looked at every ms; rate from open's return), then closes; the
 *     jobs up to the last 10,000 are then completed by SQL (`fill`: the columns a job's end writes,
 *     copied from one the engine completed, as W6 makes its completed rows: at the 1–3k jobs/s
 *     PostgreSQL drains here, a real drain of 1M would take 6–17 minutes); a worker opens again (`open()` with N − 10,000
 *     completed) and runs the rest, the last 10,000 (and the few the first close paused). At 10k
 *     the first 10,000 are the last. The longest event-loop stall of either;
 *  4. reads with N completed, as in 2 (status filter: completed);
 *  5. prune: a worker at concurrency 8 prunes the N completed jobs (`prune({ statuses:
 *     ["completed"], olderThanMs: 0 })`) while it drains a small queue in rounds (20 dispatched,
 *     all awaited, again); the longest event-loop stall meanwhile (lateness of a 1 ms interval).
 *     The prune also deletes the small queue's jobs that completed before it ended.
 * Bytes per job on disk after 1 (queued) and after 3 (completed): SQLite `jobs.db` + its WAL once
 * the process closed it; PostgreSQL the sum of `pg_total_relation_size` of the schema's tables
 * (indexes and TOAST included, and the space of dead row versions: after the fill's VACUUM, free
 * space the table keeps).
 *
 *   --sizes 10k,100k,1M   (or BENCH_SCALE_SIZES) default 10k,100k,1M; 10k with --quick
 *   --stores sqlite,postgres  (or BENCH_SCALE_STORES) default both
 * PostgreSQL: a database of its own on the server JOBSTATE_TEST_PG_URL names (default the local
 * one, user postgres), a schema per size, dropped at the end.
 */
import Database from "better-sqlite3"
import { randomBytes } from "node:crypto"
import { existsSync, rmSync, statSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import pg from "pg"
import {
  childMain,
  figure,
  measured,
  runChild,
  stallMeter,
  tempDir,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

type Store = "sqlite" | "postgres"
type ReadState = "queued" | "completed"

interface Where {
  readonly store: Store
  readonly dataDir: string
  /** PostgreSQL: the database and `?schema=`. */
  readonly databaseUrl?: string
}

interface Args extends Where {
  readonly phase: "enqueue" | "reads" | "drain" | "fill" | "prune"
  readonly n: number
  readonly ids?: ReadonlyArray<string>
  readonly middle?: string
  readonly state?: ReadState
  /** drain: until this many jobs have ended. */
  readonly until?: number
  /** enqueue: the floor's store, and a store to warm up on. */
  readonly floor?: Where
  readonly warm?: Where
  /** fill: the first of the last 10,000 jobs. */
  readonly boundary?: string
}

/** Jobs per `dispatchMany` call and per floor transaction; also the first and last drained. */
const BATCH = 10_000
const LONG = 3_600_000

// ---------------------------------------------------------------- children

/** Imports the engine first, so that a timed `open` is the open alone (as in W2). */
const opener = async (w: Where, concurrency: number) => {
  const { JobManager } = await import("jobstate")
  const { Noop } = await import("./jobs.js")
  const store = w.databaseUrl === undefined ? {} : { databaseUrl: w.databaseUrl }
  return () => JobManager.open({ dataDir: w.dataDir, ...store, jobs: [Noop], concurrency })
}

const openManager = async (w: Where, concurrency: number) => (await opener(w, concurrency))()

const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)

export interface Batches {
  readonly ms: number
  readonly firstMs: number
  readonly lastMs: number
  readonly worstMs: number
}

const batches = (times: ReadonlyArray<number>): Batches => ({
  ms: sum(times),
  firstMs: times[0]!,
  lastMs: times[times.length - 1]!,
  worstMs: Math.max(...times),
})

/** Without `?schema=`, and the schema's name (`public` without one). */
const pgParts = (databaseUrl: string) => {
  const url = new URL(databaseUrl)
  const schema = url.searchParams.get("schema") ?? "public"
  url.searchParams.delete("schema")
  return { url: url.toString(), schema }
}

/**
 * The floor's inserter on its own store: the schema, and the values a dispatch writes, come from
 * the engine itself (a manager opens the store and dispatches one job, whose row is the template
 * and is then deleted; not timed).
 */
const floorInserter = async (w: Where) => {
  const { pgInserter, sqliteInserter } = await import("./bulk-floor.js")
  const { NEW_JOB_COLUMNS, columnList } = await import("../src/persistence/jobColumns.js")
  const { Noop } = await import("./jobs.js")
  const manager = await openManager(w, 0)
  const [handle] = await manager.dispatchMany(Noop, [{ i: 1 }])
  await manager.close()
  const pick = `SELECT ${columnList(NEW_JOB_COLUMNS)} FROM jobs WHERE id = `
  if (w.databaseUrl === undefined) {
    const db = new Database(join(w.dataDir, "jobs.db"))
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    db.pragma("wal_autocheckpoint = 4000") // as SqliteJobStore opens it
    const template = db.prepare(`${pick}?`).get(handle!.id) as Parameters<typeof sqliteInserter>[1]
    db.prepare("DELETE FROM jobs WHERE id = ?").run(handle!.id)
    return { insert: sqliteInserter(db, template), close: async () => db.close() }
  }
  const { url, schema } = pgParts(w.databaseUrl)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`SET search_path TO ${schema}`)
  const template = (await client.query(`${pick}$1`, [handle!.id])).rows[0]
  await client.query("DELETE FROM jobs WHERE id = $1", [handle!.id])
  return { insert: pgInserter(client, `${schema}.jobs`, template), close: () => client.end() }
}

/**
 * N jobs by `dispatchMany` on the store, and N rows by the floor on a store of its own, a batch
 * of each in turn (the first of a pair alternating), so that both meet the same machine and the
 * same store size. Both warm up first on a third store (1,000 jobs each, not timed).
 */
const enqueue = async (a: Args) => {
  const { Noop } = await import("./jobs.js")
  const warm = await openManager(a.warm!, 0)
  await warm.dispatchMany(
    Noop,
    Array.from({ length: 1_000 }, (_, i) => ({ i })),
  )
  await warm.close()
  const warmFloor = await floorInserter(a.warm!)
  await warmFloor.insert(1_000)
  await warmFloor.close()
  const floor = await floorInserter(a.floor!)
  const manager = await openManager(a, 0)
  // 21 jobs spread over the store for getJobInfo, and the one at depth N/2 for the deep pages.
  const spread = new Set(Array.from({ length: 21 }, (_, k) => Math.floor((k * (a.n - 1)) / 20)))
  const ids: string[] = []
  let middle = ""
  let boundary = ""
  const times: number[] = []
  const floorTimes: number[] = []
  // CPU time of this process too: on a busy machine it moves less than wall time.
  const cpu = { engine: 0, floor: 0 }
  const timed = async (into: number[], who: keyof typeof cpu, f: () => unknown) => {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await f()
    into.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cpu[who] += c.user + c.system
  }
  measured.start()
  for (let from = 0; from < a.n; from += BATCH) {
    const count = Math.min(BATCH, a.n - from)
    const params = Array.from({ length: count }, (_, k) => ({ i: from + k }))
    const engine = () =>
      timed(times, "engine", async () => {
        const handles = await manager.dispatchMany(Noop, params)
        handles.forEach((h, k) => {
          if (spread.has(from + k)) ids.push(h.id)
          if (from + k === Math.floor(a.n / 2)) middle = h.id
          if (from + k === a.n - BATCH) boundary = h.id
        })
      })
    const bare = () => timed(floorTimes, "floor", () => floor.insert(count))
    if ((from / BATCH) % 2 === 0) await bare().then(engine)
    else await engine().then(bare)
  }
  measured.stop()
  await manager.close()
  await floor.close()
  return {
    ...batches(times),
    cpuUs: cpu.engine / a.n,
    floor: { ...batches(floorTimes), cpuUs: cpu.floor / a.n },
    ids,
    middle,
    boundary,
  }
}

/** Milliseconds of each of `calls` calls of `f`, after `warm` untimed ones. */
const timeCalls = async (calls: number, f: (k: number) => Promise<unknown>, warm = 1): Promise<number[]> => {
  for (let k = 0; k < warm; k++) await f(k)
  const out: number[] = []
  for (let k = 0; k < calls; k++) {
    const t0 = performance.now()
    await f(k)
    out.push(performance.now() - t0)
  }
  return out
}

const reads = async (a: Args) => {
  const manager = await openManager(a, 0)
  const ids = a.ids!
  const page = 50
  const expectPage = async (p: Promise<ReadonlyArray<unknown>>) => {
    const rows = await p
    if (rows.length !== page) throw new Error(`W10 reads: a page of ${rows.length} rows, expected ${page}`)
  }
  measured.start()
  const out = {
    getJobInfo: await timeCalls(ids.length, (k) => manager.getJobInfo(ids[k]!), 0),
    first: await timeCalls(7, () => expectPage(manager.listJobs({ limit: page }))),
    keyset: await timeCalls(7, () => expectPage(manager.listJobs({ after: a.middle!, limit: page }))),
    offset: await timeCalls(7, () => expectPage(manager.listJobs({ offset: Math.floor(a.n / 2), limit: page }))),
    status: await timeCalls(7, () => expectPage(manager.listJobs({ status: a.state!, limit: page }))),
    type: await timeCalls(7, () => expectPage(manager.listJobs({ name: "noop", limit: page }))),
    newest: await timeCalls(7, () => expectPage(manager.listJobs({ order: "newest", limit: page }))),
    count: await timeCalls(5, () => manager.countJobs()),
  }
  measured.stop()
  const counts = await manager.countJobs()
  await manager.close()
  const stored = sum(counts.filter((c) => c.status === a.state).map((c) => c.count))
  if (stored !== a.n) throw new Error(`W10 reads: expected ${a.n} ${a.state}, found ${JSON.stringify(counts)}`)
  return out
}

/** Runs until `a.until` jobs have ended (claims − running, looked at every ms), then closes. */
const drain = async (a: Args) => {
  const open = await opener(a, 8)
  const until = a.until!
  measured.start()
  const t0 = performance.now()
  const manager = await open()
  const opened = performance.now()
  const c0 = process.cpuUsage()
  const meter = stallMeter()
  let ended = opened
  await waitUntil(
    () => {
      const s = manager.stats()
      ended = performance.now()
      return s.claims - s.running >= until
    },
    1,
    LONG,
  )
  const stallMs = meter.stop()
  const c = process.cpuUsage(c0)
  measured.stop()
  await manager.close()
  return { openMs: opened - t0, perSec: (until / (ended - opened)) * 1000, cpuUs: (c.user + c.system) / until, stallMs }
}

/**
 * The jobs between the first 10,000 and the last 10,000 completed by SQL, in one transaction:
 * each takes the columns a job's end writes from a job the engine completed. (As W6 makes its
 * completed rows; a real drain of 1M on PostgreSQL takes longer than this whole workload should.)
 * PostgreSQL is vacuumed and analyzed after, as autovacuum would have been in the minutes of a
 * real drain. Resolves with how many jobs are left to run (queued, or paused by the close).
 */
const fill = async (a: Args) => {
  const { JOB_COLUMNS, NEW_JOB_COLUMNS } = await import("../src/persistence/jobColumns.js")
  const keep = new Set<string>(["seq", ...NEW_JOB_COLUMNS])
  for (const c of ["status", "snapshot", "data", "updated_at"]) keep.delete(c)
  const ended = Object.keys(JOB_COLUMNS).filter((c) => !keep.has(c))
  const set = `(${ended.join(", ")}) = (SELECT ${ended.join(", ")} FROM jobs WHERE status = 'completed' ORDER BY seq LIMIT 1)`
  const where = "status = 'queued' AND seq < (SELECT seq FROM jobs WHERE id = $boundary)"
  const left = "SELECT count(*) AS left FROM jobs WHERE status IN ('queued', 'paused')"
  if (a.databaseUrl === undefined) {
    const db = new Database(join(a.dataDir, "jobs.db"))
    db.pragma("journal_mode = WAL")
    const filled = db.transaction(() =>
      db.prepare(`UPDATE jobs SET ${set} WHERE ${where.replace("$boundary", "?")}`).run(a.boundary!),
    )()
    const r = { filled: filled.changes, left: (db.prepare(left).get() as { left: number }).left }
    db.close()
    return r
  }
  const { url, schema } = pgParts(a.databaseUrl)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`SET search_path TO ${schema}`)
    const filled = await client.query(`UPDATE jobs SET ${set} WHERE ${where.replace("$boundary", "$1")}`, [a.boundary])
    await client.query("VACUUM (ANALYZE) jobs")
    return { filled: filled.rowCount ?? 0, left: Number((await client.query(left)).rows[0].left) }
  } finally {
    await client.end()
  }
}

const prune = async (a: Args) => {
  const { Noop } = await import("./jobs.js")
  const manager = await openManager(a, 8)
  measured.start()
  const meter = stallMeter()
  let pruning = true
  let meanwhile = 0
  let lost = 0
  const t0 = performance.now()
  const side = (async () => {
    while (pruning) {
      const handles = await manager.dispatchMany(
        Noop,
        Array.from({ length: 20 }, (_, i) => ({ i })),
      )
      // A job the prune deleted as soon as it completed may no longer be found by its handle.
      const ended = await Promise.allSettled(handles.map((h) => h.result()))
      meanwhile += ended.length
      lost += ended.filter((r) => r.status === "rejected").length
    }
  })()
  const deleted = await manager.prune({ statuses: ["completed"], olderThanMs: 0 })
  const pruneMs = performance.now() - t0
  pruning = false
  await side
  const stallMs = meter.stop()
  measured.stop()
  await manager.close()
  if (deleted < a.n) throw new Error(`W10 prune: deleted ${deleted}, expected at least ${a.n}`)
  return { pruneMs, deleted, stallMs, meanwhilePerSec: (meanwhile / pruneMs) * 1000, lost }
}

childMain(import.meta.url, (a: Args) => {
  switch (a.phase) {
    case "enqueue":
      return enqueue(a)
    case "reads":
      return reads(a)
    case "drain":
      return drain(a)
    case "fill":
      return fill(a)
    case "prune":
      return prune(a)
  }
})

// ---------------------------------------------------------------- parent side

type Reads = Awaited<ReturnType<typeof reads>>
type Drained = Awaited<ReturnType<typeof drain>>

interface SizeResult {
  readonly enqueue: Awaited<ReturnType<typeof enqueue>>
  readonly queued: Reads
  /** The first 10,000 with N queued; the last 10,000 with N − 10,000 completed (the same run at 10k). */
  readonly first: Drained
  readonly last: Drained
  readonly completed: Reads
  readonly prune: Awaited<ReturnType<typeof prune>>
  readonly bytesQueued: number
  readonly bytesCompleted: number
  /** The machine's 1-minute load average after each step, averaged. */
  readonly load: number
}

const sizeLabel = (n: number) =>
  n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1_000 === 0 ? `${n / 1_000}k` : String(n)

const parseSizes = (text: string) =>
  text.split(",").map((s) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(s)
    const n =
      m === null ? NaN : Number(m[1]) * (m[2]?.toLowerCase() === "k" ? 1e3 : m[2]?.toLowerCase() === "m" ? 1e6 : 1)
    if (!Number.isInteger(n) || n < BATCH)
      throw new Error(`W10: size ${JSON.stringify(s)}: expected e.g. 10k, 100k, 1M`)
    return n
  })

const flag = (name: string): string | undefined => {
  const argv = process.argv
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

/** A PostgreSQL database of this run's own, on the server the tests use. */
const pgDatabase = async () => {
  const server = process.env.JOBSTATE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
  const name = `jobstate_scale_${process.pid}_${randomBytes(3).toString("hex")}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: server })
    await client.connect()
    try {
      return await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(server)
  url.pathname = `/${name}`
  const inDb = async <A>(f: (client: pg.Client) => Promise<A>) => {
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      return await f(client)
    } finally {
      await client.end()
    }
  }
  return {
    urlOf: (schema: string) => `${url.toString()}?schema=${schema}`,
    bytes: (schema: string) =>
      inDb(async (c) => {
        const { rows } = await c.query<{ bytes: string }>(
          `SELECT coalesce(sum(pg_total_relation_size(t.oid)), 0) AS bytes FROM pg_class t
           JOIN pg_namespace s ON s.oid = t.relnamespace WHERE s.nspname = $1 AND t.relkind = 'r'`,
          [schema],
        )
        return Number(rows[0]!.bytes)
      }),
    dropSchema: (schema: string) => inDb((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  }
}

type PgDatabase = Awaited<ReturnType<typeof pgDatabase>>

const sqliteBytes = (dir: string) =>
  ["jobs.db", "jobs.db-wal"].map((f) => join(dir, f)).reduce((a, f) => a + (existsSync(f) ? statSync(f).size : 0), 0)

const measureSize = async (store: Store, n: number, db: PgDatabase | undefined): Promise<SizeResult> => {
  const label = `${store === "sqlite" ? "SQLite" : "PostgreSQL"} ${sizeLabel(n)}`
  const where = (name: string): Where => {
    const dataDir = tempDir(`jobstate-bench-scale-${name}-`)
    return db === undefined ? { store, dataDir } : { store, dataDir, databaseUrl: db.urlOf(`${name}_${n}`) }
  }
  const step = async <R>(phase: Args["phase"], w: Where, extra: Partial<Args> = {}): Promise<R> => {
    const t0 = performance.now()
    const r = await runChild<R>("w10-scale.ts", { ...w, ...extra, phase, n }, { role: "jobstate", timeoutMs: LONG })
    loads.push(loadavg()[0]!)
    process.stderr.write(`\n  W10 ${label}: ${phase} ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return r
  }
  const loads: number[] = []
  const bytes = async (w: Where) => (db === undefined ? sqliteBytes(w.dataDir) : await db.bytes(`jobs_${n}`))

  const w = where("jobs")
  const floorWhere = where("floor")
  const warmWhere = where("warm")
  try {
    let queued: SizeResult["enqueue"]
    try {
      queued = await step<SizeResult["enqueue"]>("enqueue", w, { floor: floorWhere, warm: warmWhere })
    } finally {
      for (const other of [floorWhere, warmWhere]) {
        if (db !== undefined) await db.dropSchema(pgParts(other.databaseUrl!).schema)
        rmSync(other.dataDir, { recursive: true, force: true })
      }
    }
    const bytesQueued = (await bytes(w)) / n
    const ids = { ids: queued.ids, middle: queued.middle }
    const queuedReads = await step<Reads>("reads", w, { ...ids, state: "queued" })
    const first = await step<Drained>("drain", w, { until: Math.min(BATCH, n) })
    let last = first
    if (n > BATCH) {
      const { left } = await step<{ filled: number; left: number }>("fill", w, { boundary: queued.boundary })
      last = await step<Drained>("drain", w, { until: left })
    }
    const bytesCompleted = (await bytes(w)) / n
    const completedReads = await step<Reads>("reads", w, { ...ids, state: "completed" })
    const pruned = await step<SizeResult["prune"]>("prune", w)
    return {
      enqueue: queued,
      queued: queuedReads,
      first,
      last,
      completed: completedReads,
      prune: pruned,
      bytesQueued,
      bytesCompleted,
      load: sum(loads) / loads.length,
    }
  } finally {
    if (db !== undefined) await db.dropSchema(`jobs_${n}`)
    rmSync(w.dataDir, { recursive: true, force: true })
  }
}

/** The figures of one store, every size; the goals (at 1M) judged at the largest size run. */
const figuresOf = (store: Store, results: ReadonlyMap<number, SizeResult>): Figure[] => {
  const workload = `W10 scale, ${store === "sqlite" ? "SQLite" : "PostgreSQL"}`
  const sizes = [...results.keys()]
  const smallest = results.get(sizes[0]!)!
  const largest = sizes[sizes.length - 1]!
  type Goal = NonNullable<Parameters<typeof figure>[3]>
  type Value = (r: SizeResult, n: number) => number | ReadonlyArray<number>
  const out: Figure[] = []
  const add = (
    name: string,
    unit: string,
    value: Value,
    options: { readonly floor?: Value; readonly goal?: Goal; readonly everySize?: boolean } = {},
  ) => {
    for (const [n, r] of results) {
      const list = (v: number | ReadonlyArray<number>) => (typeof v === "number" ? [v] : v)
      const goal = options.everySize || n === largest ? options.goal : undefined
      const floor = options.floor === undefined ? undefined : list(options.floor(r, n))
      out.push({ ...figure({ workload, name, unit }, list(value(r, n)), floor, goal), stored: n })
    }
  }
  const perSec = (count: number, ms: number) => (count / ms) * 1000
  const atMost = (limit: number, unit: string): Goal => ({ text: `≤ ${limit} ${unit}`, test: ({ js }) => js <= limit })
  const drainGoal = (first: number): Goal => ({
    text: `≥ 0.9× the first 10,000 at ${sizeLabel(sizes[0]!)} (${Math.round(first).toLocaleString("en-US")})`,
    test: ({ js }) => js >= 0.9 * first,
  })

  add(
    "bulk enqueue: dispatchMany, 10,000 per call (floor: bare batched INSERT)",
    "jobs/s",
    (r, n) => perSec(n, r.enqueue.ms),
    {
      floor: (r, n) => perSec(n, r.enqueue.floor.ms),
      goal: { text: "≥ 0.8× floor", test: ({ ratio }) => ratio >= 0.8 },
      everySize: true,
    },
  )
  add("bulk enqueue: the last call alone (floor: its last batch)", "jobs/s", (r) => perSec(BATCH, r.enqueue.lastMs), {
    floor: (r) => perSec(BATCH, r.enqueue.floor.lastMs),
  })
  add("bulk enqueue: CPU of this process per job (floor: per row)", "µs", (r) => r.enqueue.cpuUs, {
    floor: (r) => r.enqueue.floor.cpuUs,
  })
  add("longest dispatchMany call (on SQLite the event loop waits as long)", "ms", (r) => r.enqueue.worstMs)
  add("open() of a worker (concurrency 8) with N queued", "ms", (r) => r.first.openMs, { goal: atMost(100, "ms") })
  add("open() of a worker with N − 10,000 completed, 10,000 queued", "ms", (r) => r.last.openMs, {
    goal: atMost(100, "ms"),
  })
  add("drain at concurrency 8: the first 10,000 (N queued)", "jobs/s", (r) => r.first.perSec, {
    goal: drainGoal(smallest.first.perSec),
  })
  add("drain at concurrency 8: the last 10,000 (N − 10,000 completed)", "jobs/s", (r) => r.last.perSec, {
    goal: drainGoal(smallest.first.perSec),
  })
  add("drain: CPU of this process per job, the first 10,000", "µs", (r) => r.first.cpuUs)
  add("drain: CPU of this process per job, the last 10,000", "µs", (r) => r.last.cpuUs)
  add("longest event-loop stall during a drain (first or last)", "ms", (r) => Math.max(r.first.stallMs, r.last.stallMs))
  for (const state of ["queued", "completed"] as const) {
    const of = (k: keyof Reads) => (r: SizeResult) => r[state][k]
    const page = { goal: atMost(5, "ms") }
    add(`N ${state}: getJobInfo`, "ms", of("getJobInfo"))
    add(`N ${state}: listJobs, first page of 50`, "ms", of("first"), page)
    add(`N ${state}: listJobs, page after the job at depth N/2 (keyset)`, "ms", of("keyset"), page)
    add(`N ${state}: listJobs, page at offset N/2 (for comparison)`, "ms", of("offset"))
    add(`N ${state}: listJobs, first page of status ${state}`, "ms", of("status"), page)
    add(`N ${state}: listJobs, first page of type noop`, "ms", of("type"), page)
    add(`N ${state}: listJobs, first page newest first`, "ms", of("newest"), page)
    add(`N ${state}: countJobs`, "ms", of("count"), { goal: atMost(20, "ms") })
  }
  add("prune N completed", "s", (r) => r.prune.pruneMs / 1000)
  add("longest event-loop stall during the prune, a manager draining meanwhile", "ms", (r) => r.prune.stallMs, {
    goal: atMost(50, "ms"),
  })
  add("jobs run meanwhile (rounds of 20 dispatched and awaited)", "jobs/s", (r) => r.prune.meanwhilePerSec)
  add("bytes on disk per job, N queued", "B", (r) => r.bytesQueued)
  add("bytes on disk per job, N completed", "B", (r) => r.bytesCompleted)
  add("the machine's 1-minute load average, mean over the steps (2 cores)", "load", (r) => r.load)
  return out
}

export default async function w10(b: Bench): Promise<Figure[]> {
  const sizes = parseSizes(flag("--sizes") ?? process.env.BENCH_SCALE_SIZES ?? (b.quick ? "10k" : "10k,100k,1M"))
  const stores = (flag("--stores") ?? process.env.BENCH_SCALE_STORES ?? "sqlite,postgres")
    .split(",")
    .map((s) => s.trim().toLowerCase())
  for (const s of stores)
    if (s !== "sqlite" && s !== "postgres") throw new Error(`W10: store ${JSON.stringify(s)}: sqlite or postgres`)
  const db = stores.includes("postgres") ? await pgDatabase() : undefined
  const figures: Figure[] = []
  try {
    for (const store of stores as Store[]) {
      const results = new Map<number, SizeResult>()
      for (const n of sizes) results.set(n, await measureSize(store, n, store === "postgres" ? db : undefined))
      figures.push(...figuresOf(store, results))
    }
  } finally {
    await db?.drop()
    process.stderr.write("\n")
  }
  return figures
}
