import pg from "pg"
import { PersistenceError } from "../../jobs/errors.js"

/** Something that runs a query: the pool (one statement, autocommit) or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">

/** The schema-qualified names of the store's tables; every statement is built from them. */
export interface Tables {
  readonly jobs: string
  readonly logs: string
  readonly managers: string
  readonly schedules: string
  readonly events: string
  readonly inbox: string
  readonly counts: string
  readonly countChanges: string
}

/**
 * Schema names are spliced into SQL and into the NOTIFY channel name (63 bytes at most), so
 * only plain lowercase identifiers are accepted: no quoting surprises, no case folding.
 */
const schemaPattern = /^[a-z_][a-z0-9_]{0,53}$/

export const checkSchemaName = (schema: string): void => {
  if (!schemaPattern.test(schema)) {
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `schema ${JSON.stringify(schema)} is not a plain lowercase identifier of at most 54 characters ([a-z_][a-z0-9_]*)`,
    })
  }
}

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

export const tablesOf = (schema: string): Tables => {
  const s = quoteIdent(schema)
  return {
    jobs: `${s}.jobs`,
    logs: `${s}.job_logs`,
    managers: `${s}.managers`,
    schedules: `${s}.schedules`,
    events: `${s}.job_events`,
    inbox: `${s}.job_inbox`,
    counts: `${s}.job_counts`,
    countChanges: `${s}.job_count_changes`,
  }
}

/** The channel the schema's trigger notifies on (see migration 1). */
export const channelOf = (schema: string): string => `jobstate_${schema}`

/** The URL without its password, and the schema: for messages. */
export const describeLocation = (databaseUrl: string, schema: string): string => {
  try {
    const url = new URL(databaseUrl)
    url.password = ""
    url.search = ""
    return `${url.toString()} (schema ${schema})`
  } catch {
    return `PostgreSQL (schema ${schema})`
  }
}

const INT8 = 20

/**
 * `bigint` (the `seq` columns, counts) as a JS number, for this pool only: `DbJob.seq` is a
 * number and 2^53 sequence values are out of reach. Everything else keeps pg's parsers
 * (`bytea` → Buffer, `integer` and `double precision` → number).
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
}

export const connectionConfig = (databaseUrl: string, applicationName: string): pg.ClientConfig => ({
  connectionString: databaseUrl,
  application_name: applicationName,
  types,
  // An unreachable server fails the call instead of hanging it.
  connectionTimeoutMillis: 10_000,
  // A peer that vanished without closing its socket (a machine lost) is noticed by TCP,
  // probing after 10 s of silence rather than the system's default two hours.
  keepAlive: true,
  keepAliveInitialDelayMillis: 10_000,
  // A process stuck inside one of our transactions must not hold its row locks forever.
  idle_in_transaction_session_timeout: 60_000,
})

/**
 * A few connections: a group commit holds one for its few round trips, reads take one each.
 * An idle connection that dies (server restart, `pg_terminate_backend`) is reported to
 * `onError` and replaced by the pool on the next call instead of crashing the process.
 */
export const makePool = (databaseUrl: string, onError: (error: Error) => void): pg.Pool => {
  const pool = new pg.Pool({
    ...connectionConfig(databaseUrl, "jobstate"),
    max: 4,
    // Statements sent without waiting for the one before go out together (the group commit
    // sends its writes and the claim's read at once); the server still runs them in order.
    pipeline: true,
    idleTimeoutMillis: 30_000,
    // Idle connections alone do not keep the process alive (the SQLite store holds nothing open either).
    allowExitOnIdle: true,
  })
  pool.on("error", onError)
  return pool
}

/** The backend pid pg learned at connect time (not in pg's types). */
export const backendPid = (client: pg.ClientBase): number | undefined =>
  (client as unknown as { processID?: number }).processID

/**
 * Runs `f` in one transaction on one pooled connection. Any failure rolls back; a connection
 * that failed under us is destroyed, not returned to the pool. While checked out the client
 * gets an `error` listener: pg emits `error` on a client whose backend dies between two of our
 * queries, and an unheard `error` event would crash the process.
 */
export const inTransaction = async <A>(
  pool: pg.Pool,
  f: (client: pg.PoolClient, commit: () => void) => Promise<A>,
  begin = "BEGIN",
): Promise<A> => {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (error: Error) => {
    broken = error
  }
  client.on("error", onError)
  try {
    // Not awaited: on a pipelined connection it travels with f's first statements. So may
    // COMMIT, when f says it has sent its last statement (before it awaits their results):
    // should one of them fail, PostgreSQL answers that COMMIT by rolling back.
    let committed: Promise<unknown> | undefined
    const commit = () => {
      committed ??= client.query("COMMIT")
      committed.catch(() => {})
    }
    const [begun, pending] = corked(client, () => [client.query(begin), f(client, commit)] as const)
    // A BEGIN that fails (the connection died) settles before f does; it is awaited only after
    // f, so it must be heard now. If f fails too, f's failure is the one thrown.
    begun.catch(() => {})
    const result = await pending
    await begun
    commit()
    await committed
    return result
  } catch (error) {
    if (broken === undefined) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken = rollbackError
      })
    }
    throw error
  } finally {
    client.off("error", onError)
    client.release(broken)
  }
}

/**
 * Runs `send` with the connection's socket corked, so that the statements it sends leave in one
 * write: on a pipelined connection a round trip's statements cost one system call, not one each.
 * (pg keeps the socket as `connection.stream`; without one, `send` simply runs.)
 */
export const corked = <A>(client: pg.PoolClient, send: () => A): A => {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } })
    .connection?.stream
  stream?.cork?.()
  try {
    return send()
  } finally {
    stream?.uncork?.()
  }
}

/** Any failure as the store's one error type; a `PersistenceError` passes through. */
export const persistenceError = (
  operation: string,
  reason: PersistenceError["reason"],
  cause: unknown,
): PersistenceError => {
  if (cause instanceof PersistenceError) return cause
  const e = cause as { message?: unknown; code?: unknown } | null | undefined
  const message = typeof e?.message === "string" ? e.message : String(cause)
  const sqlState = typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : ""
  return new PersistenceError({ operation, reason, detail: message + sqlState, cause })
}
