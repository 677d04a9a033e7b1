import type pg from "pg"
import { statusBody } from "../eventRows.js"
import type { InsertResult, NewChild, NewJob } from "../JobStore.js"
import { LIVE } from "../sqlStatuses.js"
import { inTransaction, type Queryable, type Tables } from "./connection.js"
import { holderOf } from "./reads.js"

/** The INSERT of a new queued job; its values are `newJobValues` ($1–$11). */
export const insertJobSql = (t: Tables) => /* sql */ `
  INSERT INTO ${t.jobs} (id, name, params, data, status, snapshot, priority, created_at, updated_at, run_at, unique_key, options, state_schema_version)
  VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $7, $8, $9, $10, $11)`

export const newJobValues = (job: Omit<NewJob, "event">): unknown[] => [
  job.id,
  job.name,
  job.params,
  job.data,
  job.snapshot,
  job.priority,
  job.createdAt,
  job.runAt ?? null,
  job.uniqueKey ?? null,
  job.options ?? null,
  job.stateSchemaVersion ?? 1,
]

/**
 * Stores a new queued job, unless a live job holds its unique key: then returns that job.
 * Recorded for listeners in other processes in the same statement, when it asks to be.
 */
export const insertJob = async (db: Queryable, t: Tables, job: NewJob): Promise<InsertResult> => {
  const values = newJobValues(job)
  const columns = insertJobSql(t)
  const unique = `${columns} ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND status IN (${LIVE}) DO NOTHING`
  // Recorded for listeners in other processes: one statement, so the row and its event commit together.
  const insert =
    job.event === undefined
      ? { name: "jobstate.insertUnique", text: unique, values }
      : {
          name: "jobstate.insertRecorded",
          text: /* sql */ `
            WITH j AS (${unique} RETURNING id, created_at),
            e AS (INSERT INTO ${t.events} (job_id, name, writer, type, body, at) SELECT id, $2, $12, 'status', $13, created_at FROM j)
            SELECT id FROM j`,
          values: [...values, job.event.writer, statusBody("queued")],
        }
  if ((job.uniqueKey === undefined || job.uniqueKey === null) && job.event === undefined) {
    await db.query({ name: "jobstate.insert", text: columns, values })
    return { inserted: true }
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
    // One statement for every child; a key the parent has already is left as it is.
    const { rows } = await client.query<{ id: string }>({
      name: "jobstate.insertChildren",
      text: /* sql */ `
        INSERT INTO ${t.jobs} (id, name, params, data, status, snapshot, priority, created_at, updated_at, state_schema_version, parent_id, child_key)
        SELECT c.id, c.name, c.params, c.data, 'queued', c.snapshot, c.priority, c.created_at, c.created_at, c.version, $1, c.key
        FROM unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[], $7::int[], $8::text[], $9::int[], $10::text[])
          WITH ORDINALITY AS c(id, name, params, data, snapshot, priority, created_at, version, key, n)
        ORDER BY c.n
        ON CONFLICT (parent_id, child_key) WHERE parent_id IS NOT NULL DO NOTHING
        RETURNING id`,
      values: [
        parent.id,
        children.map((c) => c.id),
        children.map((c) => c.name),
        children.map((c) => c.params),
        children.map((c) => c.data),
        children.map((c) => c.snapshot),
        children.map((c) => c.priority),
        children.map((c) => c.createdAt),
        children.map((c) => c.stateSchemaVersion ?? 1),
        children.map((c) => c.childKey),
      ],
    })
    const inserted = new Set(rows.map((r) => r.id))
    const recorded = events.filter((c) => inserted.has(c.id))
    if (recorded.length > 0) {
      await client.query({
        name: "jobstate.childEvents",
        text: /* sql */ `
          INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
          SELECT e.id, e.name, e.writer, 'status', $1, e.at
          FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, name, writer, at, n)
          ORDER BY e.n`,
        values: [statusBody("queued"), recorded.map((c) => c.id), recorded.map((c) => c.name), recorded.map((c) => c.event!.writer), recorded.map((c) => c.createdAt)],
      })
    }
    const byKey = await client.query<{ id: string; child_key: string }>({
      name: "jobstate.childrenByKey",
      text: `SELECT id, child_key FROM ${t.jobs} WHERE parent_id = $1 AND child_key = ANY($2::text[])`,
      values: [parent.id, children.map((c) => c.childKey)],
    })
    const idOf = new Map(byKey.rows.map((r) => [r.child_key, r.id]))
    return { ids: children.map((c) => idOf.get(c.childKey)!), inserted: children.filter((c) => inserted.has(c.id)).map((c) => c.id) }
  })
