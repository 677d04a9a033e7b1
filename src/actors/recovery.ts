import { isJobStatus } from "../jobs/JobStatus.js"
import { unpackWith } from "../persistence/codec.js"
import type { DbJob } from "../persistence/SqliteJobStore.js"
import type { JobEngine } from "./JobEngine.js"
import { decodeLifecycle, encodeLifecycle, transitionOffline } from "./lifecycle.js"

export interface RecoveryReport {
  /** Jobs put back in line to resume from their last checkpoint. */
  readonly resumed: number
  /** Rows marked failed: not resumable, unknown type, undecodable, damaged. */
  readonly failed: number
}

class NotResumable extends Error {
  override readonly name = "NotResumable"
}

/**
 * Recovery on open, and whenever an owner is found dead. A job left `running` by a dead owner
 * is re-queued (it resumes from its last checkpoint when it gets a slot) or failed when its
 * type is not resumable; a job that `close()` paused is re-queued; a job a user paused stays
 * paused. Any row that cannot be understood is failed with a message naming it and the cause;
 * one bad row never stops the others.
 */
export const recoverJobs = async (
  engine: JobEngine,
  liveOwners: ReadonlySet<string>,
  options: { readonly onOpen: boolean },
  chunk = 100,
): Promise<RecoveryReport> => {
  const store = engine.store
  const rows: DbJob[] = []
  for (const { owner } of store.runningOwners()) {
    if (owner === null || !liveOwners.has(owner)) rows.push(...store.runningRowsOf(owner))
  }
  // Jobs another manager's close() paused: any live manager may take them on.
  rows.push(...store.pausedByShutdown())
  if (options.onOpen) {
    for (const status of store.statuses()) if (!isJobStatus(status)) rows.push(...store.rowsWithStatus(status))
  }
  let resumed = 0
  let failed = 0
  for (let i = 0; i < rows.length && engine.isAccepting; i += chunk) {
    engine.store.transaction("recover", () => {
      for (const row of rows.slice(i, i + chunk)) {
        if (recoverRow(engine, row)) resumed++
        else failed++
      }
    })
    // Let the first recovered jobs start, and the host breathe, before the next chunk.
    engine.wake(true)
    await new Promise((r) => setImmediate(r))
  }
  return { resumed, failed }
}

const recoverRow = (engine: JobEngine, row: DbJob): boolean => {
  try {
    if (!isJobStatus(row.status)) throw new Error(`unknown status ${JSON.stringify(row.status)}`)
    const definition = engine.definitionOf(row)
    const snapshot = decodeLifecycle(row.snapshot, row.id)
    unpackWith(definition.params, row.params, `params of job ${row.id}`)
    unpackWith(definition.state, row.data, `state of job ${row.id}`)
    if (row.status === "running" && !definition.resumable) {
      throw new NotResumable(`job type "${row.name}" is not resumable and its process stopped while it ran`)
    }
    const next = transitionOffline(snapshot, row.status === "running" ? { type: "REQUEUE" } : { type: "RESUME" }, row.id)
    if (next === undefined) throw new Error(`its lifecycle snapshot is in no state to resume (${JSON.stringify(snapshot.value)})`)
    const now = engine.iso()
    engine.store.updateJob(
      row.id,
      { status: next.status, snapshot: encodeLifecycle(next.snapshot), owner: null, paused_by: null },
      now,
      // Unless another manager recovered it first.
      { status: row.status, owner: row.owner },
    )
    return true
  } catch (error) {
    engine.failRow(row, error)
    return false
  }
}
