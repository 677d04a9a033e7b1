import { describe, expect, it } from "vitest"
import { listPage } from "../../src/cli/listPage.js"

/** A store of `n` rows 0 … n-1, listed oldest first like the real one. */
const store = (n: number) => {
  const rows = Array.from({ length: n }, (_, i) => i)
  return (filter: { readonly limit?: number; readonly offset?: number }) =>
    rows.slice(filter.offset ?? 0, filter.limit === undefined ? undefined : (filter.offset ?? 0) + filter.limit)
}

describe("listPage", () => {
  it("pages newest first exactly, whatever the number of rows", () => {
    for (const n of [0, 1, 2, 3, 7, 8, 9, 100, 1000, 1025]) {
      const all = Array.from({ length: n }, (_, i) => n - 1 - i)
      expect(listPage(store(n), { offset: 0, sort: "newest" }), `n=${n}`).toEqual(all)
      expect(listPage(store(n), { limit: 3, offset: 2, sort: "newest" }), `n=${n}`).toEqual(all.slice(2, 5))
      expect(listPage(store(n), { limit: 5, offset: 0, sort: "oldest" }), `n=${n}`).toEqual(Array.from({ length: Math.min(5, n) }, (_, i) => i))
    }
  })
})
