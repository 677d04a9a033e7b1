import type pg from "pg"
import { statusBody } from "../eventRows.js"
import { CLAIM_SELECT, claimColumnNames, columnList, START_VALUES, startSet, startValues } from "../jobColumns.js"
import { claimFailure, type ClaimRequest, type ClaimRow, type JobWrite } from "../JobStore.js"
import { corked, type Tables } from "./connection.js"
import { endWaits, waitingParents } from "./families.js"
import { perSchema, statement, unnestRefs, type Params } from "./params.js"
import { applyWrites } from "./writes.js"

/**
 * Inside the commit's transaction: locks up to `limit` queued rows of the claimant's types,
 * highest priority first and FIFO within, skipping rows another claimant holds locked (so
 * two workers never wait for, nor take, the same row); lets the engine decide each; starts
 * the ones it starts under the claimant and fails the ones it cannot run. Returns the started
 * rows, as read, in claim order.
 */
const MAX_INT = 2_147_483_647

/**
 * The claim's read, and the next due time of the claimant's waiting rows. Two statements each,
 * not one with "ids IS NULL OR …": a prepared statement's generic plan must not trade the index
 * for a plan that suits the other case.
 */
export const claimStatements = perSchema((t) => {
  const due = (p: Params, alias: string) => /* sql */ `${alias}.status = 'queued'
          AND (${alias}.run_at IS NULL OR ${alias}.run_at <= ${p.value("now")}) AND ${alias}.state_schema_version <= ${p.value("max_version")}
          AND NOT ${alias}.awaiting_children AND (NOT ${alias}.awaiting_events OR ${alias}.run_at IS NOT NULL)`
  // Each type's due rows from its own range of jobs_queued (name, priority DESC, seq), locked as
  // read, then the best of those: queued jobs of types the claimant does not run are never read.
  // (A type's rows beyond the best `limit` of all are locked until the claim commits, unstarted.)
  const claim = statement(
    (p) => /* sql */ `
        SELECT ${columnList(claimColumnNames, "c")}
        FROM unnest(${p.value("types", "text[]")}) AS t(name)
        CROSS JOIN LATERAL (
          SELECT ${CLAIM_SELECT} FROM ${t.jobs} j
          WHERE j.name = t.name AND ${due(p, "j")}
          ORDER BY j.priority DESC, j.seq
          LIMIT ${p.value("limit")}
          FOR UPDATE SKIP LOCKED
        ) c
        ORDER BY c.priority DESC, c.seq
        LIMIT ${p.value("limit")}`,
  )
  // A manager that runs only the jobs it dispatched: by their ids.
  const claimIds = statement(
    (p) => /* sql */ `
        SELECT ${CLAIM_SELECT}
        FROM ${t.jobs} j
        WHERE id = ANY(${p.value("ids", "text[]")}) AND name = ANY(${p.value("types", "text[]")}) AND ${due(p, "j")}
        ORDER BY priority DESC, seq
        LIMIT ${p.value("limit")}
        FOR UPDATE SKIP LOCKED`,
  )
  // The partial index jobs_run_at.
  const nextRunAt = (byIds: boolean) =>
    statement(
      (p) => /* sql */ `
        SELECT min(run_at) AS next FROM ${t.jobs}
        WHERE status = 'queued' AND run_at IS NOT NULL AND run_at > ${p.value("now")} AND name = ANY(${p.value("types", "text[]")})${byIds ? ` AND id = ANY(${p.value("ids", "text[]")})` : ""}`,
    )
  return { claim, claimIds, nextRunAt: nextRunAt(false), nextRunAtOf: nextRunAt(true) }
})

/** What the claim's statements bind. */
const claimValues = (claim: ClaimRequest) => ({
  types: claim.types,
  ids: claim.ids ?? null,
  now: claim.nowMs ?? Date.now(),
  max_version: claim.maxStateVersion ?? MAX_INT,
  limit: claim.limit,
})

/**
 * Sends the claim's read (the queued rows it locks) and returns its rows. Sent at once, so that
 * on a pipelined connection it travels with the statements sent before it.
 */
export const readClaimable = async (
  client: pg.PoolClient,
  t: Tables,
  claim: ClaimRequest,
): Promise<ReadonlyArray<ClaimRow>> => {
  // The partial index jobs_queued serves the order; only what a start needs is read.
  const statements = claimStatements(t)
  const { text, params } = claim.ids === undefined ? statements.claim : statements.claimIds
  const name = claim.ids === undefined ? "jobstate.claim" : "jobstate.claimIds"
  const { rows } = await client.query<ClaimRow>({ name, text, values: params.bind(claimValues(claim)) })
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
    const sent = [
      startRows(client, t, claim, rows),
      rows.length === claim.limit ? undefined : nextRunAt(client, t, claim),
    ] as const
    commit()
    return sent
  })
  const [started, nextAt] = await Promise.all([claimed, next])
  return next === undefined ? { claimed: started } : { claimed: started, nextRunAt: nextAt ?? null }
}

/** The earliest `run_at` of the claimant's waiting rows. */
const nextRunAt = async (client: pg.PoolClient, t: Tables, claim: ClaimRequest): Promise<number | null> => {
  const statements = claimStatements(t)
  const { text, params } = claim.ids === undefined ? statements.nextRunAt : statements.nextRunAtOf
  const name = claim.ids === undefined ? "jobstate.nextRunAt" : "jobstate.nextRunAtOf"
  const { rows } = await client.query<{ next: number | null }>({ name, text, values: params.bind(claimValues(claim)) })
  return rows[0]?.next ?? null
}

/**
 * A start: one row (every claim at concurrency 1) as a plain UPDATE, planned in a fraction of
 * the time the join with unnest takes; several from unnest. Same columns, same guard; the rows
 * are locked by this transaction, so the guard holds, kept as a statement of intent. Then, while
 * some manager listens, the starts' events, run after the start (so it sees which rows it started).
 */
const startStatements = perSchema((t) => ({
  one: statement(
    (p) =>
      /* sql */ `UPDATE ${t.jobs} SET ${startSet(p.refs())} WHERE id = ${p.value("id", "text")} AND status = 'queued' RETURNING id`,
  ),
  many: statement(
    (p) => /* sql */ `
      UPDATE ${t.jobs} j SET ${startSet(unnestRefs("s", "j"))}
      FROM ${p.unnest("s", ["id", ...START_VALUES])}
      WHERE j.id = s.id AND j.status = 'queued'
      RETURNING j.id`,
  ),
  events: statement(
    (p) => /* sql */ `
      INSERT INTO ${t.events} (job_id, name, writer, type, body, at)
      SELECT e.id, e.name, ${p.value("owner")}, 'status', e.body, ${p.value("at")}
      FROM ${p.unnest("e", ["id", "name", "body"], true)}
      JOIN ${t.jobs} j ON j.id = e.id AND j.status = 'running' AND j.owner = ${p.value("owner")}
      ORDER BY e.n`,
  ),
}))

/**
 * Decides every row and sends the statements that carry the decisions. Not async: a decision
 * that throws throws here, before the caller sends COMMIT.
 */
const startRows = (
  client: pg.PoolClient,
  t: Tables,
  claim: ClaimRequest,
  rows: ReadonlyArray<ClaimRow>,
): Promise<ClaimRow[]> => {
  if (rows.length === 0) return Promise.resolve([])

  const starts: Array<{ row: ClaimRow; values: Record<string, unknown> }> = []
  const fails: JobWrite[] = []
  for (const row of rows) {
    const decision = claim.decide(row)
    if ("skip" in decision) continue
    if ("start" in decision)
      starts.push({
        row,
        values: { id: row.id, ...startValues(decision.start, decision.migrated, claim.owner, claim.at) },
      })
    // A row that cannot run is failed like any transition, in this same transaction.
    else fails.push(claimFailure(claim, row, decision.fail))
  }

  const statements = startStatements(t)
  const sent: Array<Promise<unknown>> = []
  let startedIds: Promise<pg.QueryResult<{ id: string }>> | undefined
  if (starts.length === 1) {
    const { text, params } = statements.one
    startedIds = client.query<{ id: string }>({
      name: "jobstate.startOne",
      text,
      values: params.bind(starts[0]!.values),
    })
  } else if (starts.length > 0) {
    const { text, params } = statements.many
    startedIds = client.query<{ id: string }>({
      name: "jobstate.start",
      text,
      values: params.bind({}, { s: starts.map((s) => s.values) }),
    })
  }
  if (startedIds !== undefined) {
    sent.push(startedIds)
    if (claim.events) {
      const { text, params } = statements.events
      const events = starts.map((s) => ({
        id: s.row.id,
        name: s.row.name,
        body: statusBody(s.values.status as string),
      }))
      sent.push(
        client.query({
          name: "jobstate.startEvents",
          text,
          values: params.bind({ owner: claim.owner, at: claim.at }, { e: events }),
        }),
      )
    }
  }
  if (fails.length > 0) {
    sent.push(applyWrites(client, t, fails))
    // A child that cannot run has ended: its parent may have no live child left.
    sent.push(endWaits(client, t, waitingParents(fails), fails))
  }
  return Promise.all(sent).then(async () => {
    if (startedIds === undefined) return []
    const started = new Set((await startedIds).rows.map(({ id }) => id))
    return starts.filter((s) => started.has(s.row.id)).map((s) => s.row)
  })
}
