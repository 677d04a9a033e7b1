import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { usePostgres } from "../fixtures/postgres.js"
import { tempDir } from "../fixtures/tempDir.js"

const db = usePostgres()

/**
 * The two stores' schemas after every migration, compared: a column, an index or a partial
 * index's predicate that one dialect has and the other lacks (or has otherwise) fails this test.
 * The differences that are meant are listed, each with its reason.
 */
interface Column {
  readonly type: "integer" | "real" | "text" | "bytes" | "time"
  readonly notNull: boolean
  readonly default: string | null
}
interface Index {
  readonly table: string
  readonly columns: string
  readonly unique: boolean
  readonly where: string | null
}
interface Schema {
  readonly tables: Record<string, Record<string, Column>>
  readonly indexes: Record<string, Index>
}

/** Meant: each side keeps what only it needs. */
const MEANT = {
  // PostgreSQL records its migrations in a table; SQLite in `PRAGMA user_version`.
  postgresOnlyTables: ["jobstate_migrations"],
  // A lease expires by the DATABASE's clock on PostgreSQL (a timestamptz read with now()); SQLite's
  // store is one file on one host, and keeps epoch ms by that host's clock.
  typeOf: { "managers.expires_at": { sqlite: "integer", postgres: "time" } },
} as const

const sqliteType = (t: string): Column["type"] => ({ INTEGER: "integer", REAL: "real", TEXT: "text", BLOB: "bytes" })[t] as Column["type"]
const postgresType = (t: string): Column["type"] =>
  ({ integer: "integer", bigint: "integer", boolean: "integer", "double precision": "real", text: "text", bytea: "bytes", "timestamp with time zone": "time" })[t] as Column["type"]

/** A default as a value: PostgreSQL's `false` is SQLite's `0`; an identity column has none. */
const defaultOf = (d: string | null): string | null => (d === null ? null : d === "false" ? "0" : d === "true" ? "1" : d.replace(/::[a-z ]+$/, ""))

/** A predicate in one spelling: PostgreSQL writes `= ANY (ARRAY[...])` and casts; SQLite keeps the migration's text. */
const predicate = (where: string | null): string | null => {
  if (where === null) return null
  return where
    .replace(/::text/g, "")
    .replace(/<> ALL \(ARRAY\[([^\]]*)\]\)/g, "NOT IN ($1)")
    .replace(/= ANY \(ARRAY\[([^\]]*)\]\)/g, "IN ($1)")
    .replace(/[()]/g, "")
    .replace(/\s+/g, " ")
    .trim()
}

const sqliteSchema = (file: string): Schema => {
  const sqlite = new Database(file, { readonly: true })
  try {
    const tables: Schema["tables"] = {}
    for (const { name } of sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>) {
      tables[name] = {}
      for (const c of sqlite.pragma(`table_info(${name})`) as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>) {
        // An INTEGER PRIMARY KEY is never null, as PostgreSQL's primary key says.
        tables[name]![c.name] = { type: sqliteType(c.type), notNull: c.notnull === 1 || c.pk === 1, default: defaultOf(c.dflt_value) }
      }
    }
    const indexes: Schema["indexes"] = {}
    for (const i of sqlite.prepare(`SELECT name, tbl_name AS "table", sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`).all() as Array<{ name: string; table: string; sql: string }>) {
      const m = /^CREATE (UNIQUE )?INDEX \S+ ON \S+ \(([^)]*)\)(?:\s+WHERE ([\s\S]*))?$/.exec(i.sql.trim())!
      indexes[i.name] = { table: i.table, unique: m[1] !== undefined, columns: m[2]!.replace(/\s+/g, " "), where: predicate(m[3] ?? null) }
    }
    return { tables, indexes }
  } finally {
    sqlite.close()
  }
}

const postgresSchema = async (schema: string): Promise<Schema> => {
  const tables: Schema["tables"] = {}
  const columns = await db.admin<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    [schema],
  )
  for (const c of columns) {
    ;(tables[c.table_name] ??= {})[c.column_name] = { type: postgresType(c.data_type), notNull: c.is_nullable === "NO", default: defaultOf(c.column_default) }
  }
  const indexes: Schema["indexes"] = {}
  const rows = await db.admin<{ name: string; table: string; def: string; primary: boolean; unique_constraint: boolean }>(
    `SELECT i.indexname AS name, i.tablename AS table, i.indexdef AS def,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u') AND c.connamespace = $1::text::regnamespace) AS primary
     FROM pg_indexes i WHERE i.schemaname = $1`,
    [schema],
  )
  for (const r of rows) {
    // Primary keys and UNIQUE column constraints: SQLite has them as table constraints (autoindexes), compared with the columns.
    if (r.primary) continue
    const m = /^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree \(([^)]*)\)(?: WHERE (.*))?$/.exec(r.def)!
    indexes[r.name] = { table: r.table, unique: m[1] !== undefined, columns: m[2]!, where: predicate(m[3] ?? null) }
  }
  return { tables, indexes }
}

describe("the two stores' schemas", () => {
  it("have the same tables, columns, types, defaults, indexes and partial-index predicates, but for the differences meant", async () => {
    const dataDir = tempDir()
    await (await SqliteJobStore.open(dataDir)).close()
    const schema = db.freshSchema()
    await db.open(schema)
    const sqlite = sqliteSchema(join(dataDir, "jobs.db"))
    const postgres = await postgresSchema(schema)

    expect(Object.keys(postgres.tables).sort()).toEqual([...Object.keys(sqlite.tables), ...MEANT.postgresOnlyTables].sort())
    for (const [table, sqliteColumns] of Object.entries(sqlite.tables)) {
      const pgColumns = postgres.tables[table]!
      // The same columns, in the same order: one column list serves both.
      expect(Object.keys(pgColumns), table).toEqual(Object.keys(sqliteColumns))
      for (const [name, column] of Object.entries(sqliteColumns)) {
        const meant = MEANT.typeOf[`${table}.${name}` as keyof typeof MEANT.typeOf]
        const pg = pgColumns[name]!
        if (meant) {
          expect([column.type, pg.type], `${table}.${name}`).toEqual([meant.sqlite, meant.postgres])
          continue
        }
        // An identity column's default is its sequence; SQLite's rowid has none.
        const pgDefault = pg.default?.startsWith("nextval(") ? null : pg.default
        expect({ ...pg, default: pgDefault }, `${table}.${name}`).toEqual(column)
      }
    }
    expect(postgres.indexes).toEqual(sqlite.indexes)
  })

  it("fails on a drift: an index one side lacks, or a predicate that differs", () => {
    // The comparison itself: a predicate differing by a status, or written in the other dialect's spelling.
    expect(predicate("(status = ANY (ARRAY['queued'::text, 'running'::text]))")).toBe(predicate("status IN ('queued', 'running')"))
    expect(predicate("(status = ANY (ARRAY['queued'::text]))")).not.toBe(predicate("status IN ('queued', 'running')"))
    expect(predicate("(status <> ALL (ARRAY['a'::text, 'b'::text]))")).toBe(predicate("status NOT IN ('a', 'b')"))
  })
})
