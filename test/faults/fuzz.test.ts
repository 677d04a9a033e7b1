import { join } from "node:path"
import Database from "better-sqlite3"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { defineJob, InvalidParams, InvalidTransition, JobManager, UnknownJobType, type JobStatus } from "../../src/index.js"
import { unpack } from "../../src/persistence/codec.js"
import { WaitJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/** Inert job types with a spread of schema shapes; their runs do nothing. */
const shapes = [
  defineJob({ name: "flat", params: Schema.Struct({ a: Schema.String, b: Schema.Number }), run: () => Effect.void }),
  defineJob({
    name: "optional",
    params: Schema.Struct({ path: Schema.String, depth: Schema.optional(Schema.Number), tags: Schema.optional(Schema.Array(Schema.String)) }),
    run: () => Effect.void,
  }),
  defineJob({
    name: "nested",
    params: Schema.Struct({
      sources: Schema.Array(Schema.Struct({ path: Schema.String, size: Schema.Number })),
      mode: Schema.Literals(["Metadata", "Content", "Deep"]),
      options: Schema.Struct({ verify: Schema.Boolean }),
    }),
    run: () => Effect.void,
  }),
  defineJob({ name: "empty", params: Schema.Struct({}), run: () => Effect.void }),
]

const json = fc.jsonValue({ maxDepth: 3 })
/** Values shaped like a given type's params, sometimes right and sometimes off in one place. */
const nearlyValid = fc.oneof(
  fc.record({ a: fc.oneof(fc.string(), fc.integer()), b: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()) }),
  fc.record({ path: fc.string(), depth: fc.option(fc.integer(), { nil: undefined }), tags: fc.option(fc.array(fc.oneof(fc.string(), fc.integer())), { nil: undefined }) }, { requiredKeys: [] }),
  fc.record({
    sources: fc.array(fc.record({ path: fc.string(), size: fc.oneof(fc.nat(), fc.constant("big")) })),
    mode: fc.constantFrom("Metadata", "Content", "Deep", "Shallow"),
    options: fc.record({ verify: fc.oneof(fc.boolean(), fc.constant(null)) }),
  }),
)

/** MessagePack, like JSON text, has no negative zero: -0 is stored as 0 (equal by ===). */
const withoutNegativeZero = (value: unknown): unknown =>
  Object.is(value, -0)
    ? 0
    : Array.isArray(value)
      ? value.map(withoutNegativeZero)
      : typeof value === "object" && value !== null
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]))
        : value

const storedRows = (dataDir: string) => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
  try {
    return db.prepare("SELECT id, name, params FROM jobs").all() as Array<{ id: string; name: string; params: Buffer }>
  } finally {
    db.close()
  }
}

describe("bad input, fuzzed", () => {
  it("stores a job whose params decode back equal, or rejects with InvalidParams/UnknownJobType and stores nothing", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: shapes })
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(...shapes.map((s) => s.name)), fc.string()), fc.oneof(json, nearlyValid), async (name, params) => {
          const before = storedRows(dataDir).length
          const result = await manager.dispatchByName(name, params).then(
            (handle) => ({ ok: true as const, handle }),
            (error) => ({ ok: false as const, error }),
          )
          const rows = storedRows(dataDir)
          const definition = shapes.find((s) => s.name === name)
          if (!result.ok) {
            expect(rows).toHaveLength(before)
            if (definition === undefined) expect(result.error).toBeInstanceOf(UnknownJobType)
            else {
              expect(result.error).toBeInstanceOf(InvalidParams)
              expect(result.error.issues.length).toBeGreaterThan(0)
            }
            return
          }
          expect(definition).toBeDefined()
          expect(rows).toHaveLength(before + 1)
          const row = rows.find((r) => r.id === result.handle.id)!
          const stored = Schema.decodeUnknownSync(definition!.params)(unpack(row.params, "params"))
          expect(stored).toEqual(withoutNegativeZero(Schema.decodeUnknownSync(definition!.params)(params)))
        }),
        { numRuns: 300 },
      )
    } finally {
      await manager.close()
    }
  })

  type Op =
    | { readonly kind: "dispatch" }
    | { readonly kind: "pause" | "resume" | "cancel"; readonly job: number }
    | { readonly kind: "restart" }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: "dispatch" as const }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom("pause" as const, "resume" as const, "cancel" as const), job: fc.nat(7) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
  )

  /** What a job's status may be, by the simple model: active jobs are queued or running. */
  type Model = "active" | "paused" | "cancelled"
  const allowed: Record<Model, ReadonlyArray<JobStatus>> = { active: ["queued", "running"], paused: ["paused"], cancelled: ["cancelled"] }

  it("keeps every job's status where a simple model says, through dispatch, pause, resume, cancel and restarts", async () => {
    const concurrency = 2
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const dataDir = tempDir()
        const open = () => JobManager.open({ dataDir, jobs: [WaitJob], concurrency, interruptGraceMs: 2_000 })
        let manager = await open()
        const jobs: Array<{ id: string; model: Model }> = []
        try {
          for (const o of ops) {
            if (o.kind === "dispatch") jobs.push({ id: (await manager.dispatch(WaitJob, {})).id, model: "active" })
            else if (o.kind === "restart") {
              await manager.close()
              manager = await open()
            } else if (jobs.length > 0) {
              const job = jobs[o.job % jobs.length]!
              const accepted =
                (o.kind === "pause" && job.model === "active") ||
                (o.kind === "resume" && job.model === "paused") ||
                (o.kind === "cancel" && job.model !== "cancelled")
              const outcome = await manager[o.kind](job.id).then(
                (status) => status,
                (error) => error,
              )
              if (accepted) {
                job.model = o.kind === "pause" ? "paused" : o.kind === "resume" ? "active" : "cancelled"
                expect(allowed[job.model]).toContain(o.kind === "resume" ? "queued" : outcome)
              } else expect(outcome).toBeInstanceOf(InvalidTransition)
            }
            const active = jobs.filter((j) => j.model === "active").length
            // Slots free up at the next turn of the event loop: wait for the scheduler to settle.
            await waitUntil(async () => (await manager.listRunningJobs()).length === Math.min(concurrency, active), 20_000, "the slots to fill")
            for (const job of jobs) expect(allowed[job.model], `job ${job.id}`).toContain((await manager.getJobInfo(job.id)).status)
          }
        } finally {
          await manager.close()
        }
      }),
      { numRuns: 25 },
    )
  })
})
