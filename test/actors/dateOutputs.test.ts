import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, Progress } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"

/** Output and progress hold Dates: stored as JSON text, they come back as Dates. */
const StampJob = defineJob({
  name: "stamp",
  params: Schema.Struct({ at: Schema.Date }),
  output: Schema.Struct({ at: Schema.Date, next: Schema.Date }),
  progress: Schema.Struct({ upTo: Schema.Date }),
  run: (ctx) =>
    Effect.gen(function* () {
      yield* ctx.progress(Progress.structured({ upTo: ctx.params.at }))
      return { at: ctx.params.at, next: new Date(ctx.params.at.getTime() + 86_400_000) }
    }),
})

const StampParent = defineJob({
  name: "stamp_parent",
  params: Schema.Struct({}),
  output: Schema.Struct({ days: Schema.Array(Schema.Number) }),
  run: (ctx) =>
    Effect.gen(function* () {
      const ids = yield* ctx.spawnChildren(
        [0, 1].map((n) => ({ job: StampJob, params: { at: new Date(Date.UTC(2026, 0, 1 + n)) }, key: `s${n}` })),
      )
      const outputs = yield* ctx.awaitChildren<{ at: Date }>(ids)
      // A child's output arrives decoded: Dates, not strings.
      return { days: outputs.map((o) => o.at.getUTCDate()) }
    }),
})

describe("outputs and progress with Dates", () => {
  it("are stored as JSON and read back as Dates, by the caller and by a parent", async () => {
    const manager = await openManager({ jobs: [StampJob, StampParent] })
    const at = new Date("2026-12-07T06:00:00.000Z")
    const job = await manager.dispatch(StampJob, { at })
    const output = await job.result()
    expect(output.at).toBeInstanceOf(Date)
    expect(output).toEqual({ at, next: new Date("2026-12-08T06:00:00.000Z") })
    // As stored: the JSON form the published schema describes.
    expect((await manager.getJobInfo(job.id)).output).toEqual({
      at: at.toISOString(),
      next: "2026-12-08T06:00:00.000Z",
    })
    expect((await manager.getJobInfo(job.id)).progressData).toEqual({
      _tag: "Structured",
      data: { upTo: at.toISOString() },
    })

    await expect((await manager.dispatch(StampParent, {})).result()).resolves.toEqual({ days: [1, 2] })
  })
})
