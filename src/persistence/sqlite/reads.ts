import type Database from "better-sqlite3"
import { JOB_SELECT } from "../jobColumns.js"
import { listOrder, type DbJob, type DbLog, type EndedCount, type JobCount, type JobQuery } from "../JobStore.js"
import { LIVE, NOT_A_STATUS } from "../sqlStatuses.js"
import { json } from "./connection.js"

/** What the store reads for the API, the CLI and recovery: rows, counts, log lines. */
export const prepareReads = (db: Database.Database) => {
  const get = db.prepare(/* sql */ `SELECT ${JOB_SELECT} FROM jobs WHERE id = ?`)
  const holderOf = db.prepare(/* sql */ `
    SELECT id, name FROM jobs WHERE name = ? AND unique_key = ? AND status IN (${LIVE})`)
  const childCounts = db.prepare(
    /* sql */ `SELECT status, count(*) AS count FROM jobs WHERE parent_id = ? GROUP BY status`,
  )
  // The status index covers status; name is read from each row: one scan, no blob read out.
  // Kept by triggers (migration 11): a few rows, whatever the number of jobs.
  const countJobs = db.prepare(
    /* sql */ `SELECT status, name, count FROM job_counts WHERE count > 0 ORDER BY status, name`,
  )
  // The partial index jobs_completed (a comparison on completed_at implies it is not null).
  const endedPerMinute = db.prepare(/* sql */ `
    SELECT substr(completed_at, 1, 16) AS minute, status, count(*) AS count FROM jobs
    WHERE completed_at >= ? GROUP BY minute, status ORDER BY minute`)
  const idsWithPrefix = db.prepare(/* sql */ `SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`).pluck()
  const logs = db.prepare(/* sql */ `SELECT * FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`)
  // Served by the index jobs_status: running rows are few however many jobs there are.
  const orphans = db.prepare(/* sql */ `
    SELECT ${JOB_SELECT} FROM jobs WHERE status = 'running' AND name IN (SELECT value FROM json_each(@types))
      AND (owner IS NULL OR owner NOT IN (SELECT value FROM json_each(@owners)))
    ORDER BY seq`)
  const pausedByShutdown = db.prepare(/* sql */ `
    SELECT ${JOB_SELECT} FROM jobs WHERE status = 'paused' AND paused_by = 'shutdown' AND name IN (SELECT value FROM json_each(?))
    ORDER BY seq`)
  // The predicate of the partial index jobs_damaged, so the planner reads only that index.
  const damaged = db.prepare(/* sql */ `SELECT ${JOB_SELECT} FROM jobs WHERE ${NOT_A_STATUS} ORDER BY seq`)
  const listStatements = new Map<string, Database.Statement>()

  return {
    getJob: (id: string) => get.get(id) as DbJob | undefined,
    /** The live job of type `name` holding `uniqueKey`, if any. */
    holderOf: (name: string, uniqueKey: string) =>
      holderOf.get(name, uniqueKey) as { id: string; name: string } | undefined,
    listJobs: (query: JobQuery): DbJob[] => {
      const where: string[] = []
      const params: unknown[] = []
      if (query.status !== undefined) where.push("status = ?") && params.push(query.status)
      if (query.name !== undefined) where.push("name = ?") && params.push(query.name)
      if (query.parentId !== undefined) where.push("parent_id = ?") && params.push(query.parentId)
      if (query.createdAfter !== undefined) where.push("created_at >= ?") && params.push(query.createdAfter)
      if (query.createdBefore !== undefined) where.push("created_at < ?") && params.push(query.createdBefore)
      const { bound, desc, reverse } = listOrder(query)
      if (bound !== undefined) where.push(`seq ${bound.op} ?`) && params.push(bound.seq)
      const sql = `SELECT ${JOB_SELECT} FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${desc ? "DESC" : "ASC"} LIMIT ? OFFSET ?`
      // A few hundred shapes at most (the filters, the order, a cursor): each prepared once, since a worker draining polls this.
      let statement = listStatements.get(sql)
      if (statement === undefined) listStatements.set(sql, (statement = db.prepare(sql)))
      const rows = statement.all(...params, query.limit ?? -1, query.offset ?? 0) as DbJob[]
      return reverse ? rows.reverse() : rows
    },
    childCounts: (parentId: string) => childCounts.all(parentId) as Array<{ status: string; count: number }>,
    countJobs: () => countJobs.all() as JobCount[],
    endedPerMinute: (since: string) => endedPerMinute.all(since) as EndedCount[],
    // The range instead of LIKE: the unique index on id serves it, and no character is special.
    idsWithPrefix: (prefix: string, limit: number) => idsWithPrefix.all(prefix, `${prefix}\uffff`, limit) as string[],
    logs: (jobId: string, afterSeq: number, limit: number) => logs.all(jobId, afterSeq, limit) as DbLog[],
    orphans: (types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>) =>
      orphans.all({ types: json(types), owners: json(liveOwners) }) as DbJob[],
    pausedByShutdown: (types: ReadonlyArray<string>) => pausedByShutdown.all(json(types)) as DbJob[],
    damaged: () => damaged.all() as DbJob[],
  }
}

export type SqliteReads = ReturnType<typeof prepareReads>
