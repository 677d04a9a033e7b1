import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { InvalidOptions, JobFailed, defineJob } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { readRow } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const output = Schema.Struct({ count: Schema.Number, label: Schema.String })

/** Version 1: checkpoints `{ count: 5 }`, then runs until paused. */
const CounterV1 = defineJob({
  name: "versioned",
  params: Schema.Struct({}),
  state: Schema.Struct({ count: Schema.Number }),
  initialState: () => ({ count: 0 }),
  output,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* ctx.checkpoint({ count: 5 })
      for (;;) {
        yield* ctx.checkInterrupt
        yield* Effect.sleep(5)
      }
    }),
})

const v2 = (migrateState: Record<number, (state: any) => unknown>) =>
  defineJob({
    name: "versioned",
    stateVersion: 2,
    migrateState,
    params: Schema.Struct({}),
    state: Schema.Struct({ count: Schema.Number, label: Schema.String }),
    initialState: () => ({ count: 0, label: "new" }),
    output,
    run: (ctx) => Effect.succeed({ count: ctx.state.count, label: ctx.state.label }),
  })

/** Version 2: the state gained a label; version 1 states are given one. */
const CounterV2 = v2({ 1: (v1: { count: number }) => ({ count: v1.count, label: "migrated" }) })

const Marker = defineJob({ name: "marker", params: Schema.Struct({}), run: () => Effect.void })

/** A version-1 job paused after its checkpoint, on a data dir of its own; the manager closed. */
const pausedV1 = async () => {
  const dataDir = tempDir()
  const m1 = await openManager({ dataDir, jobs: [CounterV1] })
  const { id } = await m1.dispatch(CounterV1, {})
  await waitUntil(async () => (await m1.getJobInfo(id)).checkpoints === 1, 20_000, "the checkpoint")
  expect(await m1.pause(id)).toBe("paused")
  await m1.close()
  expect((await readRow(dataDir, id))!.state_schema_version).toBe(1)
  return { dataDir, id }
}

describe("versioned state", () => {
  it("migrates a version 1 state when version 2 code resumes it, and stores it at version 2", async () => {
    const { dataDir, id } = await pausedV1()
    const m2 = await openManager({ dataDir, jobs: [CounterV2] })
    await m2.resume(id)
    expect(await (await m2.handle(id)).result()).toEqual({ count: 5, label: "migrated" })
    expect((await m2.getJobInfo(id)).stateSchemaVersion).toBe(2)
  })

  it("fails the job, naming the step, when a migration throws or is missing", async () => {
    const { dataDir, id } = await pausedV1()
    const throwing = v2({
      1: () => {
        throw new Error("no label for you")
      },
    })
    const m2 = await openManager({ dataDir, jobs: [throwing] })
    await m2.resume(id)
    const failure = (await (await m2.handle(id)).result().catch((e: unknown) => e)) as JobFailed
    expect(failure).toBeInstanceOf(JobFailed)
    expect(failure.error._tag).toBe("StateMigrationFailed")
    expect(failure.error.message).toContain("from version 1 to 2")
    expect(failure.error.message).toContain("no label for you")
    // The stored state is the version 1 one, untouched.
    expect((await readRow(dataDir, id))!.state_schema_version).toBe(1)

    const other = await pausedV1()
    const v3 = defineJob({
      ...CounterV2,
      name: "versioned",
      stateVersion: 3,
      migrateState: { 2: (s: unknown) => s },
    } as never)
    const m3 = await openManager({ dataDir: other.dataDir, jobs: [v3] })
    await m3.resume(other.id)
    const missing = (await (await m3.handle(other.id)).result().catch((e: unknown) => e)) as JobFailed
    expect(missing.error.message).toContain("has no migrateState[1]")
  })

  it("leaves a row written by newer code to newer code: older code neither runs nor changes it", async () => {
    const dataDir = tempDir()
    const producer = await openManager({ dataDir, jobs: [CounterV2], concurrency: 0 })
    const { id } = await producer.dispatch(CounterV2, {})
    await producer.close()
    const before = (await readRow(dataDir, id))!
    expect(before.state_schema_version).toBe(2)

    const older = await openManager({ dataDir, jobs: [CounterV1, Marker], concurrency: 1 })
    // A job dispatched after it runs: the claim has looked at the queue and passed it over.
    await (await older.dispatch(Marker, {})).result()
    const after = (await readRow(dataDir, id))!
    expect(after.status).toBe("queued")
    expect(after.attempts).toBe(0)
    expect(Buffer.compare(after.data, before.data)).toBe(0)
    await older.close()

    const newer = await openManager({ dataDir, jobs: [CounterV2] })
    expect(await (await newer.handle(id)).result()).toEqual({ count: 0, label: "new" })
  })

  it("refuses versions and migrations that cannot be", () => {
    const base = { name: "v", params: Schema.Struct({}), run: () => Effect.void }
    expect(() => defineJob({ ...base, stateVersion: 0 })).toThrow(InvalidOptions)
    expect(() => defineJob({ ...base, stateVersion: 2, migrateState: { 2: (s: unknown) => s } })).toThrow(
      /migrateState\[2\]/,
    )
    expect(() => defineJob({ ...base, stateVersion: 2, migrateState: { 1: "nope" as never } })).toThrow(
      /expected a function/,
    )
  })
})
