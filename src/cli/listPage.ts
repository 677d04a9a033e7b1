/** What `jobstate list` asks for. */
export interface ListPageQuery {
  readonly status?: string
  readonly limit?: number
  readonly offset: number
  readonly sort: "newest" | "oldest"
}

type ListOldestFirst<T> = (filter: { readonly status?: string; readonly limit?: number; readonly offset?: number }) => ReadonlyArray<T>

/**
 * One page of jobs, newest or oldest first, from a store that lists oldest first with a limit
 * and an offset. Newest first, the page is the slice of the oldest-first order that ends
 * `offset` rows before the last one, read in one query and reversed: exact, and only the
 * page's rows are decoded. A job dispatched while the page is read may shift it by one.
 */
export const listPage = <T>(list: ListOldestFirst<T>, query: ListPageQuery): ReadonlyArray<T> => {
  const status = query.status === undefined ? {} : { status: query.status }
  if (query.sort === "oldest") return list({ ...status, offset: query.offset, ...(query.limit === undefined ? {} : { limit: query.limit }) })
  const end = countJobs(list, query.status) - query.offset
  if (end <= 0) return []
  const start = query.limit === undefined ? 0 : Math.max(0, end - query.limit)
  return [...list({ ...status, limit: end - start, offset: start })].reverse()
}

/**
 * How many jobs match, from one-row probes: is there a row at offset k? Doubling, then
 * bisecting, takes about 2·log2(n) probes, each reading one row, instead of decoding them all.
 */
const countJobs = <T>(list: ListOldestFirst<T>, status: string | undefined): number => {
  const has = (offset: number) => list({ ...(status === undefined ? {} : { status }), limit: 1, offset }).length > 0
  if (!has(0)) return 0
  let present = 0 // a row exists at this offset
  let absent = 1 // no row at this offset (once the doubling stops)
  while (has(absent)) {
    present = absent
    absent *= 2
  }
  while (absent - present > 1) {
    const mid = Math.floor((present + absent) / 2)
    if (has(mid)) present = mid
    else absent = mid
  }
  return present + 1
}
