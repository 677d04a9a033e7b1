import { JOB_SELECT } from "../jobColumns.js"
import { listOrder, type DbJob, type DbLog, type EndedCount, type JobCount, type JobQuery } from "../JobStore.js"
import { ANY_STATUS, LIVE } from "../sqlStatuses.js"
import type { Queryable, Tables } from "./connection.js"

/** A limit as SQLite takes it (absent or negative: none) in PostgreSQL's terms (NULL: none; a negative one is an error). */
const noLimit = (limit: number | undefined): number | null => (limit === undefined || limit < 0 ? null : limit)

export const getJob = async (db: Queryable, t: Tables, id: string): Promise<DbJob | undefined> => {
  const { rows } = await db.query<DbJob>({
    name: "jobstate.get",
    text: `SELECT ${JOB_SELECT} FROM ${t.jobs} WHERE id = $1`,
    values: [id],
  })
  return rows[0]
}

/** The live job of type `name` holding `uniqueKey`, if any. */
export const holderOf = async (
  db: Queryable,
  t: Tables,
  name: string,
  uniqueKey: string,
): Promise<{ id: string; name: string } | undefined> => {
  const { rows } = await db.query<{ id: string; name: string }>({
    name: "jobstate.holderOf",
    text: `SELECT id, name FROM ${t.jobs} WHERE name = $1 AND unique_key = $2 AND status IN (${LIVE})`,
    values: [name, uniqueKey],
  })
  return rows[0]
}

export const listJobs = async (db: Queryable, t: Tables, query: JobQuery): Promise<DbJob[]> => {
  const where: string[] = []
  const values: unknown[] = []
  if (query.status !== undefined) where.push(`status = $${values.push(query.status)}`)
  if (query.name !== undefined) where.push(`name = $${values.push(query.name)}`)
  if (query.parentId !== undefined) where.push(`parent_id = $${values.push(query.parentId)}`)
  if (query.createdAfter !== undefined) where.push(`created_at >= $${values.push(query.createdAfter)}`)
  if (query.createdBefore !== undefined) where.push(`created_at < $${values.push(query.createdBefore)}`)
  const { bound, desc, reverse } = listOrder(query)
  if (bound !== undefined) where.push(`seq ${bound.op} $${values.push(bound.seq)}::bigint`)
  const limit = `$${values.push(noLimit(query.limit))}::bigint`
  const offset = `$${values.push(Math.max(0, query.offset ?? 0))}::bigint`
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""
  const { rows } = await db.query<DbJob>(
    `SELECT ${JOB_SELECT} FROM ${t.jobs} ${filter} ORDER BY seq ${desc ? "DESC" : "ASC"} LIMIT ${limit} OFFSET ${offset}`,
    values,
  )
  if (reverse) rows.reverse()
  return rows
}

export const childCounts = async (
  db: Queryable,
  t: Tables,
  parentId: string,
): Promise<Array<{ status: string; count: number }>> => {
  const { rows } = await db.query<{ status: string; count: number }>({
    name: "jobstate.childCounts",
    text: `SELECT status, count(*)::int AS count FROM ${t.jobs} WHERE parent_id = $1 GROUP BY status`,
    values: [parentId],
  })
  return rows
}

/** The counts folded so far plus the changes since (migration 8): rows in the hundreds, not one per job. */
export const countJobs = async (db: Queryable, t: Tables): Promise<JobCount[]> => {
  const { rows } = await db.query<JobCount>({
    name: "jobstate.countJobs",
    text: /* sql */ `
      SELECT status, name, sum(count)::int AS count
      FROM (SELECT name, status, count FROM ${t.counts} UNION ALL SELECT name, status, change FROM ${t.countChanges}) c
      GROUP BY status, name HAVING sum(count) > 0 ORDER BY status, name`,
  })
  return rows
}

/**
 * Folds the changes of the counts into job_counts, in one statement: a reader sees the changes
 * or their sum, never both or neither. One store at a time folds (the others, finding the lock
 * taken, leave it to it). Then the table of changes is vacuumed: `countJobs` reads all of it,
 * and the versions a fold deleted would be read until autovacuum came by (a fold of 2M changes
 * left a count at 95 ms).
 */
export const foldCounts = async (db: Queryable, t: Tables, schema: string): Promise<void> => {
  const { rows } = await db.query<{ moved: number }>({
    name: "jobstate.foldCounts",
    text: /* sql */ `
      WITH folding AS (SELECT pg_try_advisory_xact_lock(hashtext('jobstate counts'), hashtext($1)) AS mine),
      moved AS (DELETE FROM ${t.countChanges} WHERE (SELECT mine FROM folding) RETURNING name, status, change),
      folded AS (
        INSERT INTO ${t.counts} AS c (name, status, count)
        SELECT name, status, sum(change) FROM moved GROUP BY name, status ORDER BY name, status
        ON CONFLICT (name, status) DO UPDATE SET count = c.count + excluded.count)
      SELECT count(*)::int AS moved FROM moved`,
    values: [schema],
  })
  if ((rows[0]?.moved ?? 0) > 0) await db.query(`VACUUM ${t.countChanges}`)
}

/** The partial index jobs_completed (a comparison on completed_at implies it is not null). */
export const endedPerMinute = async (db: Queryable, t: Tables, since: string): Promise<EndedCount[]> => {
  const { rows } = await db.query<EndedCount>(
    `SELECT substr(completed_at, 1, 16) AS minute, status, count(*)::int AS count FROM ${t.jobs}
     WHERE completed_at >= $1 GROUP BY minute, status ORDER BY minute`,
    [since],
  )
  return rows
}

export const idsWithPrefix = async (db: Queryable, t: Tables, prefix: string, limit: number): Promise<string[]> => {
  // Unnamed, so it is planned with the pattern known: `id` is byte-ordered (COLLATE "C"),
  // so a LIKE with a literal prefix is an index range.
  const pattern = `${prefix.replace(/[\\%_]/g, "\\$&")}%`
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${t.jobs} WHERE id LIKE $1 ORDER BY id LIMIT $2`, [
    pattern,
    noLimit(limit),
  ])
  return rows.map((r) => r.id)
}

export const logs = async (
  db: Queryable,
  t: Tables,
  jobId: string,
  afterSeq: number,
  limit: number | undefined,
): Promise<DbLog[]> => {
  const { rows } = await db.query<DbLog>(
    `SELECT seq, job_id, at, level, message FROM ${t.logs} WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3::bigint`,
    [jobId, afterSeq, noLimit(limit)],
  )
  return rows
}

/*
 * Recovery's reads (orphans, pausedByShutdown) read the jobs of one status by jobs_status alone
 * and filter the types after (MATERIALIZED): with statistics taken before a bulk insert, the
 * planner otherwise ANDs jobs_name into a bitmap and reads every job of the type (75 ms of a
 * worker's open() with 1M queued).
 */
export const orphans = async (
  db: Queryable,
  t: Tables,
  types: ReadonlyArray<string>,
  liveOwners: ReadonlyArray<string>,
): Promise<DbJob[]> => {
  const { rows } = await db.query<DbJob>(
    /* sql */ `
      WITH running AS MATERIALIZED (SELECT ${JOB_SELECT} FROM ${t.jobs} WHERE status = 'running')
      SELECT * FROM running
      WHERE name = ANY($1::text[]) AND (owner IS NULL OR owner <> ALL($2::text[]))
      ORDER BY seq`,
    [types, liveOwners],
  )
  return rows
}

export const pausedByShutdown = async (db: Queryable, t: Tables, types: ReadonlyArray<string>): Promise<DbJob[]> => {
  const { rows } = await db.query<DbJob>(
    /* sql */ `
      WITH paused AS MATERIALIZED (SELECT ${JOB_SELECT} FROM ${t.jobs} WHERE status = 'paused' AND paused_by = 'shutdown')
      SELECT * FROM paused WHERE name = ANY($1::text[]) ORDER BY seq`,
    [types],
  )
  return rows
}

export const damaged = async (db: Queryable, t: Tables): Promise<DbJob[]> => {
  // The predicate of the partial index jobs_damaged, word for word, so the planner uses it.
  const { rows } = await db.query<DbJob>(/* sql */ `
    SELECT ${JOB_SELECT} FROM ${t.jobs}
    WHERE status NOT IN (${ANY_STATUS})
    ORDER BY seq`)
  return rows
}
