import { logBody, progressBody, statusBody } from "../eventRows.js"
import {
  checkpointSet,
  checkpointValues,
  expectGuard,
  LIFECYCLE_COLUMNS,
  progressSet,
  progressWriteValues,
  transitionSet,
  transitionValues,
} from "../jobColumns.js"
import type { JobWrite } from "../JobStore.js"
import { LIVE } from "../sqlStatuses.js"
import type { Queryable, Tables } from "./connection.js"
import { statement, unnestRefs, type Params, type Statement } from "./params.js"
import { storableText } from "./storableText.js"

type RowWrite = Exclude<JobWrite, { readonly kind: "log" }>
type LogWrite = Extract<JobWrite, { readonly kind: "log" }>

/**
 * Splits a group commit into statements that each touch a job row at most once. Writes to
 * different rows commute (each guard reads only its own row), so only the order of writes to
 * one row matters: the k-th write to a row goes into statement k. Usually every row is
 * written once and the whole commit is one statement. A log line touches no job row; it goes
 * into the statement of its job's last write before it, so a job's lines and events keep the
 * commit's order (within a statement they are written in the order of the commit).
 */
export const planWrites = (
  writes: ReadonlyArray<JobWrite>,
): ReadonlyArray<{ rows: Array<[number, RowWrite]>; logs: Array<[number, LogWrite]> }> => {
  const layers: Array<{ rows: Array<[number, RowWrite]>; logs: Array<[number, LogWrite]> }> = []
  const layer = (k: number) => (layers[k] ??= { rows: [], logs: [] })
  const seen = new Map<string, number>()
  writes.forEach((w, i) => {
    if (w.kind === "log") return void layer(Math.max(0, (seen.get(w.id) ?? 0) - 1)).logs.push([i, w])
    const k = seen.get(w.id) ?? 0
    seen.set(w.id, k + 1)
    layer(k).rows.push([i, w])
  })
  // Rows in id order, so two commits writing the same rows (two processes cancelling the
  // same jobs) lock them in the same order and wait for each other rather than deadlock.
  // Should one remain, PostgreSQL breaks it by failing one commit: a PersistenceError.
  for (const { rows } of layers) rows.sort(([, a], [, b]) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return layers
}

/**
 * Applies `writes` in order on `db` (a transaction's connection when there are several
 * statements) and returns, per write, whether its guard held. A log line is always applied.
 * The statements are sent at once: a connection runs them in the order sent, and none needs
 * the result of the one before.
 */
export const applyWrites = async (db: Queryable, t: Tables, writes: ReadonlyArray<JobWrite>): Promise<boolean[]> => {
  const applied = writes.map((w) => w.kind === "log")
  const results = await Promise.all(
    planWrites(writes).map(({ rows, logs }) => {
      const parts = partsOf(rows, logs)
      const { text, params } = statementOf(t, parts)
      const values = params.bind(
        {},
        { w: rows.map(([i, w]) => rowValues(i, w)), l: logs.map(([i, l]) => logValues(i, l)) },
      )
      return db.query<{ i: number }>({ name: `jobstate.applyWrites.${parts}`, text, values })
    }),
  )
  for (const result of results) for (const { i } of result.rows) applied[i] = true
  return applied
}

/**
 * Which parts of the statement a set of writes needs, as letters: `t` transitions, `n` their
 * lifecycle lines, `c` checkpoints, `p` progress, `l` log lines, `e` job_events rows. A
 * data-modifying CTE runs even when it touches nothing, so a part no write needs is left out:
 * a job's end alone (`t`) is one UPDATE, not six statements' worth of work.
 */
const partsOf = (rows: ReadonlyArray<[number, RowWrite]>, logs: ReadonlyArray<[number, LogWrite]>): string => {
  let t = false,
    n = false,
    c = false,
    p = false,
    e = false
  for (const [, w] of rows) {
    if (w.kind === "transition") {
      t = true
      n ||= w.log !== undefined
    } else if (w.kind === "checkpoint") c = true
    else p = true
    e ||= w.event !== undefined
  }
  e ||= logs.some(([, l]) => l.event !== undefined)
  return `${t ? "t" : ""}${n ? "n" : ""}${c ? "c" : ""}${p ? "p" : ""}${logs.length > 0 ? "l" : ""}${e ? "e" : ""}`
}

/**
 * The columns of `w`, the writes to job rows: one array parameter each (of the value's type),
 * one element per write; a write leaves null what its kind does not set. Named as the values of
 * `jobColumns.ts` name them, which the SET lists and guards made there read.
 */
const W_COLUMNS = [
  "i",
  "kind",
  "id",
  "expect_status",
  "expect_owner",
  "expect_attempts",
  "owner",
  ...LIFECYCLE_COLUMNS,
  "terminal",
  "output",
  "has_progress",
  "progress",
  "progress_data",
  "data",
  "state_version",
  "inbox_applied",
  "at",
  "log_level",
  "log_message",
  "ev_name",
  "ev_writer",
  "ev_status",
  "ev_progress",
  "ev_log",
]

/** The columns of `l`, the plain log lines, numbered `n` in the commit's order. */
const L_COLUMNS = ["job_id", "at", "level", "message", "i", "ev_name", "ev_writer", "ev_log"]

/** The job row's columns and the writes' values, in the UPDATEs below. */
const wRefs = unnestRefs("w", "j")

/**
 * One statement for a set of writes to distinct rows: the writes arrive as parallel arrays
 * (`unnest`), one guarded UPDATE per kind picks its own, and each returns the index of every
 * write whose guard held. A `CASE` keeps a column when the write leaves it unset. Only the
 * `parts` (see `partsOf`) the writes need are in it; `w` and `l` always are, so that every
 * parameter has its type.
 */
const applyWritesSql = (t: Tables, parts: string, p: Params) => {
  const has = (part: string) => parts.includes(part)
  const returned = [has("t") && "transitioned", has("c") && "checkpointed", has("p") && "progressed"].filter(
    (x) => x !== false,
  )
  const ctes = [
    `w AS (SELECT * FROM ${p.unnest("w", W_COLUMNS)})`,
    has("t") && transitionedSql(t),
    has("c") && checkpointedSql(t),
    has("p") && progressedSql(t),
    `l AS (SELECT * FROM ${p.unnest("l", L_COLUMNS, true)})`,
    (has("n") || has("l")) && loggedSql(t, parts),
    has("e") && eventedSql(t, parts),
  ]
  return `WITH ${ctes.filter((x) => x !== false).join(",\n")}
  ${returned.length === 0 ? "SELECT i FROM w WHERE false" : returned.map((cte) => `SELECT i FROM ${cte}`).join(" UNION ALL ")}`
}

/** Each statement shape, per schema, made once. */
const statements = new Map<string, Statement>()
const statementOf = (t: Tables, parts: string): Statement => {
  const key = `${t.jobs} ${parts}`
  let made = statements.get(key)
  if (made === undefined) statements.set(key, (made = statement((p) => applyWritesSql(t, parts, p))))
  return made
}

const transitionedSql = (t: Tables) => /* sql */ `
  transitioned AS (
    UPDATE ${t.jobs} j SET ${transitionSet(wRefs)}
    FROM w
    WHERE w.kind = 'transition' AND ${expectGuard(wRefs)}
      -- A retry whose unique key another live job took meanwhile is refused, not an error.
      AND (j.unique_key IS NULL OR w.status NOT IN (${LIVE}) OR j.status IN (${LIVE})
        OR NOT EXISTS (SELECT 1 FROM ${t.jobs} o WHERE o.name = j.name AND o.unique_key = j.unique_key AND o.status IN (${LIVE})))
    RETURNING w.i, w.id, w.at, w.log_level, w.log_message, w.ev_name, w.ev_writer, w.ev_status, w.ev_progress, w.ev_log
  )`

const checkpointedSql = (t: Tables) => /* sql */ `
  checkpointed AS (
    UPDATE ${t.jobs} j SET ${checkpointSet(wRefs)}
    FROM w
    WHERE w.kind = 'checkpoint' AND j.id = w.id AND j.status = 'running' AND j.owner = w.owner
    RETURNING w.i, w.id, w.at, w.ev_name, w.ev_writer, w.ev_progress
  )`

const progressedSql = (t: Tables) => /* sql */ `
  progressed AS (
    UPDATE ${t.jobs} j SET ${progressSet(wRefs)}
    FROM w
    WHERE w.kind = 'progress' AND j.id = w.id AND j.status = 'running' AND j.owner = w.owner
    RETURNING w.i, w.id, w.at, w.ev_name, w.ev_writer, w.ev_progress
  )`

/**
 * The log lines, in the order of the commit: the transitions' lifecycle lines (written only
 * when the transition is) and the plain log lines, in one INSERT (two would run in an order
 * PostgreSQL does not promise, and a job's lines would come out of order).
 */
const loggedSql = (t: Tables, parts: string) => {
  const sources = [
    parts.includes("n") &&
      "SELECT i, id AS job_id, at, log_level AS level, log_message AS message FROM transitioned WHERE log_message IS NOT NULL",
    parts.includes("l") && "SELECT i, job_id, at, level, message FROM l",
  ].filter((x) => x !== false)
  return /* sql */ `
  logged AS (
    INSERT INTO ${t.logs} (job_id, at, level, message)
    SELECT job_id, at, level, message FROM (${sources.join(" UNION ALL ")}) x ORDER BY i
  )`
}

/**
 * Writes that asked for it (ev_name set: some manager listens) are recorded in job_events too,
 * in the order of the commit: per write, its progress, its status, its log line.
 */
const eventedSql = (t: Tables, parts: string) => {
  const has = (part: string) => parts.includes(part)
  // Every branch names its columns: the first one present names them for the union.
  const sources = [
    has("t") &&
      "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM transitioned WHERE ev_progress IS NOT NULL",
    has("t") &&
      "SELECT i, 1 AS k, id, ev_name, ev_writer, 'status' AS type, ev_status AS body, at FROM transitioned WHERE ev_status IS NOT NULL",
    has("t") &&
      "SELECT i, 2 AS k, id, ev_name, ev_writer, 'log' AS type, ev_log AS body, at FROM transitioned WHERE ev_log IS NOT NULL",
    has("c") &&
      "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM checkpointed WHERE ev_progress IS NOT NULL",
    has("p") &&
      "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM progressed WHERE ev_progress IS NOT NULL",
    has("l") &&
      "SELECT i, 0 AS k, job_id AS id, ev_name, ev_writer, 'log' AS type, ev_log AS body, at FROM l WHERE ev_log IS NOT NULL",
  ].filter((x) => x !== false)
  return /* sql */ `
  evented AS (
    INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
    SELECT id, ev_name, ev_writer, type, body, at FROM (
      ${sources.join("\n      UNION ALL ")}
    ) e ORDER BY i, k
  )`
}

/** A row write's values, by the names of `w`'s columns (`W_COLUMNS`); PostgreSQL text holds no NUL. */
const rowValues = (i: number, w: RowWrite): Readonly<Record<string, unknown>> => {
  // The job_events columns: set only when the write asks to be recorded.
  const ev = w.event
  const recorded = {
    ev_name: ev?.name ?? null,
    ev_writer: ev?.writer ?? null,
    ev_progress: ev === undefined || w.progress === undefined ? null : progressBody(w.progress.progressData),
  }
  switch (w.kind) {
    case "transition": {
      const lc = w.lifecycle
      return {
        i,
        kind: w.kind,
        ...transitionValues(w),
        error_message: lc.errorMessage === null ? null : storableText(lc.errorMessage),
        log_level: w.log?.level ?? null,
        log_message: w.log === undefined ? null : storableText(w.log.message),
        ...recorded,
        ev_status: ev === undefined ? null : statusBody(lc.status),
        ev_log: ev === undefined || w.log === undefined ? null : logBody(w.log.level, w.log.message),
      }
    }
    case "checkpoint":
      return { i, kind: w.kind, ...checkpointValues(w), ...recorded }
    case "progress":
      return { i, kind: w.kind, ...progressWriteValues(w), ...recorded }
  }
}

/** A log line's values, by the names of `l`'s columns (`L_COLUMNS`). */
const logValues = (i: number, l: LogWrite): Readonly<Record<string, unknown>> => ({
  job_id: l.id,
  at: l.at,
  level: l.level,
  message: storableText(l.message),
  i,
  ev_name: l.event?.name ?? null,
  ev_writer: l.event?.writer ?? null,
  ev_log: l.event === undefined ? null : logBody(l.level, l.message),
})
