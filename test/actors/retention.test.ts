import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, InvalidOptions, JobCleanupFailed, JobManager } from "../../src/index.js"
import { allTestJobs, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { openTestStore, rawSql, readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

class Broke extends Data.TaggedError("Broke")<{ readonly message: string }> {}

/**
 * Writes into its private directory, checkpoints `{ step }` every few ms, and fails after
 * `failAfter` steps when asked. Its cleanup hook appends `{ id, status, state, dataDir }` as a
 * JSON line to `hookFile` (and throws when `hookThrows`).
 */
const makeDirJob = (name: string, resumable = true) =>
  defineJob({
    name,
    resumable,
    params: Schema.Struct({
      hookFile: Schema.String,
      failAfter: Schema.optional(Schema.Number),
      hookThrows: Schema.optional(Schema.Boolean),
    }),
    state: Schema.Struct({ step: Schema.Number }),
    initialState: () => ({ step: 0 }),
    run: (ctx) =>
      Effect.gen(function* () {
        writeFileSync(join(ctx.dataDir, "scratch.txt"), "scratch")
        for (let step = ctx.state.step + 1; ; step++) {
          yield* Effect.sleep(3)
          yield* ctx.checkpoint({ step })
          if (ctx.params.failAfter !== undefined && step >= ctx.params.failAfter)
            return yield* new Broke({ message: `broke at ${step}` })
        }
      }),
    cleanup: (info) =>
      Effect.sync(() => {
        appendFileSync(
          info.params.hookFile,
          `${JSON.stringify({ id: info.id, status: info.status, state: info.state, dataDir: info.dataDir })}\n`,
        )
        if (info.params.hookThrows) throw new Error("the hook broke")
      }),
  })

const DirJob = makeDirJob("dir_job")
const OnceDirJob = makeDirJob("once_dir_job", false)
const jobs = [...allTestJobs, DirJob, OnceDirJob]

const hookCalls = (file: string): Array<{ id: string; status: string; state: { step: number }; dataDir: string }> =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : []

const privateDir = (dataDir: string, id: string) => join(dataDir, "jobs", id)

const ago = (ms: number) => new Date(Date.now() - ms).toISOString()
const HOUR = 3_600_000

const setCompletedAt = (dataDir: string, id: string, at: string) =>
  rawSql(dataDir, "UPDATE jobs SET completed_at = $1 WHERE id = $2", [at, id])

const addEvent = (dataDir: string, id: string) =>
  rawSql(
    dataDir,
    "INSERT INTO job_events (job_id, name, writer, type, body, at) VALUES ($1, 'noop', NULL, 'status', '{}', $2)",
    [id, ago(0)],
  )

/** Completes a noop job and gives it a private directory with a file, as a job that used ctx.dataDir has. */
const completedWithDir = async (manager: JobManager, dataDir: string) => {
  const handle = await manager.dispatch(NoopJob, {})
  await handle.result()
  mkdirSync(privateDir(dataDir, handle.id), { recursive: true })
  writeFileSync(join(privateDir(dataDir, handle.id), "out.txt"), "output")
  return handle.id
}

describe("prune", () => {
  it("deletes old jobs at rest with their logs, events and private directories, and leaves live and young jobs alone", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, jobs, concurrency: 1 })
    const oldDone = await completedWithDir(manager, dataDir)
    const youngDone = await completedWithDir(manager, dataDir)
    // Live jobs: one running (it holds the only slot), one queued behind it, one paused.
    const running = await manager.dispatch(WaitJob, {})
    await waitUntil(async () => (await running.status()) === "running")
    const queued = await manager.dispatch(NoopJob, {})
    const paused = await manager.dispatch(NoopJob, {})
    expect(await manager.pause(paused.id)).toBe("paused")
    const oldCancelled = (await manager.dispatch(NoopJob, {})).id
    expect(await manager.cancel(oldCancelled)).toBe("cancelled")

    for (const id of [oldDone, oldCancelled]) await setCompletedAt(dataDir, id, ago(2 * HOUR))
    await setCompletedAt(dataDir, youngDone, ago(60_000))
    // A stale completed_at on a live row must not make it prunable: only the status decides.
    for (const id of [running.id, queued.id, paused.id]) await setCompletedAt(dataDir, id, ago(2 * HOUR))
    for (const id of [oldDone, youngDone]) {
      await rawSql(dataDir, "INSERT INTO job_logs (job_id, at, level, message) VALUES ($1, $2, 'info', 'a line')", [
        id,
        ago(0),
      ])
      await addEvent(dataDir, id)
    }
    expect((await manager.getJobLogs(oldDone)).length).toBeGreaterThan(0)

    const deleted = await manager.prune({ statuses: ["completed", "cancelled", "failed"], olderThanMs: HOUR })

    expect(deleted).toBe(2)
    for (const id of [oldDone, oldCancelled]) expect(await readRow(dataDir, id), id).toBeUndefined()
    for (const id of [youngDone, running.id, queued.id, paused.id]) expect(await readRow(dataDir, id), id).toBeDefined()
    expect(await manager.getJobLogs(oldDone)).toEqual([])
    expect((await manager.getJobLogs(youngDone)).length).toBeGreaterThan(0)
    expect(existsSync(privateDir(dataDir, oldDone))).toBe(false)
    expect(existsSync(privateDir(dataDir, youngDone))).toBe(true)
    // The pruned job's events are gone, the young job's kept: a marker row is inserted only if any remain.
    await rawSql(
      dataDir,
      "UPDATE jobs SET error_message = 'events left' WHERE id = $1 AND EXISTS (SELECT 1 FROM job_events WHERE job_id = $2)",
      [youngDone, oldDone],
    )
    await rawSql(
      dataDir,
      "UPDATE jobs SET output = 'events kept' WHERE id = $1 AND EXISTS (SELECT 1 FROM job_events WHERE job_id = $2)",
      [youngDone, youngDone],
    )
    const young = await readRow(dataDir, youngDone)
    expect(young?.error_message).toBeNull()
    expect(young?.output).toBe("events kept")
    expect((await readRow(dataDir, paused.id))?.status).toBe("paused")
    expect((await readRow(dataDir, running.id))?.status).toBe("running")

    // olderThanMs 0: every job at rest in the status, whatever its age.
    expect(await manager.prune({ statuses: ["completed"], olderThanMs: 0 })).toBe(1)
    expect(await readRow(dataDir, youngDone)).toBeUndefined()
    expect(await readRow(dataDir, queued.id)).toBeDefined()
  })

  it("refuses a live status with InvalidOptions naming it, and deletes nothing", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, jobs })
    const done = await completedWithDir(manager, dataDir)
    for (const live of ["queued", "running", "paused", "bogus"]) {
      const error = await manager
        .prune({ statuses: ["completed", live as "completed"], olderThanMs: 0 })
        .catch((e) => e)
      expect(error).toBeInstanceOf(InvalidOptions)
      expect(error.message).toContain(`"${live}"`)
    }
    expect(await manager.prune({ statuses: ["completed"], olderThanMs: -1 }).catch((e) => e)).toBeInstanceOf(
      InvalidOptions,
    )
    expect(await readRow(dataDir, done)).toBeDefined()
    expect(existsSync(privateDir(dataDir, done))).toBe(true)
  })

  it("deletes in batches: a prune larger than one batch deletes everything it should and stops", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, jobs })
    const ids: string[] = []
    for (let i = 0; i < 12; i++) ids.push((await manager.dispatch(NoopJob, { tag: String(i) })).id)
    await waitUntil(async () => (await manager.listJobs({ status: "completed" })).length === 12)
    const store = await openTestStore(dataDir)
    try {
      const batches: number[] = []
      const n = await store.pruneJobs({ status: "completed", batchSize: 5 }, (batch) => void batches.push(batch.length))
      expect(n).toBe(12)
      expect(batches).toEqual([5, 5, 2])
    } finally {
      await store.close()
    }
    expect(await manager.listJobs({})).toEqual([])
  })
})

describe("retention", () => {
  /** Five completed jobs, finished one hour apart (the last one an hour ago), oldest first. */
  const fiveCompleted = async (dataDir: string) => {
    const manager = await JobManager.open({ ...storeFor(dataDir), jobs })
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await completedWithDir(manager, dataDir))
    await manager.close()
    for (const [i, id] of ids.entries()) await setCompletedAt(dataDir, id, ago((5 - i) * HOUR))
    return ids
  }

  it("keeps the newest maxCount jobs of a status after open, then again periodically", async () => {
    const dataDir = tempDir()
    const ids = await fiveCompleted(dataDir)
    const manager = await openManager({
      dataDir,
      jobs,
      retention: { completed: { maxCount: 3 } },
      retentionIntervalMs: 50,
    })
    await waitUntil(
      async () => (await manager.listJobs({ status: "completed" })).length === 3,
      20_000,
      "three completed jobs left",
    )
    expect((await manager.listJobs({ status: "completed" })).map((j) => j.id)).toEqual(ids.slice(2))
    // Each batch's directories are removed right after its rows.
    await waitUntil(
      () => ids.slice(0, 2).every((id) => !existsSync(privateDir(dataDir, id))),
      20_000,
      "the pruned jobs' directories removed",
    )
    for (const id of ids.slice(2)) expect(existsSync(privateDir(dataDir, id))).toBe(true)

    // Two more finish: the periodic pass drops the two oldest again.
    const newer = [await completedWithDir(manager, dataDir), await completedWithDir(manager, dataDir)]
    await waitUntil(
      async () =>
        (await manager.listJobs({ status: "completed" })).map((j) => j.id).join() === [ids[4], ...newer].join(),
      20_000,
      "the three newest completed jobs",
    )
  })

  it("deletes jobs older than maxAgeMs and leaves other statuses alone", async () => {
    const dataDir = tempDir()
    const ids = await fiveCompleted(dataDir)
    const seed = await JobManager.open({ ...storeFor(dataDir), jobs })
    const cancelled = await seed.dispatch(WaitJob, {})
    await waitUntil(async () => (await cancelled.status()) === "running")
    await seed.cancel(cancelled.id)
    await seed.close()
    await setCompletedAt(dataDir, cancelled.id, ago(10 * HOUR))

    const manager = await openManager({
      dataDir,
      jobs,
      retention: { completed: { maxAgeMs: 2.5 * HOUR, maxCount: 10 } },
    })
    await waitUntil(
      async () => (await manager.listJobs({ status: "completed" })).length === 2,
      20_000,
      "two completed jobs left",
    )
    expect((await manager.listJobs({ status: "completed" })).map((j) => j.id)).toEqual(ids.slice(3))
    expect((await manager.getJobInfo(cancelled.id)).status).toBe("cancelled")
  })

  it("refuses a bad retention option with InvalidOptions naming it", async () => {
    const dataDir = tempDir()
    const bad: Array<[unknown, string]> = [
      [{ running: { maxAgeMs: 1 } }, "retention.running"],
      [{ completed: { maxAge: 1 } }, "retention.completed.maxAge"],
      [{ completed: {} }, "retention.completed"],
      [{ failed: { maxAgeMs: -5 } }, "retention.failed.maxAgeMs"],
      [{ cancelled: { maxCount: 1.5 } }, "retention.cancelled.maxCount"],
      [[], "retention"],
    ]
    for (const [retention, option] of bad) {
      const error = await JobManager.open({ ...storeFor(dataDir), jobs, retention: retention as never }).catch((e) => e)
      expect(error, option).toBeInstanceOf(InvalidOptions)
      expect(error.option).toBe(option)
    }
  })
})

describe("resource cleanup", () => {
  it("a running job cancelled: its cleanup hook runs once with its last checkpoint, and its private directory is gone", async () => {
    const dataDir = tempDir()
    const hookFile = join(dataDir, "hook.jsonl")
    const manager = await openManager({ dataDir, jobs })
    const handle = await manager.dispatch(DirJob, { hookFile })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).checkpoints >= 3, 20_000, "three checkpoints")
    expect(existsSync(join(privateDir(dataDir, handle.id), "scratch.txt"))).toBe(true)

    expect(await manager.cancel(handle.id)).toBe("cancelled")
    const info = await manager.getJobInfo(handle.id)
    await waitUntil(() => hookCalls(hookFile).length > 0, 20_000, "the cleanup hook")
    await waitUntil(() => !existsSync(privateDir(dataDir, handle.id)), 20_000, "the private directory removed")
    await new Promise((r) => setTimeout(r, 50))
    expect(hookCalls(hookFile)).toEqual([
      {
        id: handle.id,
        status: "cancelled",
        state: { step: info.checkpoints },
        dataDir: privateDir(dataDir, handle.id),
      },
    ])
  })

  it("a job failed for good: its hook runs once with status failed and its last checkpoint, and its directory is gone", async () => {
    const dataDir = tempDir()
    const hookFile = join(dataDir, "hook.jsonl")
    const manager = await openManager({ dataDir, jobs })
    const handle = await manager.dispatch(DirJob, { hookFile, failAfter: 4 })
    await handle.result().catch(() => undefined)
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).status === "failed", 20_000, "failed")
    await waitUntil(
      () => hookCalls(hookFile).length > 0 && !existsSync(privateDir(dataDir, handle.id)),
      20_000,
      "the cleanup",
    )
    await new Promise((r) => setTimeout(r, 50))
    expect(hookCalls(hookFile)).toEqual([
      { id: handle.id, status: "failed", state: { step: 4 }, dataDir: privateDir(dataDir, handle.id) },
    ])
  })

  it("a queued job cancelled through the store (no live actor): hook with its initial state, directory gone", async () => {
    const dataDir = tempDir()
    const hookFile = join(dataDir, "hook.jsonl")
    // A producer: it runs nothing, so the job stays a row and the cancel goes through the store.
    const manager = await openManager({ dataDir, jobs, concurrency: 0 })
    const handle = await manager.dispatch(DirJob, { hookFile })
    mkdirSync(privateDir(dataDir, handle.id), { recursive: true })
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    await waitUntil(
      () => hookCalls(hookFile).length > 0 && !existsSync(privateDir(dataDir, handle.id)),
      20_000,
      "the cleanup",
    )
    expect(hookCalls(hookFile)).toEqual([
      { id: handle.id, status: "cancelled", state: { step: 0 }, dataDir: privateDir(dataDir, handle.id) },
    ])
  })

  it("a non-resumable job whose process died is failed on recovery, and cleaned up", async () => {
    const dataDir = tempDir()
    const hookFile = join(dataDir, "hook.jsonl")
    const first = await JobManager.open({ ...storeFor(dataDir), jobs, leaseMs: 200 })
    const handle = await first.dispatch(OnceDirJob, { hookFile })
    await waitUntil(async () => (await first.getJobInfo(handle.id)).checkpoints >= 2, 20_000, "two checkpoints")
    await first.simulateCrash()
    const checkpoint = (await readRow(dataDir, handle.id))!.state_version
    expect(existsSync(privateDir(dataDir, handle.id))).toBe(true)

    const second = await openManager({ dataDir, jobs })
    await waitUntil(async () => (await second.getJobInfo(handle.id)).status === "failed", 20_000, "failed on recovery")
    await waitUntil(
      () => hookCalls(hookFile).length > 0 && !existsSync(privateDir(dataDir, handle.id)),
      20_000,
      "the cleanup",
    )
    await new Promise((r) => setTimeout(r, 50))
    expect(hookCalls(hookFile)).toEqual([
      { id: handle.id, status: "failed", state: { step: checkpoint }, dataDir: privateDir(dataDir, handle.id) },
    ])
  })

  it("a hook that fails is reported through onError and changes nothing else", async () => {
    const dataDir = tempDir()
    const hookFile = join(dataDir, "hook.jsonl")
    const errors: unknown[] = []
    const manager = await openManager({ dataDir, jobs, onError: (e) => errors.push(e) })
    const handle = await manager.dispatch(DirJob, { hookFile, hookThrows: true })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).checkpoints >= 1, 20_000, "a checkpoint")
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    await waitUntil(() => errors.length > 0, 20_000, "the error reported")
    expect(errors[0]).toBeInstanceOf(JobCleanupFailed)
    expect((errors[0] as Error).message).toContain("the hook broke")
    expect((errors[0] as Error).message).toContain(handle.id)
    expect((await manager.getJobInfo(handle.id)).status).toBe("cancelled")
    await waitUntil(() => !existsSync(privateDir(dataDir, handle.id)), 20_000, "the private directory removed")
    expect(hookCalls(hookFile)).toHaveLength(1)
  })

  it("a completed job keeps its private directory until it is pruned", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir, jobs })
    const id = await completedWithDir(manager, dataDir)
    await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(privateDir(dataDir, id))).toBe(true)
  })
})
