import { join } from "node:path"
import { Effect, Exit, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  defineJob,
  DuplicateJobType,
  InvalidOptions,
  InvalidParams,
  JobFailed,
  JobManager,
  JobPriority,
  UnknownJobType,
} from "../../src/index.js"
import { allTestJobs, CountJob, FailingJob, NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("dispatch", () => {
  it("runs a dispatched job to completion and stores its output", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir })
    const effectsFile = join(dataDir, "effects.txt")
    const handle = await manager.dispatch(CountJob, { n: 5, effectsFile }, { priority: JobPriority.HIGH })
    expect(await handle.result()).toEqual({ counted: 5, attempt: 1 })
    expect(await handle.status()).toBe("completed")
    const info = await manager.getJobInfo(handle.id)
    expect(info).toMatchObject({
      name: "count",
      status: "completed",
      priority: 1,
      attempts: 1,
      checkpoints: 5,
      progress: 1,
    })
    expect(info.completedAt).not.toBeNull()
    const row = (await readRow(dataDir, handle.id))!
    expect(row).toMatchObject({ status: "completed", owner: null, attempts: 1, state_version: 5 })
    expect(JSON.parse(row.output!)).toEqual({ counted: 5, attempt: 1 })
  })

  it("validates JSON params by name and names every failing path, storing nothing", async () => {
    const manager = await openManager()
    const error = await manager.dispatchByName("count", { n: "ten", effectsFile: 3 }).catch((e) => e)
    expect(error).toBeInstanceOf(InvalidParams)
    expect(error._tag).toBe("InvalidParams")
    expect(error.issues.map((i: { path: string }) => i.path).sort()).toEqual(["effectsFile", "n"])
    expect(error.message).toContain("n: Expected number")
    // A JSON literal too large for a double parses to Infinity: refused, not stored as null.
    const huge = await manager.dispatchByName("count", JSON.parse('{"n": 1.5e400, "effectsFile": "f"}')).catch((e) => e)
    expect(huge).toMatchObject({
      _tag: "InvalidParams",
      issues: [{ path: "n", message: "Expected a finite number, got Infinity" }],
    })
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("refuses a priority that is not an integer as InvalidOptions naming it, wherever a job is made, storing nothing", async () => {
    const manager = await openManager()
    const dispatched = await manager.dispatch(NoopJob, {}, { priority: 1.5 }).catch((e) => e)
    expect(dispatched).toBeInstanceOf(InvalidOptions)
    expect(dispatched).toMatchObject({ option: "priority" })
    const byName = await manager.dispatchByName("noop", {}, { priority: 1.5 }).catch((e) => e)
    expect(byName).toMatchObject({ _tag: "InvalidOptions", option: "priority" })
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("rejects an unknown job type with the known names, storing nothing", async () => {
    const manager = await openManager()
    const error = await manager.dispatchByName("nope", {}).catch((e) => e)
    expect(error).toBeInstanceOf(UnknownJobType)
    expect(error.known).toContain("count")
    expect(error.message).toContain('Unknown job type "nope"')
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("rejects typed params that do not match the schema at run time", async () => {
    const manager = await openManager()
    const error = await manager.dispatch(CountJob, { n: "x" as unknown as number, effectsFile: "f" }).catch((e) => e)
    expect(error).toBeInstanceOf(InvalidParams)
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("dispatches by name with valid JSON", async () => {
    const manager = await openManager()
    const handle = await manager.dispatchByName("noop", { tag: "hi" })
    expect(await handle.result()).toEqual({ tag: "hi" })
  })

  it("refuses two job types with one name", async () => {
    const Other = defineJob({ name: "noop", params: Schema.Struct({}), run: () => Effect.void })
    await expect(JobManager.open({ ...storeFor(tempDir()), jobs: [NoopJob, Other] })).rejects.toBeInstanceOf(
      DuplicateJobType,
    )
  })

  it("gives the JSON Schema of params, output and progress per type", async () => {
    const manager = await openManager()
    expect(manager.listJobTypes()).toEqual([...allTestJobs.map((j) => j.name)].sort())
    const schema = manager.getJobSchema("count")
    expect(schema.params).toMatchObject({
      type: "object",
      required: expect.arrayContaining(["n", "effectsFile"]),
      properties: { effectsFile: { type: "string" } },
    })
    expect(schema.output).toMatchObject({ type: "object", properties: { counted: {} } })
    expect(() => manager.getJobSchema("nope")).toThrow(UnknownJobType)
  })

  it("stores a typed failure and a defect as data and keeps running other jobs", async () => {
    const manager = await openManager()
    const typed = await manager.dispatch(FailingJob, { mode: "typed" })
    const thrown = await manager.dispatch(FailingJob, { mode: "throw" })
    const rejected = await manager.dispatch(FailingJob, { mode: "reject" })
    const ok = await manager.dispatch(NoopJob, { tag: "after" })

    const typedError = await typed.result().catch((e) => e)
    expect(typedError).toBeInstanceOf(JobFailed)
    expect(typedError.error).toMatchObject({
      _tag: "QuotaExceeded",
      message: "quota of 3 exceeded",
      details: { limit: 3 },
    })
    expect((await thrown.result().catch((e) => e)).error).toMatchObject({ _tag: "RangeError", message: "boom" })
    expect((await rejected.result().catch((e) => e)).error).toMatchObject({ message: "rejected" })
    expect(await ok.result()).toEqual({ tag: "after" })

    const info = await manager.getJobInfo(typed.id)
    expect(info.status).toBe("failed")
    expect(info.error).toMatchObject({ _tag: "QuotaExceeded" })
    expect((await manager.listJobs({ status: "failed" })).map((j) => j.id).sort()).toEqual(
      [typed.id, thrown.id, rejected.id].sort(),
    )
  })

  it("keeps what an error was caused by: Effect.tryPromise's UnknownError stores the rejection it wraps", async () => {
    const ReadConfig = defineJob({
      name: "read_config",
      params: Schema.Struct({ path: Schema.String }),
      run: (ctx) =>
        Effect.tryPromise(() =>
          Promise.reject(
            Object.assign(new Error(`ENOENT: no such file or directory, open '${ctx.params.path}'`), {
              code: "ENOENT",
            }),
          ),
        ),
    })
    const manager = await openManager({ jobs: [ReadConfig] })
    const handle = await manager.dispatch(ReadConfig, { path: "/missing.json" })
    const failure = await handle.result().catch((e) => e)
    expect(failure).toBeInstanceOf(JobFailed)
    expect(failure.error).toMatchObject({
      _tag: "UnknownError",
      cause: {
        _tag: "Error",
        message: "ENOENT: no such file or directory, open '/missing.json'",
        details: { code: "ENOENT" },
      },
    })
    // Effect's private marks are not stored as the error's data.
    expect(Object.keys(failure.error.details ?? {}).filter((k) => k.startsWith("~"))).toEqual([])
    expect(failure.message).toContain("caused by [Error] ENOENT: no such file or directory, open '/missing.json'")
    const info = await manager.getJobInfo(handle.id)
    expect(info.error?.cause?.message).toContain("ENOENT")
  })

  it("offers every operation as an Effect with typed errors", async () => {
    const manager = await openManager()
    const exit = await Effect.runPromiseExit(manager.effect.dispatchByName("count", { n: -1 }))
    expect(Exit.isFailure(exit)).toBe(true)
    const program = Effect.gen(function* () {
      const handle = yield* manager.effect.dispatch(NoopJob, { tag: "fx" })
      return yield* manager.effect.result<{ tag: string }>(handle.id)
    })
    expect(await Effect.runPromise(program)).toEqual({ tag: "fx" })
    const notFound = await Effect.runPromise(Effect.flip(manager.effect.getJobInfo("missing")))
    expect(notFound._tag).toBe("JobNotFound")
  })
})

describe("the package's errors", () => {
  it("exports every error class a call or a job can meet, each with its tag", async () => {
    const api = await import("../../src/index.js")
    const tags = [
      "UnknownJobType",
      "InvalidParams",
      "InvalidOptions",
      "JobNotFound",
      "InvalidTransition",
      "JobFailed",
      "JobCancelled",
      "JobInterrupted",
      "ChildJobFailed",
      "PersistenceError",
      "StoreRecovered",
      "SerializationError",
      "ManagerClosed",
      "JobTimeout",
      "UniqueKeyTaken",
      "StateMigrationFailed",
    ]
    for (const tag of tags) {
      const Class = (api as Record<string, unknown>)[tag] as (new (args: object) => { _tag: string }) | undefined
      expect(Class, tag).toBeTypeOf("function")
      expect(new Class!({})._tag).toBe(tag)
    }
  })
})
