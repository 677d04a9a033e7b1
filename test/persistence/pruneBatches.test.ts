import { describe, expect, it } from "vitest"
import { PRUNE_BATCH_TARGET_MS, pruneInBatches } from "../../src/persistence/prune.js"

/** A store of `rows` rows whose delete takes `msPerRow` each, on a clock the test moves. */
const fakeStore = (rows: number, msPerRow: number) => {
  let left = rows
  let clock = 0
  const batches: Array<{ rows: number; ms: number }> = []
  return {
    now: () => clock,
    batches,
    deleteBatch: async (_cutoff: unknown, limit: number) => {
      const n = Math.min(left, limit)
      left -= n
      clock += n * msPerRow
      batches.push({ rows: n, ms: n * msPerRow })
      return Array.from({ length: n }, (_, i) => `id-${left + i}`)
    },
  }
}

describe("pruning in batches sized to hold the write lock briefly", () => {
  it("shrinks batches whose rows are slow to delete, so that none after the first takes much longer than the target", async () => {
    const store = fakeStore(20_000, 0.5)
    const total = await pruneInBatches({ kind: "all" }, 500, store.deleteBatch, undefined, store.now)
    expect(total).toBe(20_000)
    // The first batch (100 rows at 0.5 ms) is the only one that may exceed the target.
    for (const b of store.batches.slice(1, -1)) expect(b.ms).toBeLessThanOrEqual(PRUNE_BATCH_TARGET_MS)
    expect(store.batches[1]!.rows).toBe(Math.floor(PRUNE_BATCH_TARGET_MS / 0.5))
  })

  it("grows fast batches up to the maximum, at most doubling at a time", async () => {
    const store = fakeStore(5_000, 0.001)
    await pruneInBatches({ kind: "all" }, 500, store.deleteBatch, undefined, store.now)
    expect(store.batches.slice(0, 4).map((b) => b.rows)).toEqual([100, 200, 400, 500])
  })

  it("keeps to a maximum below the smallest batch", async () => {
    const store = fakeStore(12, 5)
    const sizes: number[] = []
    await pruneInBatches({ kind: "all" }, 5, store.deleteBatch, (ids) => void sizes.push(ids.length), store.now)
    expect(sizes).toEqual([5, 5, 2])
  })
})
