import { appendFileSync, existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"
import { assign, fromPromise, setup, type AnyStateMachine } from "xstate"
import { describe, expect, it } from "vitest"
import { defineMachineJob, InvalidOptions } from "../../src/index.js"
import { checkMachineJob, MachineCrashMismatch } from "../../src/testing/index.js"
import { OrderJob, ShipJob } from "../fixtures/machineJobs.js"

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [])

/** A job on a run's directory that takes GO and outputs a count. */
const countJob = (name: string, machine: AnyStateMachine) =>
  defineMachineJob({
    name,
    params: Schema.Struct({ dir: Schema.String }),
    events: Schema.Struct({ type: Schema.Literal("GO") }),
    output: Schema.Struct({ count: Schema.Number }),
    machine,
  })

/**
 * The bug: the step appends a seat to a ledger and returns how many seats it holds. A step runs
 * at least once (again, when a crash comes after it ran and before its result was committed):
 * the ledger then holds two seats for one reservation, and the output says 2.
 */
const ReserveJob = countJob(
  "reserve",
  setup({
    types: {} as { context: { dir: string; count: number }; input: { params: { dir: string } } },
    actors: {
      reserve: fromPromise<number, { dir: string }>(async ({ input }) => {
        appendFileSync(join(input.dir, "ledger"), "seat\n")
        return lines(join(input.dir, "ledger")).length
      }),
    },
  }).createMachine({
    context: ({ input }) => ({ dir: input.params.dir, count: 0 }),
    initial: "idle",
    states: {
      idle: { on: { GO: "reserving" } },
      reserving: {
        invoke: {
          src: "reserve",
          input: ({ context }) => ({ dir: context.dir }),
          onDone: { target: "done", actions: assign({ count: ({ event }) => event.output }) },
          onError: "done",
        },
      },
      done: { type: "final" },
    },
    output: ({ context }) => ({ count: context.count }),
  }),
)

/** Visits counted in memory, by run (its directory): outside the machine's context, so nothing persists them. */
const visits = new Map<string, number>()
const visit = (dir: string) => visits.set(dir, (visits.get(dir) ?? 0) + 1)

/**
 * The bug: an action counts a visit in memory, and a later step reads the count into the
 * output. An action runs once its transition has committed, at most once: after a crash right
 * there it never runs, and the count is short. `named`: the action is named in `setup`;
 * otherwise it is written inline in the state.
 */
const visitsJob = (name: string, named: boolean) =>
  countJob(
    name,
    setup({
      types: {} as { context: { dir: string; count: number }; input: { params: { dir: string } } },
      actions: { visit: ({ context }) => void visit(context.dir) },
      actors: { tally: fromPromise<number, string>(async ({ input }) => visits.get(input) ?? 0) },
    }).createMachine({
      context: ({ input }) => ({ dir: input.params.dir, count: 0 }),
      initial: "start",
      states: {
        start: { on: { GO: "visited" } },
        visited: {
          entry: named ? "visit" : ({ context }) => void visit(context.dir),
          on: { GO: "tallying" },
        },
        tallying: {
          invoke: {
            src: "tally",
            input: ({ context }) => context.dir,
            onDone: { target: "done", actions: assign({ count: ({ event }) => event.output }) },
          },
        },
        done: { type: "final" },
      },
      output: ({ context }) => ({ count: context.count }),
    }),
  )

/** Params with a directory of each run's own. */
const inRunDir = { params: ({ dir }: { dir: string }) => ({ dir }) }

describe("checkMachineJob", () => {
  it("checks every transition of the order machine through the engine, uninterrupted and with a crash at each state", async () => {
    const files: string[] = []
    const report = await checkMachineJob(OrderJob, {
      params: ({ dir }) => {
        files.push(join(dir, "effects.log"))
        return { orderId: "o-1", amount: 12, effectsFile: join(dir, "effects.log") }
      },
      events: [
        { type: "PAID", ref: "tx-1" },
        { type: "NOTE", text: "hi" },
      ],
      // CANCEL_ORDER from every state: a crash right after it left `shipping` is the case where
      // the resumed order must cancel the ship child its crashed run could not.
      jobs: [ShipJob],
      // Ship's lines: one per run of the child, never one more after a crash.
      sideEffects: () => files.reduce((n, f) => n + lines(f).filter((l) => l.startsWith("ship ")).length, 0),
    })
    const paths = report.paths.map((p) => p.path)
    expect(paths).toContain('PAID {"ref":"tx-1"} → charge done → ship (child job "ship") done')
    expect(paths).toContain('PAID {"ref":"tx-1"} → charge done → ship (child job "ship") fails')
    expect(paths).toContain('PAID {"ref":"tx-1"} → charge fails')
    expect(paths).toContain("after 86400000 ms")
    expect(paths.some((p) => p.includes("NOTE"))).toBe(true)
    expect(report.unfollowed).toEqual([])
    expect(paths).toContain('PAID {"ref":"tx-1"} → charge done → CANCEL_ORDER')
    // awaitingPayment, charging, shipping and the five final states; PAID, NOTE, CANCEL_ORDER and
    // the timer from the first, a NOTE, a CANCEL_ORDER, a done and an error from each of the other two.
    expect({ states: report.states, transitions: report.transitions }).toEqual({ states: 8, transitions: 12 })
    for (const path of report.paths) {
      // A crash right after each state committed, and one with each step in flight.
      expect(path.crashes).toHaveLength(2 * path.events.length + 1)
      expect(path.states).toHaveLength(path.events.length + 1)
    }
    expect(report.runs).toBe(report.paths.reduce((n, p) => n + 1 + p.crashes.length, 0))
    const shipped = report.paths.find((p) => p.path.endsWith('ship (child job "ship") done'))!
    expect(shipped.outcome).toEqual({
      status: "completed",
      state: "done",
      path: ["awaitingPayment", "charging", "shipping", "done"],
      output: { result: "done", tracking: "track-o-1", notes: [] },
      error: null,
      children: [{ name: "ship", status: "completed", output: "track-o-1", error: null }],
    })
    expect(shipped.crashes).toContain(
      'in "shipping" (state 2), after its child job "ship" ended (ship (child job "ship") done) but before the machine applied it',
    )
    const expired = report.paths.find((p) => p.path === "after 86400000 ms")!
    expect(expired.outcome).toMatchObject({ status: "completed", output: { result: "expired" } })
    expect(expired.crashes).toContain(
      'in "awaitingPayment" (state 0), with its timer (after 86400000 ms) falling due while it was down',
    )
  }, 300_000)

  it("fails, naming the path and the state, for a step whose result changes when it runs again after a crash", async () => {
    const error = await checkMachineJob(ReserveJob, { ...inRunDir, events: [{ type: "GO" }] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MachineCrashMismatch)
    const mismatch = error as MachineCrashMismatch
    expect(mismatch).toMatchObject({
      job: "reserve",
      path: "GO → reserve done",
      reason: "OutcomeDiffers",
      state: "reserving",
      crash:
        'in "reserving" (state 1), after step "reserve" ran (reserve done) but before its result was committed: the step runs again',
    })
    expect(mismatch.differences).toEqual(["output.count: expected 1, got 2"])
    expect(mismatch.message).toContain('Job "reserve" does not recover from a crash on path GO → reserve done')
  }, 120_000)

  it("fails for an action whose effect feeds the output: an action named in setup, lost to a crash right after its transition", async () => {
    const error = await checkMachineJob(visitsJob("visits_named", true), inRunDir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MachineCrashMismatch)
    expect(error).toMatchObject({
      path: "GO → GO → tally done",
      state: "visited",
      crash: 'right after it entered "visited" (state 1, by GO)',
      differences: ["output.count: expected 1, got 0"],
    })
  }, 120_000)

  it("fails for the same action written inline in the machine's config", async () => {
    const error = await checkMachineJob(visitsJob("visits_inline", false), inRunDir).catch((e: unknown) => e)
    expect(error).toMatchObject({
      _tag: "MachineCrashMismatch",
      state: "visited",
      crash: 'right after it entered "visited" (state 1, by GO)',
      differences: ["output.count: expected 1, got 0"],
    })
  }, 120_000)

  it("fails with SideEffectsDiffer for an action whose lost effect the output does not show, when sideEffects counts it", async () => {
    const notified: string[] = []
    const NotifyJob = defineMachineJob({
      name: "notify",
      params: Schema.Struct({ dir: Schema.String }),
      events: Schema.Struct({ type: Schema.Literal("GO") }),
      machine: setup({ types: {} as { context: { dir: string }; input: { params: { dir: string } } } }).createMachine({
        context: ({ input }) => ({ dir: input.params.dir }),
        initial: "waiting",
        states: {
          waiting: { on: { GO: "done" } },
          done: { type: "final", entry: ({ context }) => void notified.push(context.dir) },
        },
      }),
    })
    const error = await checkMachineJob(NotifyJob, { ...inRunDir, sideEffects: () => notified.length }).catch(
      (e: unknown) => e,
    )
    expect(error).toMatchObject({
      _tag: "MachineCrashMismatch",
      reason: "SideEffectsDiffer",
      path: "GO",
      crash: 'right after it entered "done" (state 1, by GO)',
      expected: 1,
      actual: 0,
    })
  }, 120_000)

  it("puts each branch of a guard on a step's output on a path, from sampled outputs, and reports the one the job does not take", async () => {
    const Grade = defineMachineJob({
      name: "grade",
      params: Schema.Struct({ score: Schema.Number }),
      output: Schema.String,
      machine: setup({
        types: {} as { input: { params: { score: number } }; context: { score: number; grade: string } },
        actors: { grade: fromPromise<string, number>(async ({ input }) => (input >= 50 ? "pass" : "fail")) },
      }).createMachine({
        context: ({ input }) => ({ score: input.params.score, grade: "" }),
        initial: "grading",
        states: {
          grading: {
            invoke: {
              id: "grade",
              src: "grade",
              input: ({ context }) => context.score,
              onDone: [{ guard: ({ event }) => event.output === "pass", target: "passed" }, { target: "failed" }],
            },
          },
          passed: { type: "final", entry: assign({ grade: "passed" }) },
          failed: { type: "final", entry: assign({ grade: "failed" }) },
        },
        output: ({ context }) => context.grade,
      }),
    })
    const report = await checkMachineJob(Grade, {
      params: { score: 70 },
      events: [
        { type: "xstate.done.actor.grade", output: "pass" },
        { type: "xstate.done.actor.grade", output: "fail" },
      ],
    })
    expect(report.paths.map((p) => p.path)).toEqual(['grade done {"output":"pass"}'])
    expect(report.paths[0]!.outcome).toMatchObject({ status: "completed", output: "passed" })
    expect(report.unfollowed).toEqual([
      {
        path: 'grade done {"output":"fail"}',
        events: [{ type: "xstate.done.actor.grade", output: "fail" }],
        step: 1,
        reason: 'the machine is in "passed", not "failed"',
      },
    ])
  }, 120_000)

  it("refuses to start without a sample of an event the schema does not take bare, or without a child job's type", async () => {
    const noSample = await checkMachineJob(OrderJob, {
      params: { orderId: "o", amount: 1, effectsFile: "/dev/null" },
      jobs: [ShipJob],
    }).catch((e: unknown) => e)
    expect(noSample).toBeInstanceOf(InvalidOptions)
    expect(String(noSample)).toContain('takes "NOTE", "PAID", but events has no sample of them')
    const noChild = await checkMachineJob(OrderJob, {
      params: { orderId: "o", amount: 1, effectsFile: "/dev/null" },
      events: [{ type: "PAID", ref: "r" }],
    }).catch((e: unknown) => e)
    expect(noChild).toBeInstanceOf(InvalidOptions)
    expect(String(noChild)).toContain("pass its definition, checkMachineJob(order, { jobs: [ship], … })")
  })
})
