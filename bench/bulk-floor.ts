/**
 * The floor a bulk enqueue is compared with: a bare batched INSERT into jobstate's own `jobs`
 * table (the migrations' schema, every index), the columns a dispatch writes (NEW_JOB_COLUMNS),
 * one transaction per batch, a fresh random UUID per row as `dispatch` makes. No engine: no
 * schema validation, no handles, no events. Used by W10 (both stores) and `npm run bench:schema`.
 */
import type Database from "better-sqlite3"
import { randomUUID } from "node:crypto"
import type pg from "pg"
import { columnList, NEW_JOB_COLUMNS } from "../src/persistence/jobColumns.js"

/** A row's values by column; `id`, `created_at` and `updated_at` are made fresh per row. */
export type RowTemplate = Readonly<Record<(typeof NEW_JOB_COLUMNS)[number], unknown>>

/** The template's params are reused as they are: a floor does not encode them (a dispatch packs each). */
const fresh = (template: RowTemplate, at: string, id: () => string = randomUUID) => ({
  ...template,
  id: id(),
  created_at: at,
  updated_at: at,
})

/** SQLite: a function that inserts `count` rows in one IMMEDIATE transaction. */
export const sqliteInserter = (db: Database.Database, template: RowTemplate, id: () => string = randomUUID) => {
  const insert = db.prepare(
    `INSERT INTO jobs (${columnList(NEW_JOB_COLUMNS)}) VALUES (${NEW_JOB_COLUMNS.map((c) => `@${c}`).join(", ")})`,
  )
  const many = db.transaction((count: number) => {
    const at = new Date().toISOString()
    for (let i = 0; i < count; i++) insert.run(fresh(template, at, id))
  })
  return (count: number): void => many.immediate(count)
}

/** SQLite: `n` rows in transactions of `batch`; the ms each transaction took. */
export const bulkInsertSqlite = (
  db: Database.Database,
  template: RowTemplate,
  n: number,
  batch: number,
  id: () => string = randomUUID,
): number[] => {
  const insert = sqliteInserter(db, template, id)
  const times: number[] = []
  for (let from = 0; from < n; from += batch) {
    const t0 = performance.now()
    insert(Math.min(batch, n - from))
    times.push(performance.now() - t0)
  }
  return times
}

/** The PostgreSQL type of each new-row column (for the unnest arrays). */
const pgTypes: Readonly<Record<(typeof NEW_JOB_COLUMNS)[number], string>> = {
  id: "text",
  name: "text",
  params: "bytea",
  data: "bytea",
  status: "text",
  snapshot: "bytea",
  priority: "integer",
  created_at: "text",
  updated_at: "text",
  run_at: "bigint",
  unique_key: "text",
  options: "text",
  state_schema_version: "integer",
  parent_id: "text",
  child_key: "text",
}

/**
 * PostgreSQL: a function that inserts `count` rows in one transaction, one `INSERT … SELECT FROM
 * unnest(…)` (one array per column: a multi-row VALUES would pass the 65,535 parameters limit at
 * 10,000 rows).
 */
export const pgInserter = (client: pg.Client, table: string, template: RowTemplate) => {
  const text = `INSERT INTO ${table} (${columnList(NEW_JOB_COLUMNS)}) SELECT * FROM unnest(${NEW_JOB_COLUMNS.map((c, k) => `$${k + 1}::${pgTypes[c]}[]`).join(", ")})`
  return async (count: number): Promise<void> => {
    const at = new Date().toISOString()
    const rows = Array.from({ length: count }, () => fresh(template, at))
    await client.query("BEGIN")
    await client.query(
      text,
      NEW_JOB_COLUMNS.map((c) => rows.map((r) => r[c] ?? null)),
    )
    await client.query("COMMIT")
  }
}
