import { describe, expect, it } from "vitest"
import { InvalidOptions } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"

describe("listJobs pages by keyset", () => {
  it("walks every job once, forwards and back, in either order, with filters", async () => {
    const manager = await openManager({ concurrency: 0 })
    const handles = await manager.dispatchMany(
      NoopJob,
      Array.from({ length: 23 }, (_, i) => ({ tag: `t${i}` })),
    )
    const ids = handles.map((h) => h.id)
    await manager.cancel(ids[4]!)
    await manager.cancel(ids[17]!)
    for (const order of ["oldest", "newest"] as const) {
      const all = order === "oldest" ? ids : [...ids].reverse()
      // Forwards, page by page, from the last id of each page.
      const pages: string[][] = []
      let after: string | undefined
      for (;;) {
        const page = (await manager.listJobs({ order, limit: 5, ...(after ? { after } : {}) })).map((j) => j.id)
        if (page.length === 0) break
        pages.push(page)
        after = page[page.length - 1]
      }
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3])
      expect(pages.flat()).toEqual(all)
      // Back from the last page: each previous page is the one before it, in the list's order.
      const back = await manager.listJobs({ order, limit: 5, before: pages[4]![0] })
      expect(back.map((j) => j.id)).toEqual(pages[3])
      const first = await manager.listJobs({ order, limit: 5, before: pages[1]![0] })
      expect(first.map((j) => j.id)).toEqual(pages[0])
      expect(await manager.listJobs({ order, limit: 5, before: all[0] })).toEqual([])
    }
    // With a filter: the cursor is any job of the list.
    const queued = await manager.listJobs({ status: "queued", after: ids[3], limit: 3 })
    expect(queued.map((j) => j.id)).toEqual([ids[5], ids[6], ids[7]])
    const cancelled = await manager.listJobs({ status: "cancelled", order: "newest", before: ids[4] })
    expect(cancelled.map((j) => j.id)).toEqual([ids[17]])
  })

  it("refuses a cursor that names no job, and both cursors at once", async () => {
    const manager = await openManager({ concurrency: 0 })
    const handle = await manager.dispatch(NoopJob, {})
    const missing = await manager.listJobs({ after: "no-such-job" }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(InvalidOptions)
    expect(String(missing)).toContain("listJobs.after")
    expect(await manager.listJobs({ after: handle.id, before: handle.id }).catch((e: unknown) => e)).toBeInstanceOf(
      InvalidOptions,
    )
  })

  it("refuses an offset with a cursor, and a status that is none, instead of a quietly wrong page", async () => {
    const manager = await openManager({ concurrency: 0 })
    const [first] = await manager.dispatchMany(NoopJob, [{}, {}, {}])
    const withOffset = await manager.listJobs({ after: first!.id, offset: 1 }).catch((e: unknown) => e)
    expect(withOffset).toBeInstanceOf(InvalidOptions)
    expect(withOffset).toMatchObject({ option: "listJobs.offset" })
    const bogus = await manager.listJobs({ status: "bogus" as never }).catch((e: unknown) => e)
    expect(bogus).toBeInstanceOf(InvalidOptions)
    expect(bogus).toMatchObject({ option: "listJobs.status" })
    expect(String((bogus as InvalidOptions).detail)).toContain("queued")
    // Each alone is still a page.
    expect(await manager.listJobs({ offset: 1 })).toHaveLength(2)
    expect(await manager.listJobs({ after: first!.id, status: "queued" })).toHaveLength(2)
  })
})
