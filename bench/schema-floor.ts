/**
 * What jobstate's own SQLite schema costs, with no engine around it: bare better-sqlite3 on the
 * `jobs` table the migrations make, running the statements the engine runs. It answers "how
 * fast could a dispatch, or a drain at concurrency 1, be on this schema?" and what each part
 * of the schema adds.
 *
 *   npm run bench:schema [-- --n 20000]
 *
 * - insert: one awaited dispatch is one INSERT in its own commit. Variants: as shipped; without
 *   the `jobs_status` index; without the unique `id` index (a table with the same columns and
 *   `jobs_status`, but no UUID key); with ids ordered by time (UUID v7-like) instead of random.
 * - batched insert: the floor of `dispatchMany` (W10): 10,000 rows per transaction, every column
 *   a dispatch writes (bulk-floor.ts), random and time-ordered ids.
 * - drain step: what one job costs at concurrency 1, in one IMMEDIATE transaction: the end of
 *   the previous job, the claim's read of the next, its start, COMMIT. Each part timed apart.
 */
import Database from "better-sqlite3"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { migrations } from "../src/persistence/sqlite/migrations.js"
import { bulkInsertSqlite, type RowTemplate } from "./bulk-floor.js"

const argv = process.argv.slice(2)
const n = Number(argv[argv.indexOf("--n") + 1] || 20_000)
const snapshot = Buffer.alloc(100, 7) // a lifecycle record is ~100 bytes packed
const params = Buffer.from([0x81, 0xa1, 0x69, 0x05])
const data = Buffer.from([0xc0])
const now = () => process.hrtime.bigint()

const open = (schema: "shipped" | "no status index" | "no id index") => {
  const dir = mkdtempSync(join(tmpdir(), "jobstate-floor-"))
  const db = new Database(join(dir, "jobs.db"))
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.pragma("wal_autocheckpoint = 4000") // as SqliteJobStore opens it
  for (const m of migrations) db.exec(m.sql)
  if (schema === "no status index") db.exec("DROP INDEX jobs_status")
  if (schema === "no id index") {
    // The same table and indexes without the UNIQUE constraint on id (it cannot be dropped in place).
    const shipped = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'jobs'").pluck().get() as string
    const table = shipped.replace(/\bid\s+TEXT NOT NULL UNIQUE/, "id TEXT NOT NULL")
    if (table === shipped)
      throw new Error(
        "schema-floor: the jobs table no longer declares `id TEXT NOT NULL UNIQUE`; update the no-id-index variant",
      )
    const indexes = db
      .prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL")
      .pluck()
      .all() as string[]
    db.exec(`DROP TABLE jobs; ${table}; ${indexes.join("; ")}`)
  }
  return { db, close: () => (db.close(), rmSync(dir, { recursive: true, force: true })) }
}

const insertSql = `
  INSERT INTO jobs (id, name, params, data, status, snapshot, priority, created_at, updated_at, state_schema_version)
  VALUES (?, 'noop', ?, ?, 'queued', ?, 0, ?, ?, 1)`

const timeOrderedId = () => {
  const t = Date.now().toString(16).padStart(12, "0")
  const r = randomUUID()
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`
}

const insertFloor = (schema: Parameters<typeof open>[0], id: () => string) => {
  const { db, close } = open(schema)
  const insert = db.prepare(insertSql)
  const start = now()
  for (let i = 0; i < n; i++) {
    const at = new Date().toISOString()
    insert.run(id(), params, data, snapshot, at, at)
  }
  const us = Number(now() - start) / 1000 / n
  close()
  return us
}

/** A dispatched noop job's row, with the bytes the other variants use. */
const template: RowTemplate = {
  id: "",
  name: "noop",
  params,
  data,
  status: "queued",
  snapshot,
  priority: 0,
  created_at: "",
  updated_at: "",
  run_at: null,
  unique_key: null,
  options: null,
  state_schema_version: 1,
  parent_id: null,
  child_key: null,
}

const batchedFloor = (id: () => string) => {
  const { db, close } = open("shipped")
  const times = bulkInsertSqlite(db, template, n, 10_000, id)
  close()
  return (times.reduce((a, b) => a + b, 0) * 1000) / n
}

const drainFloor = () => {
  const { db, close } = open("shipped")
  const insert = db.prepare(insertSql)
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const at = new Date().toISOString()
      insert.run(randomUUID(), params, data, snapshot, at, at)
    }
  })()
  // The engine's statements (SqliteJobStore: nextQueued, start, transition), trimmed to what a
  // noop job's claim and end set.
  const next = db.prepare(`
    SELECT seq, id, name, status, params, data, snapshot, priority, state_version, owner, options, state_schema_version, updated_at, parent_id
    FROM jobs WHERE status = 'queued' AND name IN (?) AND (run_at IS NULL OR run_at <= ?)
      AND awaiting_children = 0 AND state_schema_version <= coalesce(?, state_schema_version)
    ORDER BY priority DESC, seq LIMIT ?`)
  const startJob = db.prepare(`
    UPDATE jobs SET status = 'running', snapshot = ?, attempts = attempts + 1, owner = 'm1', started_at = ?, updated_at = ?
    WHERE seq = ? AND status = 'queued'`)
  const endJob = db.prepare(`
    UPDATE jobs SET status = 'completed', snapshot = ?, completed_at = ?, updated_at = ?, owner = NULL
    WHERE id = ? AND status = 'running' AND owner = 'm1'`)
  const begin = db.prepare("BEGIN IMMEDIATE")
  const commit = db.prepare("COMMIT")
  const parts = { begin: 0n, end: 0n, read: 0n, start: 0n, commit: 0n }
  let previous: string | undefined
  let jobs = 0
  for (;;) {
    let t = now()
    const lap = (part: keyof typeof parts) => {
      const u = now()
      parts[part] += u - t
      t = u
    }
    begin.run()
    lap("begin")
    const at = new Date().toISOString()
    if (previous !== undefined) endJob.run(snapshot, at, at, previous)
    lap("end")
    const row = next.get("noop", Date.now(), null, 1) as { seq: number; id: string } | undefined
    lap("read")
    if (row !== undefined) startJob.run(snapshot, at, at, row.seq)
    lap("start")
    commit.run()
    lap("commit")
    if (row === undefined) break
    previous = row.id
    jobs++
  }
  close()
  const total = Object.values(parts).reduce((a, b) => a + b, 0n)
  return Object.fromEntries([["total", total], ...Object.entries(parts)].map(([k, v]) => [k, Number(v) / 1000 / jobs]))
}

// Each figure is the median of `rounds`, the variants taking turns, so that warm-up and drift
// fall on all of them alike.
const rounds = 3
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const inserts = {
  "as shipped": () => insertFloor("shipped", randomUUID),
  "ids ordered by time": () => insertFloor("shipped", timeOrderedId),
  "without the jobs_status index": () => insertFloor("no status index", randomUUID),
  "without the unique id index": () => insertFloor("no id index", randomUUID),
}
const batched = {
  "random ids (as dispatch makes)": () => batchedFloor(randomUUID),
  "ids ordered by time": () => batchedFloor(timeOrderedId),
}
const batchedTimes = new Map<string, number[]>()
const insertTimes = new Map<string, number[]>()
const drainTimes: Array<Record<string, number>> = []
for (let round = 0; round < rounds; round++) {
  for (const [variant, run] of Object.entries(inserts))
    insertTimes.set(variant, [...(insertTimes.get(variant) ?? []), run()])
  for (const [variant, run] of Object.entries(batched))
    batchedTimes.set(variant, [...(batchedTimes.get(variant) ?? []), run()])
  drainTimes.push(drainFloor())
}
console.log(`jobstate's SQLite schema, bare better-sqlite3, ${n.toLocaleString("en")} jobs, median of ${rounds} rounds`)
for (const [variant, times] of insertTimes)
  console.log(`insert (one commit each), ${`${variant}:`.padEnd(31)} ${median(times).toFixed(1)} µs`)
for (const [variant, times] of batchedTimes)
  console.log(
    `batched insert, 10,000 per commit, ${`${variant}:`.padEnd(31)} ${median(times).toFixed(2)} µs (${Math.round(1e6 / median(times)).toLocaleString("en")} rows/s)`,
  )
const part = (name: string) => median(drainTimes.map((d) => d[name]!)).toFixed(1)
console.log(
  `drain step at concurrency 1 (end + claim): ${part("total")} µs per job (${["begin", "end", "read", "start", "commit"].map((p) => `${p} ${part(p)}`).join(", ")})`,
)
console.log("(the engine's own end and start set more columns than these: a lower bound on its SQL)")
