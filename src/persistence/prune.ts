/**
 * Pruning, as both stores do it: which rows a `PruneRequest` selects, and the batch loop.
 * The stores only supply the two queries (the n-th newest row of a status, and one batch
 * deleted in one transaction).
 */

import type { RestingStatus } from "../jobs/JobStatus.js"

export interface PruneRequest {
  readonly status: RestingStatus
  /** ISO 8601: jobs that ended (`completed_at`) before this are deleted. */
  readonly completedBefore?: string
  /** Jobs beyond the newest this many of the status (by `completed_at`, then dispatch order) are deleted. */
  readonly keepNewest?: number
  /**
   * At most this many rows deleted per transaction (default 500); fewer when a batch of them
   * would hold the write lock longer than `PRUNE_BATCH_TARGET_MS`.
   */
  readonly batchSize?: number
}

/**
 * Rows of the status that sort below `(completedAt, seq)` are deleted (a row without
 * `completed_at` sorts below every other); `all`: every row of the status; `none`: nothing.
 */
export type PruneCutoff =
  | { readonly kind: "all" }
  | { readonly kind: "none" }
  | { readonly kind: "below"; readonly completedAt: string; readonly seq: number }

/** The n-th newest row of a status (1-based), or undefined when there are fewer. */
export type NthNewest = (
  status: RestingStatus,
  n: number,
) => Promise<{ readonly completedAt: string | null; readonly seq: number } | undefined>

/**
 * The one cutoff a request comes to: a job is deleted when it is older than `completedBefore`
 * OR beyond the newest `keepNewest`; both are "below a point" in the same order, so the
 * higher point wins. Neither given: every job of the status.
 */
export const pruneCutoff = async (request: PruneRequest, nthNewest: NthNewest): Promise<PruneCutoff> => {
  const { completedBefore, keepNewest } = request
  if (completedBefore === undefined && keepNewest === undefined) return { kind: "all" }
  // seq starts at 1: (t, 0) is "completed before t".
  const byAge: PruneCutoff =
    completedBefore === undefined ? { kind: "none" } : { kind: "below", completedAt: completedBefore, seq: 0 }
  if (keepNewest === undefined) return byAge
  if (keepNewest <= 0) return { kind: "all" }
  const boundary = await nthNewest(request.status, keepNewest)
  if (boundary === undefined) return byAge
  // A row without completed_at (none is written so) sorts lowest: "" is below every ISO time.
  const byCount: PruneCutoff = { kind: "below", completedAt: boundary.completedAt ?? "", seq: boundary.seq }
  if (byAge.kind === "none") return byCount
  if (byAge.kind !== "below") return byAge
  const ageWins =
    byAge.completedAt > byCount.completedAt || (byAge.completedAt === byCount.completedAt && byAge.seq > byCount.seq)
  return ageWins ? byAge : byCount
}

export const DEFAULT_PRUNE_BATCH = 500

/**
 * How long one batch may hold the write lock: a manager draining beside a prune waits at most
 * about this long for its commit. Batches are sized to it as they go (see `pruneInBatches`).
 */
export const PRUNE_BATCH_TARGET_MS = 10

/** The smallest batch: below it, a transaction's own cost dominates. */
const MIN_PRUNE_BATCH = 16

/**
 * Deletes batch after batch until one comes back short; each batch is its own transaction,
 * and the event loop turns between batches, so the engine's commits interleave with a long
 * prune. Each batch is sized from the last one's time so that it takes about
 * `PRUNE_BATCH_TARGET_MS` (a wide table, a slow disk or a big store deletes fewer rows at a time),
 * never more than `maxBatch` rows. `onBatch` sees each batch's ids once they are gone (to remove
 * their directories); a throw from it stops the prune.
 */
export const pruneInBatches = async (
  cutoff: PruneCutoff,
  maxBatch: number,
  deleteBatch: (cutoff: Exclude<PruneCutoff, { kind: "none" }>, limit: number) => Promise<ReadonlyArray<string>>,
  onBatch: ((ids: ReadonlyArray<string>) => void | Promise<void>) | undefined,
  now: () => number = () => performance.now(),
): Promise<number> => {
  if (cutoff.kind === "none") return 0
  let total = 0
  let limit = Math.min(maxBatch, 100)
  for (;;) {
    const started = now()
    const ids = await deleteBatch(cutoff, limit)
    const took = now() - started
    total += ids.length
    if (ids.length > 0) await onBatch?.(ids)
    if (ids.length < limit) return total
    // Rows per millisecond as just measured, aimed at the target; at most doubling at a time.
    const fits = took <= 0 ? limit * 2 : Math.floor((limit * PRUNE_BATCH_TARGET_MS) / took)
    limit = Math.min(maxBatch, Math.max(MIN_PRUNE_BATCH, Math.min(limit * 2, fits)))
    await new Promise((r) => setImmediate(r))
  }
}
