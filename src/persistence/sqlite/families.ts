import type Database from "better-sqlite3"
import { INVOKED_CHILD_KEY_PREFIX } from "../JobStore.js"
import type { LifecycleRow } from "../lifecycleRow.js"
import { LIVE } from "../sqlStatuses.js"

/**
 * The waits a transition may end: a parent's wait for its children (`awaiting_children`), ended
 * when none of them is live, and a machine job's rest (`awaiting_events`), ended when its inbox
 * has an entry it has not applied. The end of a child a machine invoked is such an entry.
 */
export const prepareFamilies = (db: Database.Database) => {
  // The index jobs_parent answers "any live child?" without reading a row.
  const endWait = db.prepare(/* sql */ `
    UPDATE jobs SET awaiting_children = 0
    WHERE id = ? AND awaiting_children = 1
      AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = jobs.id AND c.status IN (${LIVE}))`)
  const invokedEnded = db.prepare(/* sql */ `
    INSERT INTO job_inbox (job_id, child_id, sent_at)
    SELECT parent_id, id, ? FROM jobs WHERE id = ? AND parent_id IS NOT NULL AND child_key LIKE '${INVOKED_CHILD_KEY_PREFIX}%'`)
  const endRest = db.prepare(/* sql */ `
    UPDATE jobs SET awaiting_events = 0, run_at = NULL
    WHERE id = ? AND awaiting_events = 1
      AND EXISTS (SELECT 1 FROM job_inbox i WHERE i.job_id = jobs.id AND i.seq > jobs.inbox_applied)`)
  return {
    /**
     * After a transition, in its transaction: a job that begins to wait for its children and has
     * none live is let go at once; a child's end that leaves its parent none live ends the wait.
     * A machine job that comes to rest with news in its inbox is let go at once; an invoked
     * child's end is news for its parent. (One writer at a time: nothing can arrive between the
     * write and this look.)
     */
    settle: (id: string, lifecycle: LifecycleRow, parentId: string | null | undefined, at: string): void => {
      if (lifecycle.awaitingChildren) endWait.run(id)
      if (lifecycle.awaitingEvents) endRest.run(id)
      if (lifecycle.terminal && parentId != null) {
        endWait.run(parentId)
        if (invokedEnded.run(at, id).changes > 0) endRest.run(parentId)
      }
    },
    /** After an event is stored in a job's inbox: a resting job is let go. */
    endRest: (id: string): boolean => endRest.run(id).changes > 0,
  }
}

export type SqliteFamilies = ReturnType<typeof prepareFamilies>
