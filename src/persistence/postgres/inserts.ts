import type pg from "pg"
import { statusBody } from "../eventRows.js"
import { columnList, NEW_JOB_COLUMNS, newJobValues } from "../jobColumns.js"
import type { InsertResult, NewChild, NewJob } from "../JobStore.js"
import { LIVE } from "../sqlStatuses.js"
import { inTransaction, type Queryable, type Tables } from "./connection.js"
import { perSchema, statement, type Params } from "./params.js"
import { holderOf } from "./reads.js"

/**
 * The INSERT of a new queued job (its values: `newJobValues`); refused (nothing stored) while a
 * live job holds its unique key (the partial unique index jobs_unique_key); and that, recorded
 * for listeners in other processes in the same statement, so the row and its event commit together.
 */
const insertSql = (t: Tables, p: Params) =>
  /* sql */ `INSERT INTO ${t.jobs} (${columnList(NEW_JOB_COLUMNS)}) VALUES (${NEW_JOB_COLUMNS.map((c) => p.value(c)).join(", ")})`
const unlessKeyHeld = `ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND status IN (${LIVE}) DO NOTHING`

export const insertStatements = perSchema((t) => ({
  plain: statement((p) => insertSql(t, p)),
  unique: statement((p) => `${insertSql(t, p)} ${unlessKeyHeld}`),
  recorded: statement(
    (p) => /* sql */ `
      WITH j AS (${insertSql(t, p)} ${unlessKeyHeld} RETURNING id, created_at),
      e AS (INSERT INTO ${t.events} (job_id, name, writer, type, body, at) SELECT id, ${p.value("name")}, ${p.value("writer")}, 'status', ${p.value("body")}, created_at FROM j)
      SELECT id FROM j`,
  ),
}))

/**
 * Many new rows in one statement, in their order (`c`, one array per column), with what a
 * conflict does and the ids stored (none asked for: every row is stored or the statement fails).
 */
const insertRowsSql = (t: Tables, p: Params, onConflict: string, returning = "RETURNING id") => /* sql */ `
      INSERT INTO ${t.jobs} (${columnList(NEW_JOB_COLUMNS)})
      SELECT ${columnList(NEW_JOB_COLUMNS, "c")} FROM ${p.unnest("c", NEW_JOB_COLUMNS, true)}
      ORDER BY c.n
      ${onConflict}
      ${returning}`

/**
 * Many jobs in one statement, in their order: `keyed`, when some have a unique key (one whose key
 * a live job holds is not stored, and the ids stored say which); `plain` when none has, without
 * the conflict's arbiter or 10,000 ids sent back.
 */
const batchStatements = perSchema((t) => ({
  keyed: statement((p) => insertRowsSql(t, p, unlessKeyHeld)),
  plain: statement((p) => insertRowsSql(t, p, "", "")),
}))

/** A parent's children in one statement, in their order; a key the parent has already is left as it is. */
const childrenStatements = perSchema((t) => ({
  insert: statement((p) =>
    insertRowsSql(t, p, "ON CONFLICT (parent_id, child_key) WHERE parent_id IS NOT NULL DO NOTHING"),
  ),
  events: statement(
    (p) => /* sql */ `
      INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
      SELECT e.id, e.name, e.writer, 'status', ${p.value("body")}, e.at FROM ${p.unnest("e", ["id", "name", "writer", "at"], true)}
      ORDER BY e.n`,
  ),
}))

/**
 * Stores a new queued job, unless a live job holds its unique key: then returns that job.
 * Recorded for listeners in other processes in the same statement, when it asks to be.
 */
export const insertJob = async (db: Queryable, t: Tables, job: NewJob): Promise<InsertResult> => {
  const values = newJobValues(job)
  const statements = insertStatements(t)
  if ((job.uniqueKey === undefined || job.uniqueKey === null) && job.event === undefined) {
    await db.query({
      name: "jobstate.insert",
      text: statements.plain.text,
      values: statements.plain.params.bind(values),
    })
    return { inserted: true }
  }
  const insert =
    job.event === undefined
      ? { name: "jobstate.insertUnique", text: statements.unique.text, values: statements.unique.params.bind(values) }
      : {
          name: "jobstate.insertRecorded",
          text: statements.recorded.text,
          values: statements.recorded.params.bind({ ...values, writer: job.event.writer, body: statusBody("queued") }),
        }
  // Refused (nothing stored) while a live job holds the key (the partial unique index);
  // the holder may end before it is read: then the insert is tried again.
  for (;;) {
    const stored = await db.query(insert)
    if ((stored.rowCount ?? 0) > 0) return { inserted: true }
    if (job.uniqueKey === undefined || job.uniqueKey === null) throw new Error(`job ${job.id} was not stored`)
    const existing = await holderOf(db, t, job.name, job.uniqueKey)
    if (existing !== undefined) return { inserted: false, existing }
  }
}

/**
 * Many new queued jobs in one transaction, all or none: one statement for the rows (a unique key
 * a live job holds, or an earlier job of the batch, refuses its row), their events, then the
 * holders of the keys refused. A holder that ended meanwhile: that job is stored as `insertJob`
 * stores it, in the same transaction.
 */
export const insertJobs = (pool: pg.Pool, t: Tables, jobs: ReadonlyArray<NewJob>): Promise<InsertResult[]> =>
  inTransaction(pool, async (client) => {
    if (jobs.length === 0) return []
    const keyed = jobs.some((job) => job.uniqueKey != null)
    const statement = keyed ? batchStatements(t).keyed : batchStatements(t).plain
    const { rows } = await client.query<{ id: string }>({
      name: keyed ? "jobstate.insertJobs" : "jobstate.insertJobsPlain",
      text: statement.text,
      values: statement.params.bind({}, { c: jobs.map((job) => newJobValues(job)) }),
    })
    const inserted = keyed ? new Set(rows.map((r) => r.id)) : new Set(jobs.map((job) => job.id))
    const recorded = jobs.filter((job) => job.event !== undefined && inserted.has(job.id))
    if (recorded.length > 0) {
      const events = childrenStatements(t).events
      await client.query({
        name: "jobstate.childEvents",
        text: events.text,
        values: events.params.bind(
          { body: statusBody("queued") },
          { e: recorded.map((j) => ({ id: j.id, name: j.name, writer: j.event!.writer, at: j.createdAt })) },
        ),
      })
    }
    const results: InsertResult[] = []
    for (const job of jobs) {
      if (inserted.has(job.id)) results.push({ inserted: true })
      else if (job.uniqueKey == null) throw new Error(`job ${job.id} was not stored`)
      else results.push(await insertJob(client, t, job))
    }
    return results
  })

/**
 * A running parent's children, in one transaction: one statement for every child, a key the
 * parent has already left as it is; then their events, and the ids by key.
 */
export const insertChildren = (
  pool: pg.Pool,
  t: Tables,
  parent: { readonly id: string; readonly owner: string },
  children: ReadonlyArray<NewChild>,
): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined> =>
  inTransaction(pool, async (client) => {
    const running = await client.query({
      name: "jobstate.runningUnder",
      text: `SELECT 1 FROM ${t.jobs} WHERE id = $1 AND status = 'running' AND owner = $2`,
      values: [parent.id, parent.owner],
    })
    if (running.rowCount === 0) return undefined
    const events = children.filter((c) => c.event !== undefined)
    const statements = childrenStatements(t)
    const { rows } = await client.query<{ id: string }>({
      name: "jobstate.insertChildren",
      text: statements.insert.text,
      values: statements.insert.params.bind(
        {},
        { c: children.map((c) => newJobValues(c, { parentId: parent.id, childKey: c.childKey })) },
      ),
    })
    const inserted = new Set(rows.map((r) => r.id))
    const recorded = events.filter((c) => inserted.has(c.id))
    if (recorded.length > 0) {
      await client.query({
        name: "jobstate.childEvents",
        text: statements.events.text,
        values: statements.events.params.bind(
          { body: statusBody("queued") },
          { e: recorded.map((c) => ({ id: c.id, name: c.name, writer: c.event!.writer, at: c.createdAt })) },
        ),
      })
    }
    const byKey = await client.query<{ id: string; child_key: string }>({
      name: "jobstate.childrenByKey",
      text: `SELECT id, child_key FROM ${t.jobs} WHERE parent_id = $1 AND child_key = ANY($2::text[])`,
      values: [parent.id, children.map((c) => c.childKey)],
    })
    const idOf = new Map(byKey.rows.map((r) => [r.child_key, r.id]))
    return {
      ids: children.map((c) => idOf.get(c.childKey)!),
      inserted: children.filter((c) => inserted.has(c.id)).map((c) => c.id),
    }
  })
