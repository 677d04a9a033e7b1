import type { JobWrite } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"
import { LIVE } from "../sqlStatuses.js"

/**
 * The parents whose wait for their children a commit may end: the jobs it puts in
 * `queued.children` (they may have no live child left) and the parents of the jobs it ends.
 * Sorted, for locking in one order.
 */
export const waitingParents = (writes: ReadonlyArray<JobWrite>): string[] => {
  const ids = new Set<string>()
  for (const w of writes) {
    if (w.kind !== "transition") continue
    if (w.lifecycle.awaitingChildren) ids.add(w.id)
    if (w.lifecycle.terminal && w.parentId != null) ids.add(w.parentId)
  }
  return [...ids].sort()
}

/**
 * Locks the parent rows first, in id order, before the commit writes anything. Without it, a
 * parent that begins to wait and its last child that ends, committing at once, could each miss
 * the other (under READ COMMITTED each statement sees only what committed before it began),
 * and the parent would wait forever. With it, the second of the two to take the lock sees the
 * first's commit when it looks for live children.
 */
export const lockParents = async (db: Queryable, t: Tables, ids: ReadonlyArray<string>): Promise<void> => {
  if (ids.length === 0) return
  await db.query({
    name: "jobstate.lockParents",
    text: /* sql */ `SELECT 1 FROM ${t.jobs} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    values: [ids],
  })
}

/** Ends the wait of each of these parents that has no queued, running or paused child (the index jobs_parent). */
export const endWaits = async (db: Queryable, t: Tables, ids: ReadonlyArray<string>): Promise<void> => {
  if (ids.length === 0) return
  await db.query({
    name: "jobstate.endWaits",
    text: /* sql */ `
      UPDATE ${t.jobs} p SET awaiting_children = false
      WHERE p.id = ANY($1::text[]) AND p.awaiting_children
        AND NOT EXISTS (SELECT 1 FROM ${t.jobs} c WHERE c.parent_id = p.id AND c.status IN (${LIVE}))`,
    values: [ids],
  })
}
