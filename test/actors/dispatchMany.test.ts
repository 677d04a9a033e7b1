import { describe, expect, it } from "vitest"
import { InvalidOptions, InvalidParams, UnknownJobType } from "../../src/index.js"
import { join } from "node:path"
import { CountJob, NoopJob } from "../fixtures/jobs.js"
import { linesOf } from "../fixtures/processes.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("dispatchMany", () => {
  it("stores every item in one call and returns the handles in order; each runs", async () => {
    const manager = await openManager({ concurrency: 4 })
    const handles = await manager.dispatchMany(
      NoopJob,
      Array.from({ length: 500 }, (_, i) => ({ tag: `t${i}` })),
    )
    expect(handles).toHaveLength(500)
    const outputs = await Promise.all(handles.map((h) => h.result()))
    expect(outputs.map((o) => o.tag)).toEqual(Array.from({ length: 500 }, (_, i) => `t${i}`))
  })

  it("applies each item's own priority, delay and unique key", async () => {
    const dataDir = tempDir()
    const effectsFile = join(dataDir, "order.log")
    const producer = await openManager({ dataDir, concurrency: 0 })
    const held = await producer.dispatch(CountJob, { n: 1, effectsFile }, { uniqueKey: "k1" })
    const handles = await producer.dispatchMany(
      CountJob,
      Array.from({ length: 6 }, () => ({ n: 1, effectsFile })),
      [
        { priority: -1 },
        { priority: 5 },
        { uniqueKey: "k1" },
        { uniqueKey: "k2" },
        { uniqueKey: "k2" },
        { delayMs: 3_600_000 },
      ],
    )
    // A key a live job holds gives that job; a key an earlier item took gives the earlier item.
    expect(handles[2]!.id).toBe(held.id)
    expect(handles[4]!.id).toBe(handles[3]!.id)
    const infos = await Promise.all(handles.map((h) => producer.getJobInfo(h.id)))
    expect(infos.map((i) => i.priority)).toEqual([-1, 5, 0, 0, 0, 0])
    expect(infos[5]!.runAt).not.toBeNull()
    // held, the two by priority, k2, the delayed one: the two duplicates stored nothing.
    expect(await producer.listJobs({ name: "count" })).toHaveLength(5)
    // Run one at a time: the highest priority first, FIFO within, the lowest last; the delayed one waits.
    const worker = await openManager({ dataDir, concurrency: 1 })
    await handles[0]!.result()
    const ran = linesOf(effectsFile).map((line) => line.split(" ")[0])
    expect(ran).toEqual([handles[1]!.id, held.id, handles[3]!.id, handles[0]!.id])
    expect((await worker.getJobInfo(handles[5]!.id)).status).toBe("queued")
  })

  it("refuses the whole batch, naming the first bad item's index, and stores nothing", async () => {
    const manager = await openManager({ concurrency: 0 })
    const bad = await manager
      .dispatchMany(NoopJob, [{ tag: "a" }, { tag: "b" }, { tag: 3 } as never, { tag: 4 } as never])
      .catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(InvalidParams)
    expect((bad as InvalidParams).index).toBe(2)
    expect(String(bad)).toContain("(item 2)")
    const badOption = await manager
      .dispatchMany(NoopJob, [{ tag: "a" }, { tag: "b" }], [{}, { priority: 1.5 }])
      .catch((e: unknown) => e)
    expect(badOption).toBeInstanceOf(InvalidOptions)
    expect(String(badOption)).toContain("[1].priority")
    const byName = await manager
      .dispatchManyByName("noop", [{ tag: "a" }, { tag: "b", extra: 1 }])
      .catch((e: unknown) => e)
    expect((byName as InvalidParams).index).toBe(1)
    expect(await manager.dispatchManyByName("nope", []).catch((e: unknown) => e)).toBeInstanceOf(UnknownJobType)
    expect(await manager.listJobs({})).toEqual([])
  })

  it("by name, reads each item as dispatchByName reads JSON", async () => {
    const manager = await openManager({ concurrency: 2 })
    const handles = await manager.dispatchManyByName("noop", [{ tag: "x" }, {}])
    expect(await Promise.all(handles.map((h) => h.result()))).toEqual([{ tag: "x" }, { tag: "" }])
  })
})
