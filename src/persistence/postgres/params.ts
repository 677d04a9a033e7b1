import { JOB_COLUMNS, type JobColumn, type Refs } from "../jobColumns.js"
import type { Tables } from "./connection.js"

/**
 * The PostgreSQL type of each value the statements bind by name: a column's own type (from the
 * column table), or one of these.
 */
const VALUE_TYPES: Readonly<Record<string, string>> = {
  i: "integer",
  kind: "text",
  at: "text",
  terminal: "boolean",
  has_progress: "boolean",
  expect_status: "text",
  expect_owner: "text",
  expect_attempts: "integer",
  log_level: "text",
  log_message: "text",
  ev_name: "text",
  ev_writer: "text",
  ev_status: "text",
  ev_progress: "text",
  ev_log: "text",
  job_id: "text",
  level: "text",
  message: "text",
  writer: "text",
  body: "text",
}

export const typeOf = (name: string): string => {
  const type = name in JOB_COLUMNS ? JOB_COLUMNS[name as JobColumn].pg : VALUE_TYPES[name]
  if (type === undefined) throw new Error(`no PostgreSQL type for the value ${name}`)
  return type
}

/** Names a row's columns in an UPDATE … FROM unnest(…) AS alias: the row's values `alias.x`, the table's `self.x`. */
export const unnestRefs = (alias: string, self: string): Refs => ({
  value: (name) => `${alias}.${name}`,
  column: (name) => `${self}.${name}`,
  same: (a, b) => `${a} IS NOT DISTINCT FROM ${b}`,
})

type Rows = Readonly<Record<string, ReadonlyArray<Readonly<Record<string, unknown>>>>>

/**
 * The parameters of one statement, numbered as its text is made, never by hand: `value` is one
 * named value (`$3`, the same number each time it is named again), `unnest` one array per column
 * of a set of rows. `bind` then lists the values in their numbers' order.
 */
export class Params {
  private readonly slots: Array<{ readonly name: string; readonly rows?: string }> = []

  /** `$k` for the value `name`, cast to `cast` if given. */
  value(name: string, cast?: string): string {
    let k = this.slots.findIndex((s) => s.rows === undefined && s.name === name)
    if (k < 0) k = this.slots.push({ name }) - 1
    return cast === undefined ? `$${k + 1}` : `$${k + 1}::${cast}`
  }

  /** Refs for a statement on one row: values `$k` cast to their type, the row's columns unqualified (or `self.x`). */
  refs(self?: string): Refs {
    return {
      value: (name) => this.value(name, typeOf(name)),
      column: (name) => (self === undefined ? name : `${self}.${name}`),
      same: (a, b) => `${a} IS NOT DISTINCT FROM ${b}`,
    }
  }

  /**
   * `unnest($k::type[], …) AS alias(name, …)`: the rows `alias` as parallel arrays, one per
   * column, each of the column's type; with `ordinality`, numbered `n` in their order.
   */
  unnest(alias: string, columns: ReadonlyArray<string>, ordinality = false): string {
    const arrays = columns.map((name) => `$${this.slots.push({ name, rows: alias })}::${typeOf(name)}[]`)
    const names = ordinality ? [...columns, "n"] : columns
    return `unnest(${arrays.join(", ")})${ordinality ? " WITH ORDINALITY" : ""} AS ${alias}(${names.join(", ")})`
  }

  /** The statement's parameters: each named value from `values`, each array from its rows (null where a row has no such value). */
  bind(values: Readonly<Record<string, unknown>>, rows: Rows = {}): unknown[] {
    return this.slots.map(({ name, rows: alias }) => {
      if (alias !== undefined) return rows[alias]!.map((row) => row[name] ?? null)
      if (!(name in values)) throw new Error(`no value for ${name}`)
      return values[name]
    })
  }
}

/** A statement's text and how to bind it, made once (per schema: its text names the tables). */
export interface Statement {
  readonly text: string
  readonly params: Params
}

export const statement = (make: (p: Params) => string): Statement => {
  const params = new Params()
  return { text: make(params), params }
}

/** `make` once per schema (by the jobs table's qualified name). */
export const perSchema = <A>(make: (t: Tables) => A) => {
  const made = new Map<string, A>()
  return (t: Tables): A => {
    let a = made.get(t.jobs)
    if (a === undefined) made.set(t.jobs, (a = make(t)))
    return a
  }
}
