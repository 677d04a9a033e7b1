import { copyFileSync, existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, JobManager, PersistenceError } from "../../src/index.js"
import { latestSchemaVersion } from "../../src/persistence/sqlite/migrations.js"
import { allTestJobs, NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { holdLock } from "../fixtures/lockHolder.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const SyncThrowJob = defineJob({
  name: "sync_throw",
  params: Schema.Struct({}),
  run: () => {
    throw new TypeError("thrown before any Effect")
  },
})

/** Checkpoints an ever larger state and logs, so every step needs new database pages. */
const HoarderJob = defineJob({
  name: "hoarder",
  params: Schema.Struct({ steps: Schema.Number }),
  state: Schema.Struct({ items: Schema.Array(Schema.String) }),
  initialState: () => ({ items: [] }),
  output: Schema.Struct({ items: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      for (let i = ctx.state.items.length; i < ctx.params.steps; i++) {
        yield* Effect.sleep(3)
        yield* ctx.log(`step ${i} `.padEnd(2000, "."))
        yield* ctx.checkpoint({ items: [...ctx.state.items, `item ${i} `.padEnd(1000, "#")] })
      }
      return { items: ctx.state.items.length }
    }),
})

describe("SQLite faults", () => {
  const jobs = [...allTestJobs, SyncThrowJob, HoarderJob, BigOutputJob]

  it("waits out another process's write lock held under the busy timeout, and loses nothing", async () => {
    const dataDir = tempDir()
    const errors: unknown[] = []
    const manager = await openManager({ dataDir, jobs, onError: (e) => errors.push(e) })
    await (await manager.dispatch(NoopJob, {})).result()
    const { released } = await holdLock(join(dataDir, "jobs.db"), "IMMEDIATE", 800)
    const handles = []
    for (let i = 0; i < 20; i++) handles.push(await manager.dispatch(NoopJob, { tag: String(i) }))
    const outputs = await Promise.all(handles.map((h) => h.result()))
    expect(outputs.map((o) => o.tag)).toEqual(handles.map((_, i) => String(i)))
    expect(errors).toEqual([])
    await released
  })

  it("holds a checkpoint that meets a full disk until there is room: the job completes, nothing false stored, no retry spent", async () => {
    const dataDir = tempDir()
    const errors: unknown[] = []
    const manager = await openManager({ dataDir, jobs, onError: (e) => errors.push(e) })
    const handle = await manager.dispatch(HoarderJob, { steps: 60 })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).checkpoints >= 5, 20_000, "five checkpoints")
    const room = fillDisk(manager)
    await waitUntil(
      () => errors.some((e) => e instanceof PersistenceError && /full/i.test(e.detail)),
      20_000,
      "the full disk, reported",
    )
    const stuck = (await manager.getJobInfo(handle.id)).checkpoints
    expect((await manager.getJobInfo(handle.id)).status).toBe("running")
    room()
    expect(await handle.result()).toEqual({ items: 60 })
    const info = await manager.getJobInfo(handle.id)
    expect({ status: info.status, failures: info.failures, attempts: info.attempts }).toEqual({
      status: "completed",
      failures: 0,
      attempts: 1,
    })
    expect(info.checkpoints).toBeGreaterThan(stuck)
    await manager.close()
  })

  it("never claims an end it could not record: closed while the disk is full, the job stays running in the store and resumes on reopen", async () => {
    const dataDir = tempDir()
    const errors: unknown[] = []
    const first = await JobManager.open({ dataDir, jobs, onError: (e) => errors.push(e) })
    const handle = await first.dispatch(BigOutputJob, {})
    await waitUntil(async () => (await first.getJobInfo(handle.id)).checkpoints === 1, 20_000, "the checkpoint")
    fillDisk(first)
    release.go()
    await waitUntil(
      () => errors.some((e) => e instanceof PersistenceError && /full/i.test(e.detail)),
      20_000,
      "the full disk, reported",
    )
    const result = handle.result().catch((e) => e)
    // Closing gives up on the write it could not make (after three tries) instead of waiting for room.
    await first.close()
    expect(await result).toBeInstanceOf(Error)

    const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok")
    expect(db.prepare("SELECT status FROM jobs WHERE id = ?").pluck().get(handle.id)).toBe("running")
    db.close()

    const second = await openManager({ dataDir, jobs })
    const output = await (await second.handle(handle.id)).result()
    expect(output).toMatchObject({ resumed: true })
    expect((output as { text: string }).text).toHaveLength(300_000)
    expect((await second.getJobInfo(handle.id)).attempts).toBe(2)
  })
})

describe("SQLite migrations", () => {
  it("refuses, untouched, a database written by a newer schema version", async () => {
    const dataDir = tempDir()
    const m = await JobManager.open({ dataDir, jobs: allTestJobs })
    await m.close()
    const file = join(dataDir, "jobs.db")
    const db = new Database(file)
    db.pragma(`user_version = ${latestSchemaVersion + 1}`)
    // A newer jobstate might not use WAL: opening must not even switch the journal mode.
    db.pragma("journal_mode = DELETE")
    db.close()
    copyFileSync(file, `${file}.before`)
    const error = await JobManager.open({ dataDir, jobs: allTestJobs }).catch((e) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect(error.reason).toBe("NewerSchema")
    expect(error.message).toContain("newer")
    expect(readFileSync(file).equals(readFileSync(`${file}.before`))).toBe(true)
    expect(existsSync(`${file}-wal`)).toBe(false)
    expect(statSync(file).size).toBeGreaterThan(0)
  })
})

/** SQLite's own cap on the file's size: the next page a write needs fails it with SQLITE_FULL. */
/** Lets the database grow no more (SQLite answers SQLITE_FULL, as on a full disk); the returned function makes room again. */
const fillDisk = (manager: JobManager): (() => void) => {
  const db = (manager as unknown as { engine: { store: { db: Database.Database } } }).engine.store.db
  const before = db.pragma("max_page_count", { simple: true })
  db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`)
  return () => db.pragma(`max_page_count = ${before}`)
}

const release = (() => {
  let go = () => {}
  const gate = new Promise<void>((r) => (go = r))
  return { gate, go: () => go() }
})()

/** Checkpoints once, waits for the test, then returns an output too big for a full disk. */
const BigOutputJob = defineJob({
  name: "big_output",
  params: Schema.Struct({}),
  state: Schema.Struct({ checkpointed: Schema.Boolean }),
  initialState: () => ({ checkpointed: false }),
  output: Schema.Struct({ resumed: Schema.Boolean, text: Schema.String }),
  run: (ctx) =>
    Effect.gen(function* () {
      const resumed = ctx.state.checkpointed
      if (!resumed) {
        yield* ctx.checkpoint({ checkpointed: true })
        yield* Effect.promise(() => release.gate)
      }
      return { resumed, text: "x".repeat(300_000) }
    }),
})
