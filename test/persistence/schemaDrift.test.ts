import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JOB_COLUMNS } from "../../src/persistence/jobColumns.js"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { usePostgres } from "../fixtures/postgres.js"
import { tempDir } from "../fixtures/tempDir.js"

const db = usePostgres()

/**
 * The two stores' schemas after every migration, compared: a column, an index, a partial
 * index's predicate or a constraint (primary key, UNIQUE, foreign key, CHECK) that one dialect has
 * and the other lacks (or has otherwise) fails this test; so does a jobs column missing from, or
 * typed otherwise than in, the column table the statements are made from (`jobColumns.ts`).
 * The differences that are meant are listed, each with its reason.
 */
interface Column {
  readonly type: "integer" | "real" | "text" | "bytes" | "time"
  readonly notNull: boolean
  readonly default: string | null
  /** As declared: SQLite's type name, PostgreSQL's `data_type`. */
  readonly declared: string
}
interface Index {
  readonly table: string
  readonly columns: string
  readonly unique: boolean
  readonly where: string | null
}
/**
 * A table's constraints: its primary key, its UNIQUE constraints (a UNIQUE column on SQLite,
 * `UNIQUE` on PostgreSQL; a unique index is in `indexes`), its foreign keys and CHECKs.
 */
interface Constraints {
  readonly primaryKey: string
  readonly unique: ReadonlyArray<string>
  readonly foreignKeys: ReadonlyArray<string>
  readonly checks: number
}
interface Schema {
  readonly tables: Record<string, Record<string, Column>>
  readonly indexes: Record<string, Index>
  readonly constraints: Record<string, Constraints>
}

/** Meant: each side keeps what only it needs. */
const MEANT = {
  // PostgreSQL records its migrations in a table; SQLite in `PRAGMA user_version`.
  // On PostgreSQL the counts' changes are rows of their own, folded now and then, so that no
  // commit waits for another's lock on a count; SQLite has one writer and updates job_counts.
  postgresOnlyTables: ["job_count_changes", "jobstate_migrations"],
  // A lease expires by the DATABASE's clock on PostgreSQL (a timestamptz read with now()); SQLite's
  // store is one file on one host, and keeps epoch ms by that host's clock.
  typeOf: { "managers.expires_at": { sqlite: "integer", postgres: "time" } },
} as const

const sqliteType = (t: string): Column["type"] =>
  ({ INTEGER: "integer", REAL: "real", TEXT: "text", BLOB: "bytes" })[t] as Column["type"]
const postgresType = (t: string): Column["type"] =>
  ({
    integer: "integer",
    bigint: "integer",
    boolean: "integer",
    "double precision": "real",
    text: "text",
    bytea: "bytes",
    "timestamp with time zone": "time",
  })[t] as Column["type"]

/** A default as a value: PostgreSQL's `false` is SQLite's `0`; an identity column has none. */
const defaultOf = (d: string | null): string | null =>
  d === null ? null : d === "false" ? "0" : d === "true" ? "1" : d.replace(/::[a-z ]+$/, "")

/** A predicate in one spelling: PostgreSQL writes `= ANY (ARRAY[...])` and casts; SQLite keeps the migration's text. */
const predicate = (where: string | null): string | null => {
  if (where === null) return null
  return (
    where
      .replace(/::text/g, "")
      .replace(/<> ALL \(ARRAY\[([^\]]*)\]\)/g, "NOT IN ($1)")
      .replace(/= ANY \(ARRAY\[([^\]]*)\]\)/g, "IN ($1)")
      .replace(/[()]/g, "")
      .replace(/\s+/g, " ")
      .trim()
      // SQLite's `status <> 'a' AND status <> 'b'` (cheaper there in an index) is PostgreSQL's NOT IN.
      .replace(
        /^(\w+) <> ('[^']*')((?: AND \1 <> '[^']*')+)$/,
        (_all, column: string, first: string, rest: string) =>
          `${column} NOT IN ${[first, ...rest.split(` AND ${column} <> `).slice(1)].join(", ")}`,
      )
  )
}

const sqliteSchema = (file: string): Schema => {
  const sqlite = new Database(file, { readonly: true })
  try {
    const tables: Schema["tables"] = {}
    for (const { name } of sqlite
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .all() as Array<{ name: string }>) {
      tables[name] = {}
      for (const c of sqlite.pragma(`table_info(${name})`) as Array<{
        name: string
        type: string
        notnull: number
        dflt_value: string | null
        pk: number
      }>) {
        // An INTEGER PRIMARY KEY is never null, as PostgreSQL's primary key says.
        tables[name]![c.name] = {
          type: sqliteType(c.type),
          notNull: c.notnull === 1 || c.pk === 1,
          default: defaultOf(c.dflt_value),
          declared: c.type,
        }
      }
    }
    const constraints: Schema["constraints"] = {}
    for (const { name, sql } of sqlite
      .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table'`)
      .all() as Array<{ name: string; sql: string }>) {
      const columns = sqlite.pragma(`table_info(${name})`) as Array<{ name: string; pk: number }>
      const unique = (sqlite.pragma(`index_list(${name})`) as Array<{ name: string; origin: string }>)
        .filter((i) => i.origin === "u")
        .map((i) => (sqlite.pragma(`index_info(${i.name})`) as Array<{ name: string }>).map((c) => c.name).join(", "))
      const keys = new Map<number, { table: string; from: string[]; to: string[] }>()
      for (const f of sqlite.pragma(`foreign_key_list(${name})`) as Array<{
        id: number
        table: string
        from: string
        to: string
      }>) {
        const key = keys.get(f.id) ?? { table: f.table, from: [], to: [] }
        keys.set(f.id, key)
        key.from.push(f.from)
        key.to.push(f.to)
      }
      constraints[name] = {
        primaryKey: columns
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => c.name)
          .join(", "),
        unique: unique.sort(),
        foreignKeys: [...keys.values()].map((k) => `${k.from.join(", ")} -> ${k.table} (${k.to.join(", ")})`).sort(),
        checks: (sql.match(/\bCHECK\s*\(/gi) ?? []).length,
      }
    }
    const indexes: Schema["indexes"] = {}
    for (const i of sqlite
      .prepare(`SELECT name, tbl_name AS "table", sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
      .all() as Array<{ name: string; table: string; sql: string }>) {
      const m = /^CREATE (UNIQUE )?INDEX \S+ ON \S+ \(([^)]*)\)(?:\s+WHERE ([\s\S]*))?$/.exec(i.sql.trim())!
      indexes[i.name] = {
        table: i.table,
        unique: m[1] !== undefined,
        columns: m[2]!.replace(/\s+/g, " "),
        where: predicate(m[3] ?? null),
      }
    }
    return { tables, indexes, constraints }
  } finally {
    sqlite.close()
  }
}

const postgresSchema = async (schema: string): Promise<Schema> => {
  const tables: Schema["tables"] = {}
  const columns = await db.admin<{
    table_name: string
    column_name: string
    data_type: string
    is_nullable: string
    column_default: string | null
  }>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    [schema],
  )
  for (const c of columns) {
    ;(tables[c.table_name] ??= {})[c.column_name] = {
      type: postgresType(c.data_type),
      notNull: c.is_nullable === "NO",
      default: defaultOf(c.column_default),
      declared: c.data_type,
    }
  }
  const indexes: Schema["indexes"] = {}
  const rows = await db.admin<{
    name: string
    table: string
    def: string
    primary: boolean
    unique_constraint: boolean
  }>(
    `SELECT i.indexname AS name, i.tablename AS table, i.indexdef AS def,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u') AND c.connamespace = $1::text::regnamespace) AS primary
     FROM pg_indexes i WHERE i.schemaname = $1`,
    [schema],
  )
  for (const r of rows) {
    // Primary keys and UNIQUE constraints are compared as constraints (SQLite has them as table constraints, autoindexes).
    if (r.primary) continue
    const m = /^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree \(([^)]*)\)(?: WHERE (.*))?$/.exec(r.def)!
    indexes[r.name] = { table: r.table, unique: m[1] !== undefined, columns: m[2]!, where: predicate(m[3] ?? null) }
  }
  const constraints: Schema["constraints"] = {}
  for (const table of Object.keys(tables))
    constraints[table] = { primaryKey: "", unique: [], foreignKeys: [], checks: 0 }
  const columnsOf = (keys: string, relation: string) => /* sql */ `
    (SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(${keys}) WITH ORDINALITY k(attnum, n)
     JOIN pg_attribute a ON a.attrelid = ${relation} AND a.attnum = k.attnum)`
  const found = await db.admin<{
    table: string
    type: string
    columns: string
    ref_table: string | null
    ref_columns: string | null
  }>(
    `SELECT t.relname AS table, c.contype AS type, ${columnsOf("c.conkey", "c.conrelid")} AS columns,
       r.relname AS ref_table, ${columnsOf("c.confkey", "c.confrelid")} AS ref_columns
     FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid LEFT JOIN pg_class r ON r.oid = c.confrelid
     WHERE c.connamespace = $1::text::regnamespace AND c.contype IN ('p', 'u', 'f', 'c')`,
    [schema],
  )
  for (const c of found) {
    const table = constraints[c.table]!
    if (c.type === "p") constraints[c.table] = { ...table, primaryKey: c.columns }
    if (c.type === "u") constraints[c.table] = { ...table, unique: [...table.unique, c.columns].sort() }
    if (c.type === "f")
      constraints[c.table] = {
        ...table,
        foreignKeys: [...table.foreignKeys, `${c.columns} -> ${c.ref_table} (${c.ref_columns})`].sort(),
      }
    if (c.type === "c") constraints[c.table] = { ...table, checks: table.checks + 1 }
  }
  return { tables, indexes, constraints }
}

describe("the two stores' schemas", () => {
  it("have the same tables, columns, types, defaults, indexes, partial-index predicates and constraints, but for the differences meant; the jobs columns are the column table's", async () => {
    const dataDir = tempDir()
    await (await SqliteJobStore.open(dataDir)).close()
    const schema = db.freshSchema()
    await db.open(schema)
    const sqlite = sqliteSchema(join(dataDir, "jobs.db"))
    const postgres = await postgresSchema(schema)

    expect(Object.keys(postgres.tables).sort()).toEqual(
      [...Object.keys(sqlite.tables), ...MEANT.postgresOnlyTables].sort(),
    )
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
        expect({ ...pg, default: pgDefault, declared: column.declared }, `${table}.${name}`).toEqual(column)
      }
    }
    expect(postgres.indexes).toEqual(sqlite.indexes)
    // Primary keys, UNIQUE constraints, foreign keys (none yet) and CHECKs (none yet), table by table.
    for (const [table, constraints] of Object.entries(sqlite.constraints))
      expect(postgres.constraints[table], table).toEqual(constraints)
    expect(postgres.constraints.jobs).toMatchObject({ primaryKey: "seq", unique: ["id"] })

    // The column table that both stores' statements are made from is the jobs table of both
    // schemas: every column, in order, of its type in each dialect.
    const table = Object.entries(JOB_COLUMNS)
    expect(Object.keys(sqlite.tables.jobs!)).toEqual(table.map(([name]) => name))
    expect(Object.values(sqlite.tables.jobs!).map((c) => c.declared)).toEqual(table.map(([, c]) => c.sqlite))
    expect(Object.values(postgres.tables.jobs!).map((c) => c.declared)).toEqual(table.map(([, c]) => c.pg))
  })

  it("fails on a drift: an index one side lacks, or a predicate that differs", () => {
    // The comparison itself: a predicate differing by a status, or written in the other dialect's spelling.
    expect(predicate("(status = ANY (ARRAY['queued'::text, 'running'::text]))")).toBe(
      predicate("status IN ('queued', 'running')"),
    )
    expect(predicate("(status = ANY (ARRAY['queued'::text]))")).not.toBe(predicate("status IN ('queued', 'running')"))
    expect(predicate("(status <> ALL (ARRAY['a'::text, 'b'::text]))")).toBe(predicate("status NOT IN ('a', 'b')"))
    expect(predicate("(status <> ALL (ARRAY['a'::text, 'b'::text]))")).toBe(
      predicate("status <> 'a' AND status <> 'b'"),
    )
    expect(predicate("(status <> ALL (ARRAY['a'::text, 'b'::text]))")).not.toBe(
      predicate("status <> 'a' AND status <> 'c'"),
    )
  })
})
