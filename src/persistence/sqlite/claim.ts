import type Database from "better-sqlite3"
import { statusBody } from "../eventRows.js"
import { claimFailure, type ClaimRequest, type ClaimRow } from "../JobStore.js"
import { CLAIM_SELECT, startSet, startValues } from "../jobColumns.js"
import { json, sqliteRefs } from "./connection.js"
import type { SqliteEvents } from "./events.js"
import type { SqliteWrites } from "./writes.js"

/**
 * The claim, inside a group commit's transaction: reads the due queued rows of the claimant's
 * types (highest priority first, FIFO within), lets the engine decide each, starts the ones it
 * starts and fails the ones it cannot run.
 */
export const prepareClaim = (
  db: Database.Database,
  deps: { readonly writes: SqliteWrites; readonly events: SqliteEvents; readonly now: () => number },
) => {
  const { writes, events, now } = deps
  // The claim of a manager that runs only the jobs it dispatched (see `nextQueued`).
  const queuedWithIds = db.prepare(/* sql */ `
    SELECT ${CLAIM_SELECT}
    FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND status = 'queued' AND name IN (SELECT value FROM json_each(?))
      AND (run_at IS NULL OR run_at <= ?) AND awaiting_children = 0 AND (awaiting_events = 0 OR run_at IS NOT NULL) AND state_schema_version <= coalesce(?, state_schema_version)
    ORDER BY priority DESC, seq LIMIT ?`)
  // By the partial index jobs_run_at, named: SQLite otherwise read every queued row by jobs_status.
  const nextRunAt = db
    .prepare(/* sql */ `
    SELECT min(run_at) FROM jobs INDEXED BY jobs_run_at
    WHERE status = 'queued' AND run_at IS NOT NULL AND name IN (SELECT value FROM json_each(?)) AND run_at > ?`)
    .pluck()
  const nextRunAtOf = db
    .prepare(/* sql */ `
    SELECT min(run_at) FROM jobs
    WHERE status = 'queued' AND run_at IS NOT NULL AND id IN (SELECT value FROM json_each(?)) AND name IN (SELECT value FROM json_each(?)) AND run_at > ?`)
    .pluck()
  const start = db.prepare(/* sql */ `UPDATE jobs SET ${startSet(sqliteRefs)} WHERE seq = @seq AND status = 'queued'`)

  const nextQueuedStatements = new Map<number, Database.Statement>()
  const nextQueued = (count: number): Database.Statement => {
    let statement = nextQueuedStatements.get(count)
    if (statement === undefined) nextQueuedStatements.set(count, (statement = db.prepare(claimSql(count))))
    return statement
  }

  return (claim: ClaimRequest): { claimed: ClaimRow[]; nextRunAt?: number | null } => {
    const types = json(claim.types)
    const nowMs = claim.nowMs ?? now()
    const rows = (
      claim.ids === undefined
        ? nextQueued(claim.types.length).all(
            claimValues(claim.types, nowMs, claim.maxStateVersion ?? null, claim.limit),
          )
        : queuedWithIds.all(json(claim.ids), types, nowMs, claim.maxStateVersion ?? null, claim.limit)
    ) as ClaimRow[]
    const claimed: ClaimRow[] = []
    for (const row of rows) {
      const decision = claim.decide(row)
      if ("skip" in decision) continue
      if ("start" in decision) {
        const ok =
          start.run({ seq: row.seq, ...startValues(decision.start, decision.migrated, claim.owner, claim.at) })
            .changes > 0
        if (ok) claimed.push(row)
        if (ok && claim.events)
          events.record(
            row.id,
            { name: row.name, writer: claim.owner },
            "status",
            statusBody(decision.start.status),
            claim.at,
          )
      }
      // A row that cannot run is failed like any transition, in this same transaction.
      else writes.apply(claimFailure(claim, row, decision.fail))
    }
    if (rows.length === claim.limit) return { claimed }
    // Fewer due rows than slots: when is the next waiting one due? (The partial index jobs_run_at.)
    const next = (
      claim.ids === undefined ? nextRunAt.get(types, nowMs) : nextRunAtOf.get(json(claim.ids), types, nowMs)
    ) as number | null
    return { claimed, nextRunAt: next }
  }
}

/** What `claimSql(types.length)` binds. */
export const claimValues = (
  types: ReadonlyArray<string>,
  now: number,
  maxVersion: number | null,
  limit: number,
): Record<string, unknown> => {
  const values: Record<string, unknown> = { now, max_version: maxVersion, limit }
  types.forEach((type, k) => (values[`type${k + 1}`] = type))
  return values
}

/**
 * The claim's read for `count` types (bound by `claimValues`): each type's due rows from its own range of the partial index
 * jobs_queued (name, priority DESC, seq), highest priority first and FIFO within, then the best
 * of those. One range a type, so queued jobs of types the claimant does not run are never read.
 * Waiting rows (run_at later than now) are passed over, not taken. The index is named, so that
 * the planner never takes jobs_name for the type and sorts.
 */
export const claimSql = (count: number): string => {
  const [now, maxVersion, limit] = ["@now", "@max_version", "@limit"]
  const ofType = (n: number) => /* sql */ `
    SELECT * FROM (
      SELECT ${CLAIM_SELECT} FROM jobs INDEXED BY jobs_queued
      WHERE status = 'queued' AND name = @type${n} AND (run_at IS NULL OR run_at <= ${now})
        AND awaiting_children = 0 AND (awaiting_events = 0 OR run_at IS NOT NULL)
        AND state_schema_version <= coalesce(${maxVersion}, state_schema_version)
      ORDER BY priority DESC, seq LIMIT ${limit})`
  const types = Array.from({ length: count }, (_, k) => ofType(k + 1))
  return count === 1 ? types[0]! : `${types.join(" UNION ALL ")} ORDER BY priority DESC, seq LIMIT ${limit}`
}
