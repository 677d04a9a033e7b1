import { logBody, progressBody, statusBody } from "../eventRows.js"
import type { JobWrite } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"
import { storableText } from "./storableText.js"
import { LIVE } from "../sqlStatuses.js"

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
export const planWrites = (writes: ReadonlyArray<JobWrite>): ReadonlyArray<{ rows: Array<[number, RowWrite]>; logs: Array<[number, LogWrite]> }> => {
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
      return db.query<{ i: number }>({ name: `jobstate.applyWrites.${parts}`, text: statementText(t, parts), values: params(rows, logs) })
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
  let t = false, n = false, c = false, p = false, e = false
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
 * One statement for a set of writes to distinct rows: the writes arrive as parallel arrays
 * (`unnest`), one guarded UPDATE per kind picks its own, and each returns the index of every
 * write whose guard held. A `CASE` keeps a column when the write leaves it unset. Only the
 * `parts` (see `partsOf`) the writes need are in it; `w` and `l` always are, so that every
 * parameter has its type.
 */
const applyWritesSql = (t: Tables, parts: string) => {
  const has = (part: string) => parts.includes(part)
  const returned = [has("t") && "transitioned", has("c") && "checkpointed", has("p") && "progressed"].filter((x) => x !== false)
  const ctes = [wSql, has("t") && transitionedSql(t), has("c") && checkpointedSql(t), has("p") && progressedSql(t), lSql, (has("n") || has("l")) && loggedSql(t, parts), has("e") && eventedSql(t, parts)]
  return `WITH ${ctes.filter((x) => x !== false).join(",\n")}
  ${returned.length === 0 ? "SELECT i FROM w WHERE false" : returned.map((cte) => `SELECT i FROM ${cte}`).join(" UNION ALL ")}`
}

/** The text of each statement shape, per schema, built once. */
const texts = new Map<string, string>()
const statementText = (t: Tables, parts: string): string => {
  const key = `${t.jobs} ${parts}`
  let text = texts.get(key)
  if (text === undefined) texts.set(key, (text = applyWritesSql(t, parts)))
  return text
}

const wSql = /* sql */ `
  w AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::int[],
      $9::text[], $10::text[], $11::text[], $12::bool[], $13::text[], $14::bool[], $15::float8[], $16::text[],
      $17::bytea[], $18::int[], $19::text[], $24::text[], $25::text[], $26::int[], $27::text[], $28::bigint[],
      $29::text[], $30::text[], $31::text[], $32::text[], $33::text[], $38::bool[], $39::int[])
      AS w(i, kind, id, expect_status, owner, status, snapshot, attempts,
        paused_by, error, error_message, terminal, output, has_progress, progress, progress_data,
        data, state_version, at, log_level, log_message, failures, last_error, run_at,
        ev_name, ev_writer, ev_status, ev_progress, ev_log, awaiting_children, expect_attempts)
  )`

const transitionedSql = (t: Tables) => /* sql */ `
  transitioned AS (
    UPDATE ${t.jobs} j SET status = w.status, snapshot = w.snapshot, attempts = w.attempts, paused_by = w.paused_by,
      error = w.error, error_message = w.error_message, failures = w.failures, last_error = w.last_error, run_at = w.run_at,
      awaiting_children = w.awaiting_children, completed_at = CASE WHEN w.terminal THEN w.at END,
      owner = NULL, request = NULL, output = COALESCE(w.output, j.output),
      progress = CASE WHEN w.has_progress THEN w.progress ELSE j.progress END,
      progress_data = CASE WHEN w.has_progress THEN w.progress_data ELSE j.progress_data END,
      updated_at = w.at
    FROM w
    WHERE w.kind = 'transition' AND j.id = w.id AND j.status = w.expect_status AND j.owner IS NOT DISTINCT FROM w.owner
      -- A takeover names the attempt it ends: a later attempt of the same owner is not it.
      AND (w.expect_attempts IS NULL OR j.attempts = w.expect_attempts)
      -- A retry whose unique key another live job took meanwhile is refused, not an error.
      AND (j.unique_key IS NULL OR w.status NOT IN (${LIVE}) OR j.status IN (${LIVE})
        OR NOT EXISTS (SELECT 1 FROM ${t.jobs} o WHERE o.name = j.name AND o.unique_key = j.unique_key AND o.status IN (${LIVE})))
    RETURNING w.i, w.id, w.at, w.log_level, w.log_message, w.ev_name, w.ev_writer, w.ev_status, w.ev_progress, w.ev_log
  )`

const checkpointedSql = (t: Tables) => /* sql */ `
  checkpointed AS (
    UPDATE ${t.jobs} j SET data = w.data, snapshot = w.snapshot, state_version = w.state_version, last_checkpoint = w.at,
      progress = CASE WHEN w.has_progress THEN w.progress ELSE j.progress END,
      progress_data = CASE WHEN w.has_progress THEN w.progress_data ELSE j.progress_data END,
      updated_at = w.at
    FROM w
    WHERE w.kind = 'checkpoint' AND j.id = w.id AND j.status = 'running' AND j.owner = w.owner
    RETURNING w.i, w.id, w.at, w.ev_name, w.ev_writer, w.ev_progress
  )`

const progressedSql = (t: Tables) => /* sql */ `
  progressed AS (
    UPDATE ${t.jobs} j SET progress = w.progress, progress_data = w.progress_data, updated_at = w.at
    FROM w
    WHERE w.kind = 'progress' AND j.id = w.id AND j.status = 'running' AND j.owner = w.owner
    RETURNING w.i, w.id, w.at, w.ev_name, w.ev_writer, w.ev_progress
  )`

const lSql = /* sql */ `
  l AS (
    SELECT * FROM unnest($20::text[], $21::text[], $22::text[], $23::text[], $34::int[], $35::text[], $36::text[], $37::text[])
      WITH ORDINALITY AS l(job_id, at, level, message, i, ev_name, ev_writer, ev_log, n)
  )`

/**
 * The log lines, in the order of the commit: the transitions' lifecycle lines (written only
 * when the transition is) and the plain log lines, in one INSERT (two would run in an order
 * PostgreSQL does not promise, and a job's lines would come out of order).
 */
const loggedSql = (t: Tables, parts: string) => {
  const sources = [
    parts.includes("n") && "SELECT i, id AS job_id, at, log_level AS level, log_message AS message FROM transitioned WHERE log_message IS NOT NULL",
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
    has("t") && "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM transitioned WHERE ev_progress IS NOT NULL",
    has("t") && "SELECT i, 1 AS k, id, ev_name, ev_writer, 'status' AS type, ev_status AS body, at FROM transitioned WHERE ev_status IS NOT NULL",
    has("t") && "SELECT i, 2 AS k, id, ev_name, ev_writer, 'log' AS type, ev_log AS body, at FROM transitioned WHERE ev_log IS NOT NULL",
    has("c") && "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM checkpointed WHERE ev_progress IS NOT NULL",
    has("p") && "SELECT i, 0 AS k, id, ev_name, ev_writer, 'progress' AS type, ev_progress AS body, at FROM progressed WHERE ev_progress IS NOT NULL",
    has("l") && "SELECT i, 0 AS k, job_id AS id, ev_name, ev_writer, 'log' AS type, ev_log AS body, at FROM l WHERE ev_log IS NOT NULL",
  ].filter((x) => x !== false)
  return /* sql */ `
  evented AS (
    INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
    SELECT id, ev_name, ev_writer, type, body, at FROM (
      ${sources.join("\n      UNION ALL ")}
    ) e ORDER BY i, k
  )`
}

/** A row write's values for the columns of `w`, in its order; null where its kind has no such column. */
const rowValues = (i: number, w: RowWrite): unknown[] => {
  const progress = [w.progress !== undefined, w.progress?.progress ?? null, w.progress?.progressData ?? null]
  // The job_events columns: set only when the write asks to be recorded.
  const ev = w.event
  const evProgress = ev === undefined || w.progress === undefined ? null : progressBody(w.progress.progressData)
  switch (w.kind) {
    case "transition": {
      const lc = w.lifecycle
      const errorMessage = lc.errorMessage === null ? null : storableText(lc.errorMessage)
      return [i, w.kind, w.id, w.expect.status, w.expect.owner, lc.status, lc.snapshot, lc.attempts,
        lc.pausedBy, lc.error, errorMessage, lc.terminal, w.output ?? null, ...progress, null, null, w.at,
        w.log?.level ?? null, w.log === undefined ? null : storableText(w.log.message), lc.failures, lc.lastError, lc.runAt,
        ev?.name ?? null, ev?.writer ?? null, ev === undefined ? null : statusBody(lc.status), evProgress,
        ev === undefined || w.log === undefined ? null : logBody(w.log.level, w.log.message), lc.awaitingChildren,
        w.expect.attempts ?? null]
    }
    case "checkpoint":
      return [i, w.kind, w.id, null, w.owner, null, w.snapshot, null,
        null, null, null, null, null, ...progress, w.data, w.stateVersion, w.at, null, null, null, null, null,
        ev?.name ?? null, ev?.writer ?? null, null, evProgress, null, null, null]
    case "progress":
      return [i, w.kind, w.id, null, w.owner, null, null, null,
        null, null, null, null, null, ...progress, null, null, w.at, null, null, null, null, null,
        ev?.name ?? null, ev?.writer ?? null, null, evProgress, null, null, null]
  }
}

/**
 * The statement's parameters: the row writes as 19 parallel arrays, then the log lines as 4,
 * then 10 more row arrays (the transitions' lifecycle lines, failures, last error, run_at, and
 * the job_events columns), then 4 more log arrays (index and job_events columns), then the
 * transitions' `awaiting_children` and the attempt their guard expects.
 */
const params = (rows: ReadonlyArray<[number, RowWrite]>, logs: ReadonlyArray<[number, LogWrite]>): unknown[] => {
  const table = rows.map(([i, w]) => rowValues(i, w))
  const columns = Array.from({ length: 31 }, (_, c) => table.map((row) => row[c]))
  const logColumns = [logs.map(([, l]) => l.id), logs.map(([, l]) => l.at), logs.map(([, l]) => l.level), logs.map(([, l]) => storableText(l.message))]
  const logEvents = [
    logs.map(([i]) => i),
    logs.map(([, l]) => l.event?.name ?? null),
    logs.map(([, l]) => l.event?.writer ?? null),
    logs.map(([, l]) => (l.event === undefined ? null : logBody(l.level, l.message))),
  ]
  return [...columns.slice(0, 19), ...logColumns, ...columns.slice(19, 29), ...logEvents, columns[29], columns[30]]
}
