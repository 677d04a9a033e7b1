import type pg from "pg"
import type { ClaimRequest, ClaimRow, JobWrite } from "../JobStore.js"
import { statusBody } from "../eventRows.js"
import { applyWrites } from "./writes.js"
import { endWaits, waitingParents } from "./families.js"
import { corked, type Tables } from "./connection.js"

/**
 * Inside the commit's transaction: locks up to `limit` queued rows of the claimant's types,
 * highest priority first and FIFO within, skipping rows another claimant holds locked (so
 * two workers never wait for, nor take, the same row); lets the engine decide each; starts
 * the ones it starts under the claimant and fails the ones it cannot run. Returns the started
 * rows, as read, in claim order.
 */
const MAX_INT = 2_147_483_647

/**
 * Sends the claim's read (the queued rows it locks) and returns its rows. Sent at once, so that
 * on a pipelined connection it travels with the statements sent before it.
 */
export const readClaimable = async (client: pg.PoolClient, t: Tables, claim: ClaimRequest): Promise<ReadonlyArray<ClaimRow>> => {
  // The index jobs_status serves the order; only what a start needs is read.
  // Two statements, not one with "$3 IS NULL OR …": a prepared statement's generic plan must
  // not trade the index for a plan that suits the other case.
  const { rows } = await client.query<ClaimRow>(
    claim.ids === undefined
      ? {
          name: "jobstate.claim",
          text: /* sql */ `
            SELECT seq, id, name, status, params, data, snapshot, priority, state_version, owner, options, state_schema_version, updated_at, parent_id
            FROM ${t.jobs}
            WHERE status = 'queued' AND name = ANY($1::text[]) AND (run_at IS NULL OR run_at <= $3) AND state_schema_version <= $4
              AND NOT awaiting_children
            ORDER BY priority DESC, seq
            LIMIT $2
            FOR UPDATE SKIP LOCKED`,
          values: [claim.types, claim.limit, claim.nowMs ?? Date.now(), claim.maxStateVersion ?? MAX_INT],
        }
      : {
          name: "jobstate.claimIds",
          text: /* sql */ `
            SELECT seq, id, name, status, params, data, snapshot, priority, state_version, owner, options, state_schema_version, updated_at, parent_id
            FROM ${t.jobs}
            WHERE id = ANY($3::text[]) AND status = 'queued' AND name = ANY($1::text[]) AND (run_at IS NULL OR run_at <= $4)
              AND state_schema_version <= $5 AND NOT awaiting_children
            ORDER BY priority DESC, seq
            LIMIT $2
            FOR UPDATE SKIP LOCKED`,
          values: [claim.types, claim.limit, claim.ids, claim.nowMs ?? Date.now(), claim.maxStateVersion ?? MAX_INT],
        },
  )
  return rows
}

/**
 * Lets the engine decide each locked row, starts the ones it starts and fails the others; with
 * fewer rows than asked for, also reads when the next waiting one is due. These statements are
 * sent together, without waiting for one another, and `commit` is called once they are sent.
 */
export const startClaimed = async (
  client: pg.PoolClient,
  t: Tables,
  claim: ClaimRequest,
  rows: ReadonlyArray<ClaimRow>,
  commit: () => void,
): Promise<{ claimed: ClaimRow[]; nextRunAt?: number | null }> => {
  const [claimed, next] = corked(client, () => {
    const sent = [startRows(client, t, claim, rows), rows.length === claim.limit ? undefined : nextRunAt(client, t, claim)] as const
    commit()
    return sent
  })
  const [started, nextAt] = await Promise.all([claimed, next])
  return next === undefined ? { claimed: started } : { claimed: started, nextRunAt: nextAt ?? null }
}

/** The earliest `run_at` of the claimant's waiting rows (the partial index jobs_run_at). */
const nextRunAt = async (client: pg.PoolClient, t: Tables, claim: ClaimRequest): Promise<number | null> => {
  const { rows } = await client.query<{ next: number | null }>({
    name: claim.ids === undefined ? "jobstate.nextRunAt" : "jobstate.nextRunAtOf",
    text: /* sql */ `
      SELECT min(run_at) AS next FROM ${t.jobs}
      WHERE status = 'queued' AND run_at IS NOT NULL AND run_at > $2 AND name = ANY($1::text[])${claim.ids === undefined ? "" : " AND id = ANY($3::text[])"}`,
    values: claim.ids === undefined ? [claim.types, claim.nowMs ?? Date.now()] : [claim.types, claim.nowMs ?? Date.now(), claim.ids],
  })
  return rows[0]?.next ?? null
}

/**
 * Decides every row and sends the statements that carry the decisions. Not async: a decision
 * that throws throws here, before the caller sends COMMIT.
 */
const startRows = (client: pg.PoolClient, t: Tables, claim: ClaimRequest, rows: ReadonlyArray<ClaimRow>): Promise<ClaimRow[]> => {
  if (rows.length === 0) return Promise.resolve([])

  const starts: Array<{ row: ClaimRow; status: string; snapshot: Buffer; attempts: number; data: Buffer | null; version: number | null }> = []
  const fails: JobWrite[] = []
  for (const row of rows) {
    const decision = claim.decide(row)
    if ("skip" in decision) continue
    if ("start" in decision) {
      const { start, migrated } = decision
      starts.push({ row, status: start.status, snapshot: start.snapshot, attempts: start.attempts, data: migrated?.data ?? null, version: migrated?.stateSchemaVersion ?? null })
    }
    // A row that cannot run is failed like any transition, in this same transaction.
    else
      fails.push({
        kind: "transition",
        id: row.id,
        expect: { status: "queued", owner: row.owner },
        lifecycle: decision.fail,
        at: claim.at,
        parentId: row.parent_id,
        ...(claim.events ? { event: { name: row.name, writer: claim.owner } } : {}),
      })
  }

  const sent: Array<Promise<unknown>> = []
  let startedIds: Promise<pg.QueryResult<{ id: string }>> | undefined
  if (starts.length === 1) {
    // One row (every claim at concurrency 1): a plain UPDATE, planned in a fraction of the time
    // the join with unnest takes. Same columns, same guard.
    const [s] = starts as [(typeof starts)[number]]
    startedIds = client.query<{ id: string }>({
      name: "jobstate.startOne",
      text: /* sql */ `
        UPDATE ${t.jobs} SET status = $3, snapshot = $4, attempts = $5, owner = $1,
          started_at = COALESCE(started_at, $2), request = NULL, paused_by = NULL, run_at = NULL, updated_at = $2,
          data = COALESCE($6, data), state_schema_version = COALESCE($7, state_schema_version)
        WHERE id = $8 AND status = 'queued'
        RETURNING id`,
      values: [claim.owner, claim.at, s.status, s.snapshot, s.attempts, s.data, s.version, s.row.id],
    })
  } else if (starts.length > 0) {
    // The rows are locked by this transaction, so the guard holds; it is kept as a statement of intent.
    startedIds = client.query<{ id: string }>({
      name: "jobstate.start",
      text: /* sql */ `
        UPDATE ${t.jobs} j SET status = s.status, snapshot = s.snapshot, attempts = s.attempts, owner = $1,
          started_at = COALESCE(j.started_at, $2), request = NULL, paused_by = NULL, run_at = NULL, updated_at = $2,
          data = COALESCE(s.data, j.data), state_schema_version = COALESCE(s.version, j.state_schema_version)
        FROM unnest($3::text[], $4::text[], $5::bytea[], $6::int[], $7::bytea[], $8::int[]) AS s(id, status, snapshot, attempts, data, version)
        WHERE j.id = s.id AND j.status = 'queued'
        RETURNING j.id`,
      values: [
        claim.owner,
        claim.at,
        starts.map((s) => s.row.id),
        starts.map((s) => s.status),
        starts.map((s) => s.snapshot),
        starts.map((s) => s.attempts),
        starts.map((s) => s.data),
        starts.map((s) => s.version),
      ],
    })
  }
  if (startedIds !== undefined) {
    sent.push(startedIds)
    if (claim.events) {
      // Only while some manager listens: one more statement in the claim's transaction, run
      // after the start (so it sees which rows it started).
      sent.push(client.query({
        name: "jobstate.startEvents",
        text: /* sql */ `
          INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
          SELECT e.id, e.name, $1, 'status', e.body, $2
          FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, name, body, n)
          JOIN ${t.jobs} j ON j.id = e.id AND j.status = 'running' AND j.owner = $1
          ORDER BY e.n`,
        values: [claim.owner, claim.at, starts.map((s) => s.row.id), starts.map((s) => s.row.name), starts.map((s) => statusBody(s.status))],
      }))
    }
  }
  if (fails.length > 0) {
    sent.push(applyWrites(client, t, fails))
    // A child that cannot run has ended: its parent may have no live child left.
    sent.push(endWaits(client, t, waitingParents(fails)))
  }
  return Promise.all(sent).then(async () => {
    if (startedIds === undefined) return []
    const started = new Set((await startedIds).rows.map(({ id }) => id))
    return starts.filter((s) => started.has(s.row.id)).map((s) => s.row)
  })
}
