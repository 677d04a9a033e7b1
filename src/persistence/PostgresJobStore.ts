import { isTransientCause } from "./storeFailure.js"
import type pg from "pg"
import { PersistenceError } from "../jobs/errors.js"
import type {
  ClaimRequest,
  ClaimRow,
  CommitResult,
  DbEvent,
  DbJob,
  DbLog,
  JobQuery,
  JobStore,
  JobWrite,
  Lease,
  LeaseWrite,
  InsertResult,
  NewChild,
  NewJob,
  RowExpectation,
  DbSchedule,
  ScheduleFire,
  ScheduleWrite,
  JobCount,
  EndedCount,
  StoreCheck,
} from "./JobStore.js"
import { statusBody } from "./eventRows.js"
import { applyWrites, planWrites } from "./postgres/applyWrites.js"
import { ChangeListener } from "./postgres/ChangeListener.js"
import { readClaimable, startClaimed } from "./postgres/claimJobs.js"
import { endWaits, lockParents, waitingParents } from "./postgres/families.js"
import { insertJobSql, newJobValues } from "./postgres/insertJob.js"
import {
  backendPid,
  channelOf,
  checkSchemaName,
  describeLocation,
  inTransaction,
  jobColumns,
  makePool,
  persistenceError,
  quoteIdent,
  tablesOf,
  type Tables,
} from "./postgres/connection.js"
import * as leases from "./postgres/leases.js"
import { assertReadable, latestPgSchemaVersion, migrate } from "./postgres/migrations.js"
import * as schedules from "./postgres/schedules.js"
import * as prune from "./postgres/prune.js"
import { DEFAULT_PRUNE_BATCH, pruneCutoff, pruneInBatches, type PruneRequest } from "./prune.js"
import { ANY_STATUS, LIVE } from "./sqlStatuses.js"

/** A limit as SQLite takes it (absent or negative: none) in PostgreSQL's terms (NULL: none; a negative one is an error). */
const noLimit = (limit: number | undefined): number | null => (limit === undefined || limit < 0 ? null : limit)

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  readonly databaseUrl: string
  /** The schema that holds the tables; default `public` (the database's own). Lowercase letters, digits and `_`. */
  readonly schema?: string
  /** No clock to inject: leases are judged by the database's clock, the one every worker shares. */
  readonly now?: never
  /** For tools that only look: the schema must exist at this version; nothing is created or migrated. */
  readonly readOnly?: boolean
}

/**
 * How a group commit begins. Its statements must walk indexes: the claim must read `jobs_status`
 * in order and stop at its LIMIT. The planner, with statistics taken while the table was small
 * (or never), picks a bitmap scan instead, which reads every queued row and sorts them (a cost
 * that grows with the queue, per claim) and never marks the index entries of rows claimed
 * before as dead, so those pile up until a vacuum. In the commit's transaction only.
 */
const beginCommit = "BEGIN; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"

/**
 * The PostgreSQL store: many processes on many machines share one schema. Every call is
 * asynchronous on a small pool (`pg`); a group commit is one transaction; claims lock with
 * `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same job; a trigger NOTIFYs
 * on every dispatch, status change and command, and `watch` LISTENs.
 */
export class PostgresJobStore implements JobStore {
  readonly location: string
  readonly schema: string
  private readonly pool: pg.Pool
  private readonly t: Tables
  private readonly listener: ChangeListener
  private readonly channel: string
  /** Backend pids of this store's pooled connections: notifications they caused are not news here. */
  private readonly ownBackends = new Set<number>()
  private closing: Promise<void> | undefined
  /** The last error an idle pooled connection reported; the pool has replaced that connection. */
  lastPoolError: Error | undefined

  /** Connects, and migrates the schema (or refuses a newer one, untouched). */
  static async open(options: PostgresStoreOptions): Promise<PostgresJobStore> {
    const schema = options.schema ?? "public"
    checkSchemaName(schema)
    const location = describeLocation(options.databaseUrl, schema)
    const store = new PostgresJobStore(options.databaseUrl, schema, location)
    try {
      const client = await store.pool.connect()
      try {
        if (options.readOnly) await assertReadable(client, schema, location)
        else await migrate(client, schema, location)
      } finally {
        client.release()
      }
      return store
    } catch (cause) {
      await store.close()
      if (cause instanceof PersistenceError) throw cause
      const { detail } = persistenceError("open", "Open", cause)
      throw new PersistenceError({ operation: "open", reason: "Open", detail: `${location}: ${detail}`, cause })
    }
  }

  private constructor(databaseUrl: string, schema: string, location: string) {
    this.location = location
    this.schema = schema
    this.t = tablesOf(schema)
    this.pool = makePool(databaseUrl, (error) => void (this.lastPoolError = error))
    this.pool.on("connect", (client) => {
      const pid = backendPid(client)
      if (pid !== undefined) this.ownBackends.add(pid)
    })
    this.pool.on("remove", (client) => {
      const pid = backendPid(client)
      if (pid !== undefined) this.ownBackends.delete(pid)
    })
    this.channel = channelOf(schema)
    this.listener = new ChangeListener({ databaseUrl, channel: this.channel, isOwnBackend: (pid) => this.ownBackends.has(pid) })
  }

  insertJob(job: NewJob): Promise<InsertResult> {
    return this.call("dispatch", "Write", async () => {
      const values = newJobValues(job)
      const columns = insertJobSql(this.t)
      const unique = `${columns} ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND status IN (${LIVE}) DO NOTHING`
      // Recorded for listeners in other processes: one statement, so the row and its event commit together.
      const insert =
        job.event === undefined
          ? { name: "jobstate.insertUnique", text: unique, values }
          : {
              name: "jobstate.insertRecorded",
              text: /* sql */ `
                WITH j AS (${unique} RETURNING id, created_at),
                e AS (INSERT INTO ${this.t.events} (job_id, name, writer, type, body, at) SELECT id, $2, $12, 'status', $13, created_at FROM j)
                SELECT id FROM j`,
              values: [...values, job.event.writer, statusBody("queued")],
            }
      if ((job.uniqueKey === undefined || job.uniqueKey === null) && job.event === undefined) {
        await this.pool.query({ name: "jobstate.insert", text: columns, values })
        return { inserted: true }
      }
      // Refused (nothing stored) while a live job holds the key (the partial unique index);
      // the holder may end before it is read: then the insert is tried again.
      for (;;) {
        const stored = await this.pool.query(insert)
        if ((stored.rowCount ?? 0) > 0) return { inserted: true }
        if (job.uniqueKey === undefined || job.uniqueKey === null) throw new Error(`job ${job.id} was not stored`)
        const { rows } = await this.pool.query<{ id: string; name: string }>({
          name: "jobstate.holderOf",
          text: `SELECT id, name FROM ${this.t.jobs} WHERE name = $1 AND unique_key = $2 AND status IN (${LIVE})`,
          values: [job.name, job.uniqueKey],
        })
        if (rows[0] !== undefined) return { inserted: false, existing: rows[0] }
      }
    })
  }

  getJob(id: string): Promise<DbJob | undefined> {
    return this.call("getJob", "Read", async () => {
      const { rows } = await this.pool.query<DbJob>({ name: "jobstate.get", text: `SELECT ${jobColumns} FROM ${this.t.jobs} WHERE id = $1`, values: [id] })
      return rows[0]
    })
  }

  uniqueKeyHolder(name: string, uniqueKey: string): Promise<string | undefined> {
    return this.call("getJob", "Read", async () => {
      const { rows } = await this.pool.query<{ id: string }>({
        name: "jobstate.holderOf",
        text: `SELECT id, name FROM ${this.t.jobs} WHERE name = $1 AND unique_key = $2 AND status IN (${LIVE})`,
        values: [name, uniqueKey],
      })
      return rows[0]?.id
    })
  }

  listJobs(query: JobQuery): Promise<ReadonlyArray<DbJob>> {
    return this.call("listJobs", "Read", async () => {
      const where: string[] = []
      const values: unknown[] = []
      if (query.status !== undefined) where.push(`status = $${values.push(query.status)}`)
      if (query.name !== undefined) where.push(`name = $${values.push(query.name)}`)
      if (query.parentId !== undefined) where.push(`parent_id = $${values.push(query.parentId)}`)
      if (query.createdAfter !== undefined) where.push(`created_at >= $${values.push(query.createdAfter)}`)
      if (query.createdBefore !== undefined) where.push(`created_at < $${values.push(query.createdBefore)}`)
      const order = query.order === "newest" ? "DESC" : "ASC"
      const limit = `$${values.push(noLimit(query.limit))}::bigint`
      const offset = `$${values.push(Math.max(0, query.offset ?? 0))}::bigint`
      const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""
      const { rows } = await this.pool.query<DbJob>(`SELECT ${jobColumns} FROM ${this.t.jobs} ${filter} ORDER BY seq ${order} LIMIT ${limit} OFFSET ${offset}`, values)
      return rows
    })
  }

  insertChildren(
    parent: { readonly id: string; readonly owner: string },
    children: ReadonlyArray<NewChild>,
  ): Promise<{ readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined> {
    return this.call("spawnChildren", "Write", () =>
      inTransaction(this.pool, async (client) => {
        const running = await client.query({
          name: "jobstate.runningUnder",
          text: `SELECT 1 FROM ${this.t.jobs} WHERE id = $1 AND status = 'running' AND owner = $2`,
          values: [parent.id, parent.owner],
        })
        if (running.rowCount === 0) return undefined
        const events = children.filter((c) => c.event !== undefined)
        // One statement for every child; a key the parent has already is left as it is.
        const { rows } = await client.query<{ id: string }>({
          name: "jobstate.insertChildren",
          text: /* sql */ `
            INSERT INTO ${this.t.jobs} (id, name, params, data, status, snapshot, priority, created_at, updated_at, state_schema_version, parent_id, child_key)
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
              INSERT INTO ${this.t.events} (job_id, name, writer, type, body, at)
              SELECT e.id, e.name, e.writer, 'status', $1, e.at
              FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, name, writer, at, n)
              ORDER BY e.n`,
            values: [statusBody("queued"), recorded.map((c) => c.id), recorded.map((c) => c.name), recorded.map((c) => c.event!.writer), recorded.map((c) => c.createdAt)],
          })
        }
        const byKey = await client.query<{ id: string; child_key: string }>({
          name: "jobstate.childrenByKey",
          text: `SELECT id, child_key FROM ${this.t.jobs} WHERE parent_id = $1 AND child_key = ANY($2::text[])`,
          values: [parent.id, children.map((c) => c.childKey)],
        })
        const idOf = new Map(byKey.rows.map((r) => [r.child_key, r.id]))
        return { ids: children.map((c) => idOf.get(c.childKey)!), inserted: children.filter((c) => inserted.has(c.id)).map((c) => c.id) }
      }),
    )
  }

  childCounts(parentId: string): Promise<ReadonlyArray<{ readonly status: string; readonly count: number }>> {
    return this.call("childCounts", "Read", async () => {
      const { rows } = await this.pool.query<{ status: string; count: number }>({
        name: "jobstate.childCounts",
        text: `SELECT status, count(*)::int AS count FROM ${this.t.jobs} WHERE parent_id = $1 GROUP BY status`,
        values: [parentId],
      })
      return rows
    })
  }

  check(): Promise<StoreCheck> {
    return this.call("check", "Read", async () => {
      const { rows } = await this.pool.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${quoteIdent(this.schema)}.jobstate_migrations`)
      return { schemaVersion: rows[0]?.version ?? 0, latestSchemaVersion: latestPgSchemaVersion, integrity: undefined }
    })
  }

  countJobs(): Promise<ReadonlyArray<JobCount>> {
    return this.call("countJobs", "Read", async () => {
      const { rows } = await this.pool.query<JobCount>(`SELECT status, name, count(*)::int AS count FROM ${this.t.jobs} GROUP BY status, name`)
      return rows
    })
  }

  endedPerMinute(since: string): Promise<ReadonlyArray<EndedCount>> {
    return this.call("endedPerMinute", "Read", async () => {
      const { rows } = await this.pool.query<EndedCount>(
        `SELECT substr(completed_at, 1, 16) AS minute, status, count(*)::int AS count FROM ${this.t.jobs}
         WHERE completed_at >= $1 GROUP BY minute, status ORDER BY minute`,
        [since],
      )
      return rows
    })
  }

  idsWithPrefix(prefix: string, limit: number): Promise<ReadonlyArray<string>> {
    return this.call("findJob", "Read", async () => {
      // Unnamed, so it is planned with the pattern known: `id` is byte-ordered (COLLATE "C"),
      // so a LIKE with a literal prefix is an index range.
      const pattern = `${prefix.replace(/[\\%_]/g, "\\$&")}%`
      const { rows } = await this.pool.query<{ id: string }>(`SELECT id FROM ${this.t.jobs} WHERE id LIKE $1 ORDER BY id LIMIT $2`, [pattern, noLimit(limit)])
      return rows.map((r) => r.id)
    })
  }

  logs(jobId: string, afterSeq = 0, limit?: number): Promise<ReadonlyArray<DbLog>> {
    return this.call("logs", "Read", async () => {
      const { rows } = await this.pool.query<DbLog>(
        `SELECT seq, job_id, at, level, message FROM ${this.t.logs} WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3::bigint`,
        [jobId, afterSeq, noLimit(limit)],
      )
      return rows
    })
  }

  /**
   * One transaction. The writes go as one set-based statement per "layer" (see `planWrites`;
   * usually one), holding only the parts those writes need (`partsOf`); then the claim locks,
   * decides and starts. A commit of one statement and no claim runs alone, without
   * BEGIN/COMMIT: a single statement is atomic.
   *
   * The pool's connections are pipelined: statements that do not need each other's results go
   * out together and the server runs them in the order sent. So a commit is two round trips
   * whatever it holds: BEGIN, the parents' locks, the writes, the ends of waits and the claim's
   * read; then the starts (and the next due time) and COMMIT. Without a claim, one.
   */
  commit(writes: ReadonlyArray<JobWrite>, claim?: ClaimRequest): Promise<CommitResult> {
    return this.call("commit", "Write", async () => {
      const claiming = claim !== undefined && claim.limit > 0 && claim.types.length > 0
      if (!claiming && writes.length === 0) return { applied: [], claimed: [] }
      const parents = waitingParents(writes)
      if (!claiming && parents.length === 0 && planWrites(writes).length === 1) return { applied: await applyWrites(this.pool, this.t, writes), claimed: [] }
      return inTransaction(
        this.pool,
        async (client, commit) => {
          const sent = Promise.all([
            lockParents(client, this.t, parents),
            applyWrites(client, this.t, writes),
            endWaits(client, this.t, parents),
            claiming ? readClaimable(client, this.t, claim) : undefined,
          ])
          if (!claiming) commit()
          const [, applied, , claimable] = await sent
          return claimable === undefined ? { applied, claimed: [] as ClaimRow[] } : { applied, ...(await startClaimed(client, this.t, claim!, claimable, commit)) }
        },
        beginCommit,
      )
    })
  }

  orphans(types: ReadonlyArray<string>, liveOwners: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", async () => {
      const { rows } = await this.pool.query<DbJob>(
        /* sql */ `
          SELECT ${jobColumns} FROM ${this.t.jobs}
          WHERE status = 'running' AND name = ANY($1::text[]) AND (owner IS NULL OR owner <> ALL($2::text[]))
          ORDER BY seq`,
        [types, liveOwners],
      )
      return rows
    })
  }

  pausedByShutdown(types: ReadonlyArray<string>): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", async () => {
      const { rows } = await this.pool.query<DbJob>(
        `SELECT ${jobColumns} FROM ${this.t.jobs} WHERE status = 'paused' AND paused_by = 'shutdown' AND name = ANY($1::text[]) ORDER BY seq`,
        [types],
      )
      return rows
    })
  }

  damaged(): Promise<ReadonlyArray<DbJob>> {
    return this.call("recover", "Read", async () => {
      // The predicate of the partial index jobs_damaged, word for word, so the planner uses it.
      const { rows } = await this.pool.query<DbJob>(/* sql */ `
        SELECT ${jobColumns} FROM ${this.t.jobs}
        WHERE status NOT IN (${ANY_STATUS})
        ORDER BY seq`)
      return rows
    })
  }

  setOverrides(id: string, expect: RowExpectation, options: string | null): Promise<boolean> {
    return this.setWhere("retry", id, expect, "options", options)
  }

  requestCommand(id: string, expect: RowExpectation, command: string): Promise<boolean> {
    return this.setWhere("command", id, expect, "request", command)
  }

  /** Sets one column of a row where the row is as expected; whether it was. */
  private setWhere(operation: string, id: string, expect: RowExpectation, column: "request" | "options", value: string | null): Promise<boolean> {
    return this.call(operation, "Write", async () => {
      // updated_at by the database's clock, the store's clock here, in the ISO form the engine writes.
      const result = await this.pool.query(
        /* sql */ `
          UPDATE ${this.t.jobs}
          SET ${column} = $4, updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
          WHERE id = $1 AND status = $2 AND owner IS NOT DISTINCT FROM $3 AND ($5::int IS NULL OR attempts = $5)`,
        [id, expect.status, expect.owner, value, expect.attempts ?? null],
      )
      return (result.rowCount ?? 0) > 0
    })
  }

  requestsFor(owner: string): Promise<ReadonlyArray<{ readonly id: string; readonly request: string }>> {
    return this.call("requests", "Read", async () => {
      // The partial index jobs_request serves it: only rows with a command waiting are in it.
      const { rows } = await this.pool.query<{ id: string; request: string }>({
        name: "jobstate.requestsFor",
        text: /* sql */ `SELECT id, request FROM ${this.t.jobs} WHERE owner = $1 AND request IS NOT NULL`,
        values: [owner],
      })
      return rows
    })
  }

  renewLease(lease: LeaseWrite): Promise<void> {
    return this.call("lease", "Write", () => leases.renewLease(this.pool, this.t, lease))
  }

  dropLease(id: string): Promise<void> {
    return this.call("lease", "Write", () => leases.dropLease(this.pool, this.t, id))
  }

  leases(): Promise<ReadonlyArray<Lease>> {
    return this.call("lease", "Read", () => leases.leases(this.pool, this.t))
  }

  forgetLease(id: string, expiresAt: number): Promise<void> {
    return this.call("lease", "Write", () => leases.forgetLease(this.pool, this.t, id, expiresAt))
  }

  upsertSchedule(schedule: ScheduleWrite): Promise<DbSchedule> {
    return this.call("schedule", "Write", () => schedules.upsertSchedule(this.pool, this.t, this.channel, schedule))
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.call("unschedule", "Write", () => schedules.deleteSchedule(this.pool, this.t, this.channel, name))
  }

  listSchedules(): Promise<ReadonlyArray<DbSchedule>> {
    return this.call("listSchedules", "Read", () => schedules.listSchedules(this.pool, this.t))
  }

  fireSchedule(fire: ScheduleFire): Promise<boolean> {
    return this.call("fireSchedule", "Write", () => schedules.fireSchedule(this.pool, this.t, fire))
  }

  eventsAfter(afterSeq: number, gaps: ReadonlyArray<number>, limit: number): Promise<ReadonlyArray<DbEvent>> {
    return this.call("events", "Read", async () => {
      const { rows } = await this.pool.query<DbEvent>({
        name: "jobstate.eventsAfter",
        text: /* sql */ `
          SELECT seq, job_id, name, writer, type, body, at FROM ${this.t.events}
          WHERE seq > $1 OR seq = ANY($2::bigint[])
          ORDER BY seq LIMIT $3`,
        values: [afterSeq, gaps, limit],
      })
      return rows
    })
  }

  lastEventSeq(): Promise<number> {
    return this.call("events", "Read", async () => {
      const { rows } = await this.pool.query<{ last: number | null }>(`SELECT max(seq) AS last FROM ${this.t.events}`)
      return rows[0]?.last ?? 0
    })
  }

  trimEvents(belowSeq: number): Promise<void> {
    return this.call("events", "Write", async () => {
      await this.pool.query(`DELETE FROM ${this.t.events} WHERE seq < $1`, [belowSeq])
    })
  }

  /**
   * Calls `onChange` when another process dispatched, changed a status or left a command
   * (LISTEN/NOTIFY; this store's own writes are not reported back to it), once whenever the
   * LISTEN is (re)established, and every `intervalMs` as a safety net.
   */
  watch(onChange: () => void, intervalMs: number): () => void {
    return this.listener.watch(onChange, intervalMs)
  }

  async pruneJobs(request: PruneRequest, onBatch?: (ids: ReadonlyArray<string>) => void | Promise<void>): Promise<number> {
    const cutoff = await pruneCutoff(request, (status, n) => this.call("prune", "Read", () => prune.nthNewest(this.pool, this.schema, status, n)))
    return pruneInBatches(
      cutoff,
      request.batchSize ?? DEFAULT_PRUNE_BATCH,
      (c, limit) => this.call("prune", "Write", () => prune.deleteBatch(this.pool, this.schema, request.status, c, limit)),
      onBatch,
    )
  }

  /** Ends the pool (after the calls in flight) and the LISTEN connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.listener.close(), this.pool.end().catch(() => undefined)]).then(() => undefined)
    return this.closing
  }

  private async call<A>(operation: string, reason: "Read" | "Write", f: () => Promise<A>): Promise<A> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing !== undefined) throw new PersistenceError({ operation, reason: "Closed", detail: `${this.location} is closed` })
      try {
        return await f()
      } catch (cause) {
        // A read is safe to repeat: one that met a dropped connection gets a fresh one from the pool.
        if (reason === "Read" && attempt < 2 && this.closing === undefined && isTransientCause(cause)) {
          await new Promise((r) => setTimeout(r, 50 * (attempt + 1)))
          continue
        }
        throw persistenceError(operation, this.closing === undefined ? reason : "Closed", cause)
      }
    }
  }
}
