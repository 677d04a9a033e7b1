import { toStoredError, type StoredError } from "../jobs/errors.js"
import type { DbJob, JobUpdate } from "../persistence/SqliteJobStore.js"
import { decodeLifecycle, encodeLifecycle, failedLifecycle, transitionOffline } from "./lifecycle.js"

/** The columns that store a job's error: the data, and a readable line. */
export const errorFields = (error: StoredError | null): JobUpdate => {
  const e = error ?? { _tag: "Unknown", message: "failed without an error" }
  return { error: JSON.stringify(e), error_message: `[${e._tag}] ${e.message}` }
}

/**
 * The write that fails a row from outside its run (unknown type, undecodable data, not
 * resumable). The message names the job and the cause; the lifecycle machine makes the failed
 * snapshot from the row's own when it can be read, else from a fresh one.
 */
export const failedRowFields = (row: Pick<DbJob, "id" | "name" | "snapshot">, cause: unknown, now: string): JobUpdate => {
  const reason = toStoredError(cause)
  const error: StoredError = {
    _tag: reason._tag,
    message: `Job ${row.id} (${row.name}): ${reason.message}`,
    ...(reason.details === undefined ? {} : { details: reason.details }),
  }
  let snapshot
  try {
    snapshot = transitionOffline(decodeLifecycle(row.snapshot, row.id), { type: "FAIL", error }, row.id)?.snapshot
  } catch {
    snapshot = undefined
  }
  return {
    status: "failed",
    snapshot: encodeLifecycle(snapshot ?? failedLifecycle(row.id, error)),
    owner: null,
    completed_at: now,
    ...errorFields(error),
  }
}
