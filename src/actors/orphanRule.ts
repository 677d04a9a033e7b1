import type { JobDefinition } from "../jobs/defineJob.js"
import type { DbJob } from "../persistence/JobStore.js"
import { lifecycleRow, type LifecycleRow } from "../persistence/lifecycleRow.js"
import { decodeLifecycle, failedRowLifecycle, transitionOffline } from "./snapshots.js"
import { commandEvent } from "../machines/jobLifecycleMachine.js"

/** What becomes of a job left `running` by a manager that is gone. */
export type OrphanOutcome =
  /** The type is not one this process knows: leave the row for a worker of its type. */
  | { readonly kind: "unknownType" }
  /** Back in line (or paused / cancelled, when a command was left for it), to resume from its checkpoint. */
  | { readonly kind: "requeue"; readonly lifecycle: LifecycleRow }
  | { readonly kind: "fail"; readonly lifecycle: LifecycleRow }

export class NotResumable extends Error {
  override readonly name = "NotResumable"
}

/**
 * The one orphan rule, used by recovery on open, by the sweep for dead owners and by commands
 * on a stalled job. A resumable orphan is re-queued to resume from its last checkpoint; a
 * command a process that did not know the type left on the row (pause, cancel) is applied
 * then. A non-resumable orphan is failed with a message that says so. Only a process that
 * knows the type decides: to any other the row stays as it is.
 */
export const orphanOutcome = (row: DbJob, definition: JobDefinition | undefined): OrphanOutcome => {
  if (definition === undefined) return { kind: "unknownType" }
  if (!definition.resumable) {
    return {
      kind: "fail",
      lifecycle: failedRowLifecycle(
        row,
        new NotResumable(`job type "${row.name}" is not resumable and its process stopped while it ran`),
      ),
    }
  }
  const requeued = transitionOffline(decodeLifecycle(row.snapshot, row.id), { type: "REQUEUE" }, row.id)
  if (requeued === undefined) throw new Error(`its lifecycle snapshot is in no state to resume`)
  const pending = row.request === null ? undefined : commandEvent(row.request)
  const commanded = pending === undefined ? undefined : transitionOffline(requeued.snapshot, pending, row.id)
  return { kind: "requeue", lifecycle: lifecycleRow((commanded ?? requeued).snapshot) }
}
