import type Database from "better-sqlite3"
import type { LifecycleRow } from "../lifecycleRow.js"
import { LIVE } from "../sqlStatuses.js"

/** A parent's wait for its children (`awaiting_children`), ended when none of them is live. */
export const prepareFamilies = (db: Database.Database) => {
  // The index jobs_parent answers "any live child?" without reading a row.
  const endWait = db.prepare(/* sql */ `
    UPDATE jobs SET awaiting_children = 0
    WHERE id = ? AND awaiting_children = 1
      AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = jobs.id AND c.status IN (${LIVE}))`)
  return {
    /**
     * After a transition, in its transaction: a job that begins to wait for its children and has
     * none live is let go at once; a child's end that leaves its parent none live ends the wait.
     * (One writer at a time: no child can end between the write and this look.)
     */
    settle: (id: string, lifecycle: LifecycleRow, parentId: string | null | undefined): void => {
      if (lifecycle.awaitingChildren) endWait.run(id)
      if (lifecycle.terminal && parentId != null) endWait.run(parentId)
    },
  }
}

export type SqliteFamilies = ReturnType<typeof prepareFamilies>
