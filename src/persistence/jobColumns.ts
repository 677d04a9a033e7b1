import type { DbJob, JobWrite, NewJob, ProgressColumns, RowExpectation } from "./JobStore.js"
import type { LifecycleRow } from "./lifecycleRow.js"

/**
 * The columns of `jobs`, the one list of them: in the table's order, each with its type in
 * either dialect and whether a claim reads it. Both stores' SELECT lists, the claim's columns
 * (`ClaimRow`), a new row's INSERT and the values each write binds are made from it. The
 * migrations are history and keep their own text; `test/persistence/schemaDrift.test.ts` checks
 * that both schemas have exactly these columns, in this order, of these types.
 */
export const JOB_COLUMNS = {
  seq: { sqlite: "INTEGER", pg: "bigint", claim: true },
  id: { sqlite: "TEXT", pg: "text", claim: true },
  name: { sqlite: "TEXT", pg: "text", claim: true },
  params: { sqlite: "BLOB", pg: "bytea", claim: true },
  data: { sqlite: "BLOB", pg: "bytea", claim: true },
  status: { sqlite: "TEXT", pg: "text", claim: true },
  snapshot: { sqlite: "BLOB", pg: "bytea", claim: true },
  priority: { sqlite: "INTEGER", pg: "integer", claim: true },
  progress: { sqlite: "REAL", pg: "double precision" },
  progress_data: { sqlite: "TEXT", pg: "text" },
  output: { sqlite: "TEXT", pg: "text" },
  error_message: { sqlite: "TEXT", pg: "text" },
  error: { sqlite: "TEXT", pg: "text" },
  attempts: { sqlite: "INTEGER", pg: "integer" },
  state_version: { sqlite: "INTEGER", pg: "integer", claim: true },
  paused_by: { sqlite: "TEXT", pg: "text" },
  owner: { sqlite: "TEXT", pg: "text", claim: true },
  request: { sqlite: "TEXT", pg: "text" },
  created_at: { sqlite: "TEXT", pg: "text" },
  started_at: { sqlite: "TEXT", pg: "text" },
  completed_at: { sqlite: "TEXT", pg: "text" },
  last_checkpoint: { sqlite: "TEXT", pg: "text" },
  // When it was put in line: telemetry's queue wait.
  updated_at: { sqlite: "TEXT", pg: "text", claim: true },
  run_at: { sqlite: "INTEGER", pg: "bigint" },
  failures: { sqlite: "INTEGER", pg: "integer" },
  last_error: { sqlite: "TEXT", pg: "text" },
  unique_key: { sqlite: "TEXT", pg: "text" },
  options: { sqlite: "TEXT", pg: "text", claim: true },
  state_schema_version: { sqlite: "INTEGER", pg: "integer", claim: true },
  parent_id: { sqlite: "TEXT", pg: "text", claim: true },
  child_key: { sqlite: "TEXT", pg: "text" },
  awaiting_children: { sqlite: "INTEGER", pg: "boolean" },
  awaiting_events: { sqlite: "INTEGER", pg: "boolean" },
  inbox_applied: { sqlite: "INTEGER", pg: "bigint", claim: true },
} as const satisfies { readonly [K in keyof DbJob]-?: ColumnType }

interface ColumnType {
  readonly sqlite: "INTEGER" | "REAL" | "TEXT" | "BLOB"
  readonly pg: "bigint" | "integer" | "double precision" | "text" | "bytea" | "boolean"
  readonly claim?: true
}

export type JobColumn = keyof typeof JOB_COLUMNS

/** The columns a claim reads: only what a start needs (each blob read costs). */
export type ClaimColumn = {
  [K in JobColumn]: (typeof JOB_COLUMNS)[K] extends { readonly claim: true } ? K : never
}[JobColumn]

export const jobColumnNames = Object.keys(JOB_COLUMNS) as ReadonlyArray<JobColumn>

export const claimColumnNames = jobColumnNames.filter((c): c is ClaimColumn => "claim" in JOB_COLUMNS[c])

/** `a, b, c`, or `x.a, x.b, x.c` with an alias. */
export const columnList = (columns: ReadonlyArray<string>, alias?: string): string =>
  columns.map((c) => (alias === undefined ? c : `${alias}.${c}`)).join(", ")

/** Every column of `DbJob`, in its order: never `SELECT *`, so a later column cannot leak into rows. */
export const JOB_SELECT = columnList(jobColumnNames)

/** The claim's SELECT list: the columns of `ClaimRow`. */
export const CLAIM_SELECT = columnList(claimColumnNames)

/**
 * What a new row is inserted with (a dispatched job, a schedule's, a parent's child); the other
 * columns take their defaults.
 */
export const NEW_JOB_COLUMNS = [
  "id",
  "name",
  "params",
  "data",
  "status",
  "snapshot",
  "priority",
  "created_at",
  "updated_at",
  "run_at",
  "unique_key",
  "options",
  "state_schema_version",
  "parent_id",
  "child_key",
] as const satisfies ReadonlyArray<JobColumn>

/** A new row's values, by column; a child also has its parent and its key among the parent's children. */
export const newJobValues = (
  job: Omit<NewJob, "event">,
  child?: { readonly parentId: string; readonly childKey: string },
): Record<(typeof NEW_JOB_COLUMNS)[number], unknown> => ({
  id: job.id,
  name: job.name,
  params: job.params,
  data: job.data,
  status: "queued",
  snapshot: job.snapshot,
  priority: job.priority,
  created_at: job.createdAt,
  updated_at: job.createdAt,
  run_at: job.runAt ?? null,
  unique_key: job.uniqueKey ?? null,
  options: job.options ?? null,
  state_schema_version: job.stateSchemaVersion ?? 1,
  parent_id: child?.parentId ?? null,
  child_key: child?.childKey ?? null,
})

/**
 * The columns a lifecycle transition sets from its snapshot (`LifecycleRow`), in both stores;
 * `terminal` is no column (it decides `completed_at`).
 */
export const LIFECYCLE_COLUMNS = [
  "status",
  "snapshot",
  "attempts",
  "paused_by",
  "error",
  "error_message",
  "failures",
  "last_error",
  "run_at",
  "awaiting_children",
  "awaiting_events",
] as const satisfies ReadonlyArray<JobColumn>

export const lifecycleValues = (
  lc: LifecycleRow,
): Record<(typeof LIFECYCLE_COLUMNS)[number] | "terminal", unknown> => ({
  status: lc.status,
  snapshot: lc.snapshot,
  attempts: lc.attempts,
  paused_by: lc.pausedBy,
  error: lc.error,
  error_message: lc.errorMessage,
  failures: lc.failures,
  last_error: lc.lastError,
  run_at: lc.runAt,
  awaiting_children: lc.awaitingChildren,
  awaiting_events: lc.awaitingEvents,
  terminal: lc.terminal,
})

/** The progress columns of a write, with `has_progress`: a write without progress keeps the row's. */
export const progressValues = (p: ProgressColumns | undefined) =>
  p === undefined
    ? { has_progress: false, progress: null, progress_data: null }
    : { has_progress: true, progress: p.progress, progress_data: p.progressData }

/** What a guarded write expects of its row (`expectGuard`). */
export const expectValues = (e: RowExpectation) => ({
  expect_status: e.status,
  expect_owner: e.owner,
  expect_attempts: e.attempts ?? null,
})

type Write<K extends JobWrite["kind"]> = Extract<JobWrite, { readonly kind: K }>

/** The values a transition binds (`transitionSet`, `expectGuard`). */
export const transitionValues = (w: Write<"transition">) => ({
  id: w.id,
  ...lifecycleValues(w.lifecycle),
  output: w.output ?? null,
  ...progressValues(w.progress),
  at: w.at,
  ...expectValues(w.expect),
})

/** The values a checkpoint binds (`checkpointSet`); its guard: the row runs under `owner`. */
export const checkpointValues = (w: Write<"checkpoint">) => ({
  id: w.id,
  owner: w.owner,
  data: w.data,
  snapshot: w.snapshot,
  state_version: w.stateVersion,
  inbox_applied: w.inboxApplied ?? null,
  ...progressValues(w.progress),
  at: w.at,
})

/** The values a progress write binds (`progressSet`); its guard: the row runs under `owner`. */
export const progressWriteValues = (w: Write<"progress">) => ({
  id: w.id,
  owner: w.owner,
  ...progressValues(w.progress),
  at: w.at,
})

/**
 * How a statement names what it binds and what the row holds: SQLite `@at` and `output`,
 * PostgreSQL `$3` (or `w.at`, a column of the writes' `unnest`) and `j.output`. The SET lists
 * and guards below are written once with them, for both stores.
 */
export interface Refs {
  /** A bound value, by its name in the write's values (`lifecycleValues`, …). */
  readonly value: (name: string) => string
  /** The row's current value of a column. */
  readonly column: (name: JobColumn) => string
  /** `a` equals `b`, NULL equal to NULL. */
  readonly same: (a: string, b: string) => string
}

const progressAssignments = ({ value: v, column: c }: Refs) => [
  `progress = CASE WHEN ${v("has_progress")} THEN ${v("progress")} ELSE ${c("progress")} END`,
  `progress_data = CASE WHEN ${v("has_progress")} THEN ${v("progress_data")} ELSE ${c("progress_data")} END`,
]

/** A transition's SET: its lifecycle columns, and the end of any attempt (owner, command); `completed_at` when terminal. */
export const transitionSet = (r: Refs): string =>
  [
    ...LIFECYCLE_COLUMNS.map((col) => `${col} = ${r.value(col)}`),
    `completed_at = CASE WHEN ${r.value("terminal")} THEN ${r.value("at")} ELSE NULL END`,
    "owner = NULL",
    "request = NULL",
    `output = COALESCE(${r.value("output")}, ${r.column("output")})`,
    ...progressAssignments(r),
    `updated_at = ${r.value("at")}`,
  ].join(", ")

/** A checkpoint's SET: the state and snapshot together, and the progress if it has one. */
export const checkpointSet = (r: Refs): string =>
  [
    `data = ${r.value("data")}`,
    `snapshot = ${r.value("snapshot")}`,
    `state_version = ${r.value("state_version")}`,
    `inbox_applied = COALESCE(${r.value("inbox_applied")}, ${r.column("inbox_applied")})`,
    `last_checkpoint = ${r.value("at")}`,
    ...progressAssignments(r),
    `updated_at = ${r.value("at")}`,
  ].join(", ")

export const progressSet = (r: Refs): string =>
  `progress = ${r.value("progress")}, progress_data = ${r.value("progress_data")}, updated_at = ${r.value("at")}`

/**
 * A claim's start (`startValues`): the row runs under its claimant. It clears the wait (a running
 * job has no `run_at`); a state the claim migrated is stored with it.
 */
export const startSet = ({ value: v, column: c }: Refs): string =>
  [
    `status = ${v("status")}`,
    `snapshot = ${v("snapshot")}`,
    `attempts = ${v("attempts")}`,
    `owner = ${v("owner")}`,
    `started_at = COALESCE(${c("started_at")}, ${v("at")})`,
    "request = NULL",
    "paused_by = NULL",
    "run_at = NULL",
    `updated_at = ${v("at")}`,
    `data = COALESCE(${v("data")}, ${c("data")})`,
    `state_schema_version = COALESCE(${v("state_schema_version")}, ${c("state_schema_version")})`,
  ].join(", ")

/** The values a start binds (`startSet`), besides the row it starts. */
export const START_VALUES = ["status", "snapshot", "attempts", "owner", "at", "data", "state_schema_version"] as const

export const startValues = (
  start: LifecycleRow,
  migrated: { readonly data: Buffer; readonly stateSchemaVersion: number } | undefined,
  owner: string,
  at: string,
): Record<(typeof START_VALUES)[number], unknown> => ({
  status: start.status,
  snapshot: start.snapshot,
  attempts: start.attempts,
  owner,
  at,
  data: migrated?.data ?? null,
  state_schema_version: migrated?.stateSchemaVersion ?? null,
})

/**
 * The guard of a write that must find its row as it was read (`expectValues`): same status and
 * owner, and, when it names one, the attempt it ends (a later attempt of the same owner is not it).
 */
export const expectGuard = ({ value: v, column: c, same }: Refs): string =>
  `${c("id")} = ${v("id")} AND ${c("status")} = ${v("expect_status")} AND ${same(c("owner"), v("expect_owner"))}` +
  ` AND (${v("expect_attempts")} IS NULL OR ${c("attempts")} = ${v("expect_attempts")})`
