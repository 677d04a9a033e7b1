import { PersistenceError } from "../jobs/errors.js"

/**
 * The one rule for telling a store that fails for a while from a call that is wrong: what the
 * engine waits out (and retries, and reports once per outage) and what it does not.
 *
 * Transient: the server is unreachable, restarting or shutting down, a connection was lost or
 * refused (PostgreSQL's SQLSTATE classes 08 and 57P0x, resource classes 53 and 58, the
 * network's errors and pg's own "Connection terminated"); a serialization failure or deadlock
 * (40001, 40P01); a lock held by another connection, a full disk, an I/O error (SQLite's BUSY,
 * LOCKED, FULL and IOERR). Anything else (a constraint, a trigger's refusal, a bug) is not: trying
 * it again would fail again.
 */
export const isTransientCause = (cause: unknown): boolean => {
  const e = cause as { code?: unknown; message?: unknown } | null | undefined
  const code = typeof e?.code === "string" ? e.code : ""
  const message = typeof e?.message === "string" ? e.message : ""
  if (code.startsWith("SQLITE_")) return /^SQLITE_(BUSY|LOCKED|FULL|IOERR|NOMEM|PROTOCOL)/.test(code)
  if (/^(08|53|58|57P0)/.test(code) || code === "40001" || code === "40P01") return true
  if (/^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN)$/.test(code))
    return true
  return /Connection terminated|connection.*(closed|ended)|not queryable|timeout exceeded when trying to connect|not currently accepting connections/i.test(
    message,
  )
}

/** A store failure that passes: the engine waits it out instead of failing a job or a write for it. */
export const isStoreFailure = (error: unknown): error is PersistenceError =>
  error instanceof PersistenceError &&
  (error.reason === "Read" || error.reason === "Write") &&
  isTransientCause(error.cause)
