import { describe, expect, it } from "vitest"
import type { JobManager, ManagerEvent } from "../../src/index.js"
import { jobHistory } from "../../src/ui/jobHistory.js"
import { FailingJob, FanOutJob, ModeledJob, WaitJob, script } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { timelineModule } from "./pageModules.js"

/** The statuses the store tells about a job, as the dashboard reads them. */
const historyOf = async (manager: JobManager, id: string) =>
  jobHistory(await manager.getJobInfo(id), await manager.getJobLogs(id))

const statusIs = (manager: JobManager, id: string, status: string) =>
  waitUntil(async () => (await manager.getJobInfo(id)).status === status, 20_000, `job ${id} ${status}`)

/** Every status event of `manager.events`, from now on. */
const listen = (manager: JobManager) => {
  const heard: Array<Extract<ManagerEvent, { type: "status" }>> = []
  const iterator = manager.events[Symbol.asyncIterator]()
  void (async () => {
    for (;;) {
      const next = await iterator.next()
      if (next.done) return
      if (next.value.type === "status") heard.push(next.value)
    }
  })()
  return { heard, stop: () => void iterator.return?.() }
}

describe("a job's history, read from the store", () => {
  it("is every status it went through, in order, through pause, resume, cancel and retry; the page's merge of it with the events heard later gives the same", async () => {
    const { timelineOf } = await timelineModule()
    const manager = await openManager({ dataDir: tempDir(), concurrency: 2 })
    const events = listen(manager)
    const job = await manager.dispatch(WaitJob, {})
    await statusIs(manager, job.id, "running")
    await manager.pause(job.id)
    // What a page that opened the job now read; from here on it only hears events.
    const readWhenPaused = await historyOf(manager, job.id)
    await manager.resume(job.id)
    await statusIs(manager, job.id, "running")
    await manager.cancel(job.id)
    await manager.retry(job.id)
    await statusIs(manager, job.id, "running")
    await manager.cancel(job.id)

    const path = ["queued", "running", "paused", "queued", "running", "cancelled", "queued", "running", "cancelled"]
    const history = await historyOf(manager, job.id)
    expect(history.map((s) => s.status)).toEqual(path)
    await waitUntil(
      () => events.heard.filter((e) => e.id === job.id && e.status === "cancelled").length === 2,
      20_000,
      "the second cancel's event",
    )
    const heard = events.heard.filter((e) => e.id === job.id).map((e) => ({ status: e.status, at: e.at }))
    expect(timelineOf(readWhenPaused, heard).map((s) => s.status)).toEqual(path)
    // Read back after the events were heard, nothing is counted twice.
    expect(timelineOf(history, heard).map((s) => s.status)).toEqual(path)
    events.stop()
  })

  it("is not reordered by the page when a start is stamped before the dispatch or the resume it picked up", async () => {
    const { timelineOf } = await timelineModule()
    // A claim is stamped when its worker prepares it, before its commit finds the row, and on
    // another process's clock: on PostgreSQL under load, startedAt read 8 ms before createdAt.
    const history = [
      { status: "queued", at: "2026-11-30T04:34:53.516Z" },
      { status: "running", at: "2026-11-30T04:34:53.508Z" },
      { status: "paused", at: "2026-11-30T04:34:59.015Z" },
    ]
    expect(timelineOf(history, []).map((s) => s.status)).toEqual(["queued", "running", "paused"])
    // Read while queued, the start heard after it.
    expect(
      timelineOf(history.slice(0, 1), [{ status: "running", at: "2026-11-30T04:34:53.508Z" }]).map((s) => s.status),
    ).toEqual(["queued", "running"])
    // Heard: a resume from the page (this process's clock), then the claim of the worker that
    // picked it up, stamped before it.
    const heard = [
      { status: "queued", at: "2026-11-30T04:35:10.300Z" },
      { status: "running", at: "2026-11-30T04:35:10.296Z" },
      { status: "cancelled", at: "2026-11-30T04:35:12.000Z" },
    ]
    expect(timelineOf(history, heard).map((s) => s.status)).toEqual([
      "queued",
      "running",
      "paused",
      "queued",
      "running",
      "cancelled",
    ])
  })

  it("has a retried attempt go back through queued, and a completion end it", async () => {
    const manager = await openManager({ dataDir: tempDir(), concurrency: 2 })
    const job = await manager.dispatch(
      ModeledJob,
      {},
      { retry: { maxRetries: 3, retryOn: ["Retryable"], backoff: { type: "fixed", delayMs: 10 } } },
    )
    await statusIs(manager, job.id, "running")
    script.tell(job.id, "fail")
    await waitUntil(async () => (await manager.getJobInfo(job.id)).attempts === 2, 20_000, "the second attempt")
    script.tell(job.id, "done")
    await job.result()
    expect((await historyOf(manager, job.id)).map((s) => s.status)).toEqual([
      "queued",
      "running",
      "queued",
      "running",
      "completed",
    ])
  })

  it("ends in failed for a job that failed for good, and in cancelled for one cancelled before it ran", async () => {
    const manager = await openManager({ dataDir: tempDir(), concurrency: 2 })
    const failing = await manager.dispatch(FailingJob, { mode: "typed" })
    await statusIs(manager, failing.id, "failed")
    expect((await historyOf(manager, failing.id)).map((s) => s.status)).toEqual(["queued", "running", "failed"])

    const later = await manager.dispatch(WaitJob, {}, { delayMs: 60_000 })
    await manager.cancel(later.id)
    expect((await historyOf(manager, later.id)).map((s) => s.status)).toEqual(["queued", "cancelled"])
    await manager.retry(later.id)
    await statusIs(manager, later.id, "running")
    await manager.pause(later.id)
    expect((await historyOf(manager, later.id)).map((s) => s.status)).toEqual([
      "queued",
      "cancelled",
      "queued",
      "running",
      "paused",
    ])
  })

  it("has a parent that awaits its children go back in line until they end, then run again to its end", async () => {
    const manager = await openManager({ dataDir: tempDir(), concurrency: 4 })
    const parent = await manager.dispatch(FanOutJob, { count: 2 })
    await parent.result()
    expect((await historyOf(manager, parent.id)).map((s) => s.status)).toEqual([
      "queued",
      "running",
      "queued",
      "running",
      "completed",
    ])
    const children = await manager.listJobs({ parentId: parent.id })
    expect(children).toHaveLength(2)
    for (const child of children)
      expect((await historyOf(manager, child.id)).map((s) => s.status)).toEqual(["queued", "running", "completed"])
  })
})
