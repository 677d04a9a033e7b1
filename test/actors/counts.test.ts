import { describe, expect, it } from "vitest"
import { FailingJob, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { readRows, rawSql, storeKind } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

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

/** What the rows say: the count of each (status, type), from every row listed. */
const countedFromRows = async (dataDir: string) => {
  const counts = new Map<string, number>()
  for (const row of await readRows(dataDir)) {
    const key = `${row.status} ${row.name}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}
const asMap = (counts: ReadonlyArray<{ status: string; name: string; count: number }>) =>
  new Map(counts.map((c) => [`${c.status} ${c.name}`, c.count]))

describe("countJobs, kept with the rows", () => {
  it("agrees with the rows after bulk dispatches (duplicates refused), runs, failures, cancels, prunes and a status set by hand", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, concurrency: 4 })
    const tags = Array.from({ length: 30 }, (_, i) => ({ tag: `t${i}` }))
    const handles = await manager.dispatchMany(NoopJob, tags)
    // Two of these hold a unique key taken by the first: nothing new is stored for them.
    await manager.dispatchMany(WaitJob, [{}, {}, {}], { uniqueKey: "one-waiter" })
    const failing = await manager.dispatch(FailingJob, { mode: "typed" })
    for (const h of handles) await h.result()
    await expect(failing.result()).rejects.toMatchObject({ _tag: "JobFailed" })
    const [waiting] = await manager.listJobs({ name: "wait" })
    await manager.cancel(waiting!.id)
    expect(await manager.prune({ statuses: ["failed"], olderThanMs: 0 })).toBe(1)
    // An operator's UPDATE (any write path, not only the engine's) is counted too.
    const [first] = await manager.listJobs({ name: "noop", limit: 1 })
    await rawSql(dataDir, "UPDATE jobs SET status = 'cancelled' WHERE id = $1", [first!.id])

    const rows = await countedFromRows(dataDir)
    expect(rows).toEqual(
      new Map([
        ["completed noop", 29],
        ["cancelled noop", 1],
        ["cancelled wait", 1],
      ]),
    )
    expect(asMap(await manager.countJobs())).toEqual(rows)
    if (storeKind === "postgres") {
      // The changes are folded into job_counts (every second while the store writes): the same counts after.
      const folded = () =>
        rawSql(
          dataDir,
          "DO $$ BEGIN IF EXISTS (SELECT 1 FROM job_count_changes) THEN RAISE EXCEPTION 'not folded'; END IF; END $$",
        ).then(
          () => true,
          () => false,
        )
      await waitUntil(folded, 20_000, "the counts' changes folded")
      expect(asMap(await manager.countJobs())).toEqual(rows)
    }
  })

  it("are counted from the rows already stored when a store is upgraded to them", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, concurrency: 0 })
    await manager.dispatchMany(NoopJob, [{}, {}, {}])
    await manager.dispatch(WaitJob, {})
    await manager.close()
    // Back to the schema before the counts (they came with SQLite's 11 and PostgreSQL's 8): their
    // table and triggers gone, with the indexes of that version, and the version before.
    if (storeKind === "sqlite")
      await rawSql(
        dataDir,
        `DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_update; DROP TRIGGER jobs_count_delete;
         DROP TABLE job_counts; DROP INDEX jobs_name; DROP INDEX jobs_queued; DROP INDEX jobs_completed;
         PRAGMA user_version = 10;`,
      )
    else
      await rawSql(
        dataDir,
        `DROP TABLE job_counts; DROP TABLE job_count_changes; DROP TRIGGER jobs_count_insert ON jobs;
         DROP TRIGGER jobs_count_update ON jobs; DROP TRIGGER jobs_count_delete ON jobs;
         DROP FUNCTION count_inserted(); DROP FUNCTION count_deleted(); DROP FUNCTION count_changed();
         DROP INDEX jobs_name; DROP INDEX jobs_queued; DROP INDEX jobs_completed;
         DELETE FROM jobstate_migrations WHERE version >= 8;`,
      )
    const reopened = await openManager({ dataDir, concurrency: 0 })
    expect(asMap(await reopened.countJobs())).toEqual(
      new Map([
        ["queued noop", 3],
        ["queued wait", 1],
      ]),
    )
  })
})
