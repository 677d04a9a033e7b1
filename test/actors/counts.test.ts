import { describe, expect, it } from "vitest"
import { FailingJob, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("countJobs and endedPerMinute", () => {
  it("count the stored jobs per status and type, and the ended ones per minute", async () => {
    const dataDir = tempDir()
    const producer = await openManager({ dataDir, concurrency: 0 })
    for (let i = 0; i < 3; i++) await producer.dispatch(NoopJob, { tag: `q${i}` })
    await producer.dispatch(WaitJob, {})
    expect(new Set(await producer.countJobs())).toEqual(
      new Set([
        { status: "queued", name: "noop", count: 3 },
        { status: "queued", name: "wait", count: 1 },
      ]),
    )

    const worker = await openManager({ dataDir, concurrency: 4 })
    const failed = await worker.dispatch(FailingJob, { mode: "typed" })
    await expect(failed.result()).rejects.toMatchObject({ _tag: "JobFailed" })
    const waiting = (await producer.listJobs({ name: "wait" }))[0]!
    await worker.cancel(waiting.id)
    for (const job of await producer.listJobs({ name: "noop" })) await (await worker.handle(job.id)).result()

    const counts = await producer.countJobs()
    expect(new Set(counts)).toEqual(
      new Set([
        { status: "completed", name: "noop", count: 3 },
        { status: "cancelled", name: "wait", count: 1 },
        { status: "failed", name: "failing", count: 1 },
      ]),
    )
    const ended = await producer.endedPerMinute(Date.now() - 3_600_000)
    const total = (status: string) => ended.filter((e) => e.status === status).reduce((n, e) => n + e.count, 0)
    expect([total("completed"), total("failed"), total("cancelled")]).toEqual([3, 1, 1])
    for (const e of ended) expect(e.minute).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/)
    expect(await producer.endedPerMinute(Date.now() + 3_600_000)).toEqual([])
  })
})
