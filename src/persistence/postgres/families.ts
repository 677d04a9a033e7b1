import { INVOKED_CHILD_KEY_PREFIX, type JobWrite } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"
import { LIVE } from "../sqlStatuses.js"

/**
 * The waits a commit may end, by the rows it locks first (`lockParents`): the jobs it puts in
 * `queued.children` (they may have no live child left) or to rest (`queued.events`: their inbox
 * may have news already), and the parents of the jobs it ends. Sorted, for locking in one order.
 */
export const waitingParents = (writes: ReadonlyArray<JobWrite>): string[] => {
  const ids = new Set<string>()
  for (const w of writes) {
    if (w.kind !== "transition") continue
    if (w.lifecycle.awaitingChildren || w.lifecycle.awaitingEvents) ids.add(w.id)
    if (w.lifecycle.terminal && w.parentId != null) ids.add(w.parentId)
  }
  return [...ids].sort()
}

/** The children a commit ends: an invoked one's end goes to its parent's inbox. */
const endedChildren = (writes: ReadonlyArray<JobWrite>): string[] =>
  writes.flatMap((w) => (w.kind === "transition" && w.lifecycle.terminal && w.parentId != null ? [w.id] : []))

/**
 * Locks the parent rows first, in id order, before the commit writes anything. Without it, a
 * parent that begins to wait and its last child that ends, committing at once, could each miss
 * the other (under READ COMMITTED each statement sees only what committed before it began),
 * and the parent would wait forever. With it, the second of the two to take the lock sees the
 * first's commit when it looks for live children. A send locks the row too (`inbox.ts`).
 */
export const lockParents = async (db: Queryable, t: Tables, ids: ReadonlyArray<string>): Promise<void> => {
  if (ids.length === 0) return
  await db.query({
    name: "jobstate.lockParents",
    text: /* sql */ `SELECT 1 FROM ${t.jobs} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    values: [ids],
  })
}

/**
 * Ends the wait of each of these parents that has no queued, running or paused child (the index
 * jobs_parent); puts the end of each invoked child the commit ended in its parent's inbox; and
 * lets go each of these jobs that rests with an inbox entry it has not applied.
 */
export const endWaits = async (
  db: Queryable,
  t: Tables,
  ids: ReadonlyArray<string>,
  writes: ReadonlyArray<JobWrite>,
): Promise<void> => {
  if (ids.length === 0) return
  const ended = endedChildren(writes)
  await Promise.all([
    db.query({
      name: "jobstate.endWaits",
      text: /* sql */ `
      UPDATE ${t.jobs} p SET awaiting_children = false
      WHERE p.id = ANY($1::text[]) AND p.awaiting_children
        AND NOT EXISTS (SELECT 1 FROM ${t.jobs} c WHERE c.parent_id = p.id AND c.status IN (${LIVE}))`,
      values: [ids],
    }),
    ended.length === 0
      ? undefined
      : db.query({
          name: "jobstate.invokedEnded",
          text: /* sql */ `
      INSERT INTO ${t.inbox} (job_id, child_id, sent_at)
      SELECT c.parent_id, c.id, $2 FROM ${t.jobs} c
      WHERE c.id = ANY($1::text[]) AND c.parent_id IS NOT NULL AND c.child_key LIKE '${INVOKED_CHILD_KEY_PREFIX}%'
        AND c.status NOT IN (${LIVE})
      ORDER BY c.id`,
          values: [ended, new Date().toISOString()],
        }),
    endRests(db, t, ids),
  ])
}

/** Lets go each of these jobs that rests with an inbox entry it has not applied. */
export const endRests = (db: Queryable, t: Tables, ids: ReadonlyArray<string>) =>
  db.query({
    name: "jobstate.endRests",
    text: /* sql */ `
      UPDATE ${t.jobs} p SET awaiting_events = false, run_at = NULL
      WHERE p.id = ANY($1::text[]) AND p.awaiting_events
        AND EXISTS (SELECT 1 FROM ${t.inbox} i WHERE i.job_id = p.id AND i.seq > p.inbox_applied)`,
    values: [ids],
  })
