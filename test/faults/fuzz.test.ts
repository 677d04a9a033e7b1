import { Effect, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  defineJob,
  InvalidParams,
  InvalidTransition,
  JobManager,
  UnknownJobType,
  type JobStatus,
} from "../../src/index.js"
import { unpack } from "../../src/persistence/codec.js"
import { WaitJob } from "../fixtures/jobs.js"
import { readRows, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"

/** Inert job types with a spread of schema shapes; their runs do nothing. */
const shapes = [
  defineJob({ name: "flat", params: Schema.Struct({ a: Schema.String, b: Schema.Number }), run: () => Effect.void }),
  defineJob({
    name: "optional",
    params: Schema.Struct({
      path: Schema.String,
      depth: Schema.optional(Schema.Number),
      tags: Schema.optional(Schema.Array(Schema.String)),
    }),
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
  fc.record({
    a: fc.oneof(fc.string(), fc.integer()),
    b: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()),
  }),
  fc.record(
    {
      path: fc.string(),
      depth: fc.option(fc.integer(), { nil: undefined }),
      tags: fc.option(fc.array(fc.oneof(fc.string(), fc.integer())), { nil: undefined }),
    },
    { requiredKeys: [] },
  ),
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

describe("bad input, fuzzed", () => {
  it("stores a job whose params decode back equal, or rejects with InvalidParams/UnknownJobType and stores nothing", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ ...storeFor(dataDir), jobs: shapes })
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constantFrom(...shapes.map((s) => s.name)), fc.string()),
          fc.oneof(json, nearlyValid),
          async (name, params) => {
            // Read apart from the manager, as the store under test holds them.
            const before = (await readRows(dataDir)).length
            const result = await manager.dispatchByName(name, params).then(
              (handle) => ({ ok: true as const, handle }),
              (error) => ({ ok: false as const, error }),
            )
            const rows = await readRows(dataDir)
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
          },
        ),
        { numRuns: 300 },
      )
    } finally {
      await manager.close()
    }
    // 300 dispatches and reads took 51 s at a load average of 10.
  }, 180_000)

  type Op =
    | { readonly kind: "dispatch" }
    | { readonly kind: "pause" | "resume" | "cancel"; readonly job: number }
    | { readonly kind: "restart" }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: "dispatch" as const }) },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constantFrom("pause" as const, "resume" as const, "cancel" as const),
        job: fc.nat(7),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
  )

  /** What a job's status may be, by the simple model: active jobs are queued or running. */
  type Model = "active" | "paused" | "cancelled"
  const allowed: Record<Model, ReadonlyArray<JobStatus>> = {
    active: ["queued", "running"],
    paused: ["paused"],
    cancelled: ["cancelled"],
  }
  /** What an accepted command resolves with: the status it reached (a WaitJob never ends first). */
  const reached = { pause: "paused", resume: "queued", cancel: "cancelled" } as const

  /** The slots as seen at one moment: the engine's live count and what the store says. */
  const slots = async (manager: JobManager) => {
    const live = manager.stats().running
    const running = (await manager.listJobs({ status: "running" })).map((j) => j.id).sort()
    const queued = (await manager.listJobs({ status: "queued" })).map((j) => j.id).sort()
    return { live, running, queued }
  }

  /**
   * Waits for the scheduler to settle: a few consecutive reads of the slots that agree, with
   * every free slot given to a waiting active job and the engine agreeing with the store
   * (a commit, a claim among them, may be in flight for a while: on PostgreSQL a new pool
   * connection takes tens of ms). Every read, settled or not, is checked against the limit.
   */
  const settle = async (manager: JobManager, limit: number, active: number) => {
    const expected = Math.min(limit, active)
    const deadline = Date.now() + 10_000
    let previous = ""
    let agreeing = 0
    for (;;) {
      const now = await slots(manager)
      expect(now.live, "jobs live in the engine").toBeLessThanOrEqual(limit)
      expect(now.running.length, "jobs stored as running").toBeLessThanOrEqual(limit)
      const key = JSON.stringify(now)
      const target = now.running.length === expected && now.live === expected
      agreeing = target && key === previous ? agreeing + 1 : target ? 1 : 0
      previous = key
      if (agreeing >= 4) return now
      if (Date.now() > deadline)
        throw new Error(`the slots never settled at ${expected} running of ${active} active jobs; last read ${key}`)
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  it("keeps every job's status where a simple model says, through dispatch, pause, resume, cancel and restarts", async () => {
    const concurrency = 2
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const dataDir = tempDir()
        const open = () =>
          JobManager.open({ ...storeFor(dataDir), jobs: [WaitJob], concurrency, interruptGraceMs: 2_000 })
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
              const before = job.model
              const accepted =
                (o.kind === "pause" && before === "active") ||
                (o.kind === "resume" && before === "paused") ||
                (o.kind === "cancel" && before !== "cancelled")
              const outcome: unknown = await manager[o.kind](job.id).then(
                (status) => status,
                (error) => error,
              )
              const what = `${o.kind} of job ${job.id} (model: ${before})`
              if (accepted) {
                expect(outcome, what).toBe(reached[o.kind])
                job.model = o.kind === "pause" ? "paused" : o.kind === "resume" ? "active" : "cancelled"
              } else {
                expect(outcome, what).toBeInstanceOf(InvalidTransition)
                const refused = outcome as InvalidTransition
                expect({ id: refused.id, event: refused.event }, what).toEqual({
                  id: job.id,
                  event: o.kind.toUpperCase(),
                })
                expect(allowed[before], what).toContain(refused.status)
              }
            }
            const active = new Set(jobs.filter((j) => j.model === "active").map((j) => j.id))
            const settled = await settle(manager, concurrency, active.size)
            // Settled: the engine runs the jobs the store says it runs, and nothing the model
            // says is stopped holds a slot or waits for one.
            expect((await manager.listRunningJobs()).map((j) => j.id).sort()).toEqual(settled.running)
            expect(
              [...settled.running, ...settled.queued].filter((id) => !active.has(id)),
              "running or queued, but stopped by the model",
            ).toEqual([])
            for (const job of jobs) {
              const info = await manager.getJobInfo(job.id)
              expect(allowed[job.model], `job ${job.id}`).toContain(info.status)
              if (job.model === "paused") expect(info.pausedBy, `paused job ${job.id}`).toBe("user")
            }
          }
        } finally {
          await manager.close()
        }
      }),
      { numRuns: 25 },
    )
  })
})
