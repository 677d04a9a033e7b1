/**
 * An `async` job's calls take effect when they are made, awaited or not, in the order made; an
 * Effect job's calls stay Effects, run when yielded.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, JobCallIgnored, Progress } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const gate = (() => {
  let open = () => {}
  let opened = new Promise<void>((r) => (open = r))
  return {
    wait: () => opened,
    open: () => open(),
    reset: () => void (opened = new Promise<void>((r) => (open = r))),
  }
})()

/** Logs, reports progress and checkpoints without awaiting any of it, then waits for the test. */
const CarelessJob = defineJob({
  name: "careless",
  params: Schema.Struct({}),
  state: Schema.Struct({ step: Schema.Number }),
  initialState: () => ({ step: 0 }),
  progress: Schema.Struct({ done: Schema.Number }),
  output: Schema.Struct({ resumedAt: Schema.Number }),
  run: async (ctx) => {
    if (ctx.state.step === 2) return { resumedAt: 2 }
    // Before the first await, and after it: neither awaited.
    void ctx.log("one")
    void ctx.checkpoint({ step: 1 })
    await new Promise((r) => setTimeout(r, 10))
    void ctx.log("two")
    void ctx.progress(Progress.structured({ done: 2 }))
    void ctx.checkpoint({ step: 2 })
    void ctx.log("three")
    await gate.wait()
    return { resumedAt: 0 }
  },
})

/** An async job that runs an Effect of its own yielding a context call: the call runs once. */
const MixedJob = defineJob({
  name: "mixed",
  params: Schema.Struct({}),
  run: async (ctx) => {
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* ctx.log("inside an Effect")
      }),
    )
  },
})

/** Makes an Effect it never yields: as any Effect, it does nothing. */
const EffectfulJob = defineJob({
  name: "effectful",
  params: Schema.Struct({}),
  run: (ctx) =>
    Effect.gen(function* () {
      const unused = ctx.log("never yielded")
      void unused
      yield* ctx.log("yielded")
    }),
})

/** Returns, leaving a timer that logs (twice) after the job has ended. */
let lateLogged = () => {}
const LateJob = defineJob({
  name: "late",
  params: Schema.Struct({}),
  run: async (ctx) => {
    setTimeout(() => {
      void ctx.log("after the end")
      void ctx.log("again")
      lateLogged()
    }, 50)
  },
})

/** Reads its state right after an awaited checkpoint. */
const ReadBackJob = defineJob({
  name: "read_back",
  params: Schema.Struct({}),
  state: Schema.Struct({ step: Schema.Number }),
  initialState: () => ({ step: 0 }),
  output: Schema.Struct({ seen: Schema.Number }),
  run: async (ctx) => {
    await ctx.checkpoint({ step: 7 })
    return { seen: ctx.state.step }
  },
})

const jobs = [CarelessJob, EffectfulJob, MixedJob, LateJob, ReadBackJob]

describe("the calls of a job's context", () => {
  it("in an async job, take effect when made, in order, whether or not they are awaited: stored before the job ends, and resumed from after a crash", async () => {
    gate.reset()
    const dataDir = tempDir()
    // A short lease: the crashed manager (this same process) is found gone soon.
    const first = await openManager({ dataDir, jobs, leaseMs: 300 })
    const handle = await first.dispatch(CarelessJob, {})
    await waitUntil(
      async () => (await first.getJobInfo(handle.id)).checkpoints === 2,
      20_000,
      "both checkpoints, never awaited",
    )
    await waitUntil(async () => (await first.getJobLogs(handle.id)).length >= 3, 20_000, "the three log lines")
    expect((await first.getJobLogs(handle.id)).map((l) => l.message)).toEqual(["one", "two", "three"])
    expect((await first.getJobInfo(handle.id)).progressData).toEqual({ _tag: "Structured", data: { done: 2 } })
    // A crash now: the job resumes from the checkpoint it never awaited.
    await first.simulateCrash()
    const second = await openManager({ dataDir, jobs })
    expect(await (await second.handle(handle.id)).result()).toEqual({ resumedAt: 2 })
    gate.open()
  })

  it("in an async job, an awaited checkpoint is stored and ctx.state reads it back (as the README says)", async () => {
    const manager = await openManager({ jobs })
    const handle = await manager.dispatch(ReadBackJob, {})
    expect(await handle.result()).toEqual({ seen: 7 })
    expect((await manager.getJobInfo(handle.id)).checkpoints).toBe(1)
  })

  it("made after the job has ended are not stored, and said once through onError (JobCallIgnored)", async () => {
    const reported: unknown[] = []
    const manager = await openManager({ jobs, onError: (e) => reported.push(e) })
    const logged = new Promise<void>((r) => (lateLogged = r))
    const handle = await manager.dispatch(LateJob, {})
    await handle.result()
    await logged
    expect((await manager.getJobLogs(handle.id)).map((l) => l.message)).not.toContain("after the end")
    const ignored = reported.filter((e) => e instanceof JobCallIgnored)
    expect(ignored).toHaveLength(1)
    expect(ignored[0]).toMatchObject({ id: handle.id, name: "late", call: "log" })
  })

  it("in an async job that yields one inside an Effect of its own, run once", async () => {
    const manager = await openManager({ jobs })
    const handle = await manager.dispatch(MixedJob, {})
    await handle.result()
    expect((await manager.getJobLogs(handle.id)).map((l) => l.message)).toEqual(["inside an Effect"])
  })

  it("in an Effect job, stay Effects: one never yielded does nothing", async () => {
    const manager = await openManager({ jobs })
    const handle = await manager.dispatch(EffectfulJob, {})
    await handle.result()
    expect((await manager.getJobLogs(handle.id)).map((l) => l.message)).toEqual(["yielded"])
  })
})
