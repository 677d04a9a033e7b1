import { join } from "node:path"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, InvalidParams } from "../../src/index.js"
import { FileCopyJob, IndexerJob } from "../../src/builtin/index.js"
import { CountJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"

const EmptyJob = defineJob({
  name: "empty",
  params: Schema.Struct({}),
  output: Schema.String,
  run: () => Effect.succeed("done"),
})

const paramsError = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected InvalidParams")
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(InvalidParams)
      return error as InvalidParams
    },
  )

describe("params are strict", () => {
  it("names a key the schema does not declare, nested in a builtin job's options, and stores nothing", async () => {
    const manager = await openManager({ jobs: [FileCopyJob, IndexerJob] })
    const error = await paramsError(
      manager.dispatchByName("file_copy", { sources: ["a"], destination: "b", options: { confict: "skip" } }),
    )
    expect(error.issues).toEqual([{ path: "options.confict", message: "Expected no excess property" }])
    expect(error.message).toContain("options.confict")
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("names every unknown key of a user-defined job, next to its other failing paths", async () => {
    const manager = await openManager()
    const error = await paramsError(
      manager.dispatchByName("count", { n: "ten", effectsFile: "f", extra: 1, more: true }),
    )
    expect(error.issues.map((i) => i.path).sort()).toEqual(["extra", "more", "n"])
    expect(await manager.listJobs()).toHaveLength(0)
  })

  it("holds for an empty params struct, which Effect otherwise leaves open", async () => {
    const manager = await openManager({ jobs: [EmptyJob] })
    const error = await paramsError(manager.dispatchByName("empty", { typo: 1 }))
    expect(error.issues).toEqual([{ path: "typo", message: "Expected no excess property" }])
    expect(await (await manager.dispatchByName("empty", {})).result()).toBe("done")
  })

  it("says so in the JSON Schema: additionalProperties false, nested objects and empty params too", async () => {
    const manager = await openManager({ jobs: [FileCopyJob, CountJob, EmptyJob] })
    const copy = manager.getJobSchema("file_copy").params as {
      additionalProperties: unknown
      properties: { options: { additionalProperties: unknown } }
    }
    expect(copy.additionalProperties).toBe(false)
    expect(copy.properties.options.additionalProperties).toBe(false)
    expect((manager.getJobSchema("count").params as { additionalProperties: unknown }).additionalProperties).toBe(false)
    expect(manager.getJobSchema("empty").params).toMatchObject({ type: "object", additionalProperties: false })
    // Still a valid dispatch afterwards: the schema describes what is accepted.
    await manager.dispatchByName("count", { n: 1, effectsFile: join(manager.options.dataDir, "e.txt") })
  })
})

/** Params with a Date and an optional field: what the published JSON Schema says, by-name dispatch must take. */
const DatedJob = defineJob({
  name: "dated",
  params: Schema.Struct({ at: Schema.Date, note: Schema.optional(Schema.String) }),
  output: Schema.Struct({ year: Schema.Number, note: Schema.String }),
  run: (ctx) => Effect.succeed({ year: ctx.params.at.getUTCFullYear(), note: ctx.params.note ?? "(none)" }),
})

describe("params by name", () => {
  it("take what getJobSchema publishes: an ISO string for a Date, null for an absent optional field; and refuse what it does not", async () => {
    const manager = await openManager({ jobs: [DatedJob] })
    const published = manager.getJobSchema("dated").params as { properties: Record<string, unknown> }
    // A Date is an ISO 8601 string in JSON, and the schema says which kind.
    expect(published.properties.at).toEqual({ type: "string", format: "date-time" })
    expect(published.properties.note).toEqual({ anyOf: [{ type: "string" }, { type: "null" }] })
    const byName = await manager.dispatchByName("dated", { at: "2031-05-01T00:00:00.000Z", note: null })
    expect(await byName.result()).toEqual({ year: 2031, note: "(none)" })
    const typed = await manager.dispatch(DatedJob, { at: new Date("2029-01-01T00:00:00Z"), note: "typed" })
    expect(await typed.result()).toEqual({ year: 2029, note: "typed" })
    const error = await paramsError(manager.dispatchByName("dated", { at: "not a date" }))
    expect(error.issues.map((i) => i.path)).toEqual(["at"])
    // A key set to undefined is no key, as in JSON: it does not make the date's string wrong.
    const spelledOut = await manager.dispatchByName("dated", { at: "2031-05-01T00:00:00.000Z", note: undefined })
    expect(await spelledOut.result()).toEqual({ year: 2031, note: "(none)" })
  })

  it("publish every Date as a date-time string, wherever it sits, and nothing else as one", async () => {
    const Moment = Schema.Struct({ at: Schema.Date, label: Schema.String })
    const NestedJob = defineJob({
      name: "nested_dates",
      params: Schema.Struct({
        when: Schema.optional(Schema.Date),
        moments: Schema.Array(Moment),
        either: Schema.Union([Schema.Date, Schema.Number]),
      }),
      output: Schema.Struct({ dates: Schema.Number }),
      run: (ctx) =>
        Effect.succeed({
          dates:
            ctx.params.moments.length +
            (ctx.params.when instanceof Date ? 1 : 0) +
            (ctx.params.either instanceof Date ? 1 : 0),
        }),
    })
    // Only its schema is read: an output as well as params.
    const DatedOutputJob = defineJob({
      name: "dated_output",
      params: Schema.Struct({}),
      output: Schema.Struct({ endedAt: Schema.Date }),
      run: () => Effect.succeed({ endedAt: new Date() }),
    })
    const manager = await openManager({ jobs: [NestedJob, DatedOutputJob, FileCopyJob, IndexerJob] })
    const schema = manager.getJobSchema("nested_dates")
    const dateTime = { type: "string", format: "date-time" }
    expect((schema.params as { properties: unknown }).properties).toEqual({
      when: { anyOf: [dateTime, { type: "null" }] },
      moments: {
        type: "array",
        items: {
          type: "object",
          properties: { at: dateTime, label: { type: "string" } },
          required: ["at", "label"],
          additionalProperties: false,
        },
      },
      either: { anyOf: [dateTime, { type: "number" }, { type: "string", enum: ["Infinity", "-Infinity", "NaN"] }] },
    })
    expect((manager.getJobSchema("dated_output").output as { properties: unknown }).properties).toEqual({
      endedAt: dateTime,
    })
    // What the schema publishes, by-name dispatch takes: each of the three decodes to a Date.
    const handle = await manager.dispatchByName("nested_dates", {
      when: "2031-05-01T10:00:00Z",
      moments: [{ at: "2031-05-01T10:00:00.000+02:00", label: "a" }],
      either: "2031-05-01T00:00:00Z",
    })
    expect(await handle.result()).toEqual({ dates: 3 })
    // The builtin types have no Date: their schemas carry no format.
    expect(JSON.stringify([manager.getJobSchema("file_copy"), manager.getJobSchema("indexer")])).not.toContain("format")
  })
})
