import { existsSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { assign, createMachine, fromCallback, fromObservable, setup, type InspectionEvent } from "xstate"
import {
  defineJob,
  defineMachineJob,
  fromJob,
  fromStep,
  InvalidOptions,
  InvalidParams,
  InvalidTransition,
  JobCancelled,
  JobFailed,
  JobNotFound,
  type JobManagerOptions,
} from "../../src/index.js"
import { testClock } from "../../src/testing/index.js"
import { allTestJobs, NoopJob } from "../fixtures/jobs.js"
import { allMachineTestJobs, linesStarting, OrderJob } from "../fixtures/machineJobs.js"
import { ReviewJobV1, ReviewJobV2 } from "../fixtures/reviewJobs.js"
import { openManager as openTestManager } from "../fixtures/openManager.js"
import { linesOf } from "../fixtures/processes.js"
import { readRow } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const DAY = 86_400_000

const openManager = (options: Partial<JobManagerOptions> = {}) =>
  openTestManager({ jobs: [...allTestJobs, ...allMachineTestJobs], ...options })

const order = (dir: string, extra: Partial<typeof OrderJob.params.Type> = {}) => ({
  orderId: "o-1",
  amount: 12,
  effectsFile: join(dir, "effects.log"),
  ...extra,
})

/** Waits until the job rests (queued, waiting for an event) with its machine in `state`. */
const restingIn = async (manager: Awaited<ReturnType<typeof openManager>>, id: string, state: string) =>
  waitUntil(async () => {
    const info = await manager.getJobInfo(id)
    return (
      info.status === "queued" && info.awaitingEvents && JSON.stringify(info.machineState) === JSON.stringify(state)
    )
  })

describe("machine jobs", () => {
  it("rests until PAID, charges once, ships through a child job, and completes with the machine's output", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir, concurrency: 1 })
    const handle = await manager.dispatch(OrderJob, order(dir))
    await restingIn(manager, handle.id, "awaitingPayment")
    // Resting holds no slot: a plain job runs on this concurrency-1 manager meanwhile.
    const plain = await manager.dispatch(NoopJob, { tag: "while resting" })
    await plain.result()

    await manager.send(handle.id, { type: "PAID", ref: "tx-1" })
    expect(await handle.result()).toEqual({ result: "done", tracking: "track-o-1", notes: [] })
    const effects = linesOf(join(dir, "effects.log"))
    expect(linesStarting(effects, "charged")).toEqual(["charged tx-1"])
    expect(linesStarting(effects, "ship")).toEqual(["ship o-1"])
    const info = await manager.getJobInfo(handle.id)
    expect(info.machineState).toBe("done")
    expect(info.machinePath).toEqual(["awaitingPayment", "charging", "shipping", "done"])
    const [child] = await manager.listJobs({ parentId: handle.id })
    expect(child).toMatchObject({ name: "ship", status: "completed" })
  })

  it("applies events in the order sent, exactly once, when sent while queued and while paused", async () => {
    const dir = tempDir()
    // A producer: nothing runs the job while the first events arrive.
    const producer = await openManager({ dataDir: dir, concurrency: 0 })
    const handle = await producer.dispatch(OrderJob, order(dir))
    await producer.send(handle.id, { type: "NOTE", text: "one" })
    await producer.send(handle.id, { type: "NOTE", text: "two" })
    expect(await producer.pause(handle.id)).toBe("paused")
    await producer.send(handle.id, { type: "NOTE", text: "three" })
    await producer.send(handle.id, { type: "PAID", ref: "tx-2" })
    await producer.send(handle.id, { type: "NOTE", text: "four" })
    const worker = await openManager({ dataDir: dir, concurrency: 2 })
    // Paused: the worker leaves it alone until it is resumed.
    await new Promise((r) => setTimeout(r, 300))
    expect((await worker.getJobInfo(handle.id)).status).toBe("paused")
    expect(await producer.resume(handle.id)).toBe("queued")
    const out = await handle.result()
    // "four" came after PAID: applied while charging or shipping, still in order.
    expect(out).toEqual({ result: "done", tracking: "track-o-1", notes: ["one", "two", "three", "four"] })
    expect(linesStarting(linesOf(join(dir, "effects.log")), "charged")).toEqual(["charged tx-2"])
  })

  it("refuses a bad event with InvalidParams, an unknown job with JobNotFound, a job at rest with InvalidTransition", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir })
    const handle = await manager.dispatch(OrderJob, order(dir))
    const bad = await manager.send(handle.id, { type: "PAID" } as never).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(InvalidParams)
    expect(String(bad)).toContain("ref")
    const unknown = await manager.send(handle.id, { type: "REFUND" } as never).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(InvalidParams)
    expect(await manager.send("no-such-job", { type: "CANCEL_ORDER" }).catch((e: unknown) => e)).toBeInstanceOf(
      JobNotFound,
    )
    const plain = await manager.dispatch(NoopJob, { tag: "x" })
    const notMachine = await manager.send(plain.id, { type: "PAID", ref: "r" }).catch((e: unknown) => e)
    expect(notMachine).toBeInstanceOf(InvalidParams)
    expect(String(notMachine)).toContain("not a machine job")

    await manager.send(handle.id, { type: "CANCEL_ORDER" })
    expect(await handle.result()).toMatchObject({ result: "cancelled" })
    const late = await manager.send(handle.id, { type: "NOTE", text: "late" }).catch((e: unknown) => e)
    expect(late).toBeInstanceOf(InvalidTransition)
    expect(String(late)).toContain('Cannot send "NOTE" to job')
    // Nothing stored: the refused events are in no inbox, the job's row is as it ended.
    expect((await readRow(dir, handle.id))?.status).toBe("completed")
  })

  it("fires a 1-day timer on the test clock, and at once when it is overdue after a restart", async () => {
    const clock = testClock()
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir, clock })
    const first = await manager.dispatch(OrderJob, order(dir, { orderId: "o-timer" }))
    await clock.settle()
    await restingIn(manager, first.id, "awaitingPayment")
    await clock.advance(DAY - 1_000)
    expect((await manager.getJobInfo(first.id)).status).toBe("queued")
    await clock.advance(1_000)
    expect(await first.result()).toMatchObject({ result: "expired" })

    // A second order rests; its manager goes away; two days later another opens: overdue, it fires at once.
    const second = await manager.dispatch(OrderJob, order(dir, { orderId: "o-late" }))
    await clock.settle()
    await restingIn(manager, second.id, "awaitingPayment")
    await manager.close()
    const later = testClock(clock.now() + 2 * DAY)
    const reopened = await openManager({ dataDir: dir, clock: later })
    await later.settle()
    expect(await (await reopened.handle(second.id)).result()).toMatchObject({ result: "expired" })
  })

  it("leaving a state aborts its step's signal and cancels its child job", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir })
    const slow = await manager.dispatch(OrderJob, order(dir, { orderId: "o-slow", chargeMs: 60_000 }))
    await manager.send(slow.id, { type: "PAID", ref: "tx-slow" })
    await waitUntil(() => linesStarting(linesOf(join(dir, "effects.log")), "charge-start").length === 1)
    await manager.send(slow.id, { type: "CANCEL_ORDER" })
    expect(await slow.result()).toMatchObject({ result: "cancelled" })
    expect(linesStarting(linesOf(join(dir, "effects.log")), "charge-aborted")).toEqual(["charge-aborted tx-slow"])

    const hold = join(dir, "effects.log.hold")
    writeFileSync(hold, "")
    const shipping = await manager.dispatch(OrderJob, order(dir, { orderId: "o-ship" }))
    await manager.send(shipping.id, { type: "PAID", ref: "tx-ship" })
    await waitUntil(async () => (await manager.listJobs({ parentId: shipping.id }))[0]?.status === "running")
    await manager.send(shipping.id, { type: "CANCEL_ORDER" })
    expect(await shipping.result()).toMatchObject({ result: "cancelled" })
    await waitUntil(async () => (await manager.listJobs({ parentId: shipping.id }))[0]?.status === "cancelled")
    rmSync(hold)
  })

  it("a failed child job and a failed step go to their onError states", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir })
    const failing = await manager.dispatch(OrderJob, order(dir, { orderId: "o-fail", shipFails: true }))
    await manager.send(failing.id, { type: "PAID", ref: "tx-f" })
    expect(await failing.result()).toMatchObject({ result: "failedShipping", tracking: null })

    // The charge step fails while the decline file exists: onError goes to failedCharge.
    writeFileSync(join(dir, "effects.log.decline"), "")
    const declined = await manager.dispatch(OrderJob, order(dir, { orderId: "o-declined" }))
    await manager.send(declined.id, { type: "PAID", ref: "tx-d" })
    expect(await declined.result()).toMatchObject({ result: "failedCharge" })
    rmSync(join(dir, "effects.log.decline"))
    expect(existsSync(join(dir, "effects.log.decline"))).toBe(false)
  })

  it("pausing a job whose step runs aborts the step; resumed, the step runs again and the job completes", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir })
    const handle = await manager.dispatch(OrderJob, order(dir, { chargeMs: 60_000 }))
    await manager.send(handle.id, { type: "PAID", ref: "tx-p" })
    await waitUntil(() => linesStarting(linesOf(join(dir, "effects.log")), "charge-start").length === 1)
    expect(await manager.pause(handle.id)).toBe("paused")
    expect(linesStarting(linesOf(join(dir, "effects.log")), "charge-aborted")).toHaveLength(1)
    const info = await manager.getJobInfo(handle.id)
    expect(info.machineState).toBe("charging")
    // The step in flight runs again on resume (at least once), with the same key.
    expect(await manager.resume(handle.id)).toBe("queued")
    await waitUntil(() => linesStarting(linesOf(join(dir, "effects.log")), "charge-start").length === 2)
    const starts = linesStarting(linesOf(join(dir, "effects.log")), "charge-start")
    expect(starts[0]!.split(" ")[2]).toBe(starts[1]!.split(" ")[2])
    await manager.cancel(handle.id)
  })
})

describe("machine jobs as any job", () => {
  it("a step that fails with no onError fails the job; retry runs the step again from the stored snapshot", async () => {
    const dir = tempDir()
    const file = join(dir, "review.log")
    const manager = await openTestManager({ dataDir: dir, jobs: [ReviewJobV2] })
    writeFileSync(`${file}.fail`, "")
    const handle = await manager.dispatch(ReviewJobV2, { file })
    await manager.send(handle.id, { type: "SUBMIT" })
    const failure = await handle.result().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(JobFailed)
    expect((failure as JobFailed).error.message).toContain("the checker is down")
    expect((await manager.getJobInfo(handle.id)).machineState).toBe("checking")
    rmSync(`${file}.fail`)
    expect(await manager.retry(handle.id)).toBe("queued")
    expect(await handle.result()).toBe("approved by v2")
    // SUBMIT was applied once: the retry resumed in `checking`, it did not start over in `draft`.
    expect((await manager.getJobInfo(handle.id)).machinePath).toEqual(["draft", "checking", "approved"])
    expect(linesOf(file)).toEqual(["check", "check"])
  })

  it("a new version of the machine migrates a stored snapshot with migrateState", async () => {
    const dir = tempDir()
    const v1 = await openTestManager({ dataDir: dir, jobs: [ReviewJobV1] })
    const handle = await v1.dispatch(ReviewJobV1, { file: join(dir, "review.log") })
    await waitUntil(async () => (await v1.getJobInfo(handle.id)).awaitingEvents)
    expect((await v1.getJobInfo(handle.id)).machineState).toBe("waiting")
    await v1.close()
    const v2 = await openTestManager({ dataDir: dir, jobs: [ReviewJobV2] })
    await v2.send(handle.id, { type: "SUBMIT" })
    expect(await (await v2.handle(handle.id)).result()).toBe("approved by v2")
    expect((await v2.getJobInfo(handle.id)).machinePath).toEqual(["draft", "checking", "approved"])
  })

  it("unique keys and priorities apply; a resting job can be paused, resumed and cancelled", async () => {
    const dir = tempDir()
    const manager = await openManager({ dataDir: dir })
    const first = await manager.dispatch(OrderJob, order(dir), { uniqueKey: "order-1", priority: 5 })
    const again = await manager.dispatch(OrderJob, order(dir), { uniqueKey: "order-1" })
    expect(again.id).toBe(first.id)
    expect((await manager.getJobInfo(first.id)).priority).toBe(5)
    await restingIn(manager, first.id, "awaitingPayment")
    expect(await manager.pause(first.id)).toBe("paused")
    expect(await manager.resume(first.id)).toBe("queued")
    await restingIn(manager, first.id, "awaitingPayment")
    expect(await manager.cancel(first.id)).toBe("cancelled")
    await expect(first.result()).rejects.toBeInstanceOf(JobCancelled)
  })
})

describe("machine jobs seen live", () => {
  it("shows the job's own machine to the inspector as an actor, with each event and snapshot", async () => {
    const dir = tempDir()
    const events: InspectionEvent[] = []
    const manager = await openManager({ dataDir: dir, inspect: (e) => events.push(e) })
    const handle = await manager.dispatch(OrderJob, order(dir))
    await restingIn(manager, handle.id, "awaitingPayment")
    await manager.send(handle.id, { type: "PAID", ref: "tx-i" })
    await handle.result()
    const ofOrder = events.filter((e) => (e.actorRef as { logic?: { id?: string } }).logic?.id === "order")
    const actors = new Set(ofOrder.map((e) => (e.actorRef as { id?: string }).id))
    expect([...actors]).toEqual([`order:${handle.id}:machine`])
    const sent = ofOrder
      .filter((e) => e.type === "@xstate.event")
      .map((e) => (e as { event: { type: string } }).event.type)
    expect(sent).toContain("PAID")
    const values = ofOrder
      .filter((e) => e.type === "@xstate.snapshot")
      .map((e) => (e as unknown as { snapshot: { value: unknown } }).snapshot.value)
    expect(values).toEqual(expect.arrayContaining(["awaitingPayment", "charging", "shipping", "done"]))
  })
})

describe("machine jobs and a crash between a transition and its effects", () => {
  it("a crash right after leaving the state that invoked a child job: the child is cancelled when the job resumes", async () => {
    const dir = tempDir()
    const effects = join(dir, "effects.log")
    writeFileSync(`${effects}.hold`, "")
    const first = await openManager({ dataDir: dir, leaseMs: 100 })
    const order = await first.dispatch(OrderJob, { orderId: "o-1", amount: 12, effectsFile: effects })
    await first.send(order.id, { type: "PAID", ref: "tx-1" })
    await waitUntil(async () => (await first.listJobs({ parentId: order.id }))[0]?.status === "running")
    const before = (await first.getJobInfo(order.id)).checkpoints
    let crashed: Promise<void> | undefined
    first.subscribeJob(order.id, (e) => {
      // The transition out of `shipping` is committed; its effect (cancelling the child) never happens here.
      if (e.type === "checkpoint" && e.checkpoint === before + 1) crashed = first.simulateCrash()
    })
    await first.send(order.id, { type: "CANCEL_ORDER" })
    await waitUntil(() => crashed !== undefined)
    await crashed
    // The child still runs (it holds): the resumed order finds it and cancels it.
    const second = await openManager({ dataDir: dir })
    expect(await (await second.handle(order.id)).result()).toMatchObject({ result: "cancelled" })
    const [child] = await second.listJobs({ parentId: order.id })
    await waitUntil(async () => (await second.getJobInfo(child!.id)).status === "cancelled")
    rmSync(`${effects}.hold`)
  })

  it("a manager that crashed right after a transition's write runs none of its effects", async () => {
    const ran: string[] = []
    const Machine = defineMachineJob({
      name: "effects_after_crash",
      params: Schema.Struct({}),
      events: Schema.Struct({ type: Schema.Literal("GO") }),
      machine: setup({
        actors: { s: fromStep(async () => void ran.push("step")) },
      }).createMachine({
        initial: "a",
        states: {
          a: { on: { GO: "b" } },
          b: { entry: () => void ran.push("entry"), invoke: { src: "s", onDone: "c" } },
          c: { type: "final" },
        },
      }),
    })
    const dir = tempDir()
    const manager = await openTestManager({ dataDir: dir, jobs: [Machine], leaseMs: 100 })
    const handle = await manager.dispatch(Machine, {})
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).awaitingEvents)
    const before = (await manager.getJobInfo(handle.id)).checkpoints
    let crashed: Promise<void> | undefined
    manager.subscribeJob(handle.id, (e) => {
      if (e.type === "checkpoint" && e.checkpoint === before + 1) crashed = manager.simulateCrash()
    })
    await manager.send(handle.id, { type: "GO" })
    await waitUntil(() => crashed !== undefined)
    await crashed
    await new Promise((r) => setTimeout(r, 200))
    expect(ran).toEqual([])
    // The next manager resumes in `b`: the step runs (it was in flight); the entry action, which
    // ran with a transition the crash cut short, does not (actions run at most once).
    const next = await openTestManager({ dataDir: dir, jobs: [Machine] })
    await (await next.handle(handle.id)).result()
    expect(ran).toEqual(["step"])
  })
})

describe("machine jobs' transitions", () => {
  it("compute the machine's initial context once per attempt, not once per transition", async () => {
    let contexts = 0
    const Loop = defineMachineJob({
      name: "loop",
      params: Schema.Struct({ n: Schema.Number }),
      output: Schema.Number,
      machine: setup({
        types: {} as { context: { left: number; done: number }; input: { params: { n: number }; jobId: string } },
        actors: { tick: fromStep(async () => 1) },
      }).createMachine({
        context: ({ input }) => {
          contexts++
          return { left: input.params.n, done: 0 }
        },
        initial: "working",
        states: {
          working: {
            always: { guard: ({ context }) => context.left === 0, target: "finished" },
            invoke: {
              src: "tick",
              onDone: {
                target: "working",
                reenter: true,
                actions: assign({ left: ({ context }) => context.left - 1, done: ({ context }) => context.done + 1 }),
              },
            },
          },
          finished: { type: "final" },
        },
        output: ({ context }) => context.done,
      }),
    })
    const manager = await openTestManager({ jobs: [Loop] })
    const handle = await manager.dispatch(Loop, { n: 20 })
    expect(await handle.result()).toBe(20)
    expect((await manager.getJobInfo(handle.id)).checkpoints).toBeGreaterThanOrEqual(21)
    // The attempt's scope computes it once, and the machine's first snapshot once.
    expect(contexts).toBeLessThanOrEqual(2)
  })
})

describe("machine jobs refuse what they cannot make durable", () => {
  const Notify = defineJob({
    name: "notify",
    params: Schema.Struct({ to: Schema.String }),
    run: async () => undefined,
  })

  it("refuses a callback or an observable among the machine's actors, at definition and when invoked inline", async () => {
    const define = (actor: unknown) => () =>
      defineMachineJob({
        name: "bad",
        params: Schema.Struct({}),
        machine: setup({ actors: { a: actor as never } }).createMachine({ initial: "x", states: { x: {} } }),
      })
    expect(define(fromCallback(() => {}))).toThrow(InvalidOptions)
    expect(define(fromObservable(() => ({ subscribe: () => ({ unsubscribe: () => {} }) }) as never))).toThrow(
      /actor "a" is neither a step/,
    )
    const Inline = defineMachineJob({
      name: "inline_callback",
      params: Schema.Struct({}),
      // An inline src, not in setup: refused when invoked.
      machine: createMachine({ initial: "x", states: { x: { invoke: { src: fromCallback(() => {}) } } } }) as never,
    })
    const manager = await openTestManager({ jobs: [Inline] })
    const failure = await (await manager.dispatch(Inline, {})).result().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(JobFailed)
    expect((failure as JobFailed).error._tag).toBe("InvalidOptions")
  })

  it("gives a child job that cannot be dispatched (bad params) to the invoking state's onError", async () => {
    const Parent = defineMachineJob({
      name: "parent_bad_child",
      params: Schema.Struct({}),
      output: Schema.String,
      machine: setup({ actors: { notify: fromJob(Notify) } }).createMachine({
        initial: "notifying",
        states: {
          notifying: {
            invoke: { src: "notify", input: () => ({ to: 5 }) as never, onDone: "sent", onError: "unsent" },
          },
          sent: { type: "final", entry: assign({}) },
          unsent: { type: "final" },
        },
        output: ({ self }) => String(self.getSnapshot().value),
      }),
    })
    const manager = await openTestManager({ jobs: [Parent, Notify] })
    const handle = await manager.dispatch(Parent, {})
    await handle.result()
    expect((await manager.getJobInfo(handle.id)).machineState).toBe("unsent")
    expect(await manager.listJobs({ parentId: handle.id })).toEqual([])
  })

  it("refuses to open with a machine job whose child job type is not registered", async () => {
    const Parent = defineMachineJob({
      name: "parent_unregistered",
      params: Schema.Struct({}),
      machine: setup({ actors: { notify: fromJob(Notify) } }).createMachine({
        initial: "n",
        states: { n: { invoke: { src: "notify", input: { to: "x" } } } },
      }),
    })
    const refused = await openTestManager({ jobs: [Parent] }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(InvalidOptions)
    expect(String(refused)).toContain('invokes "notify" (fromJob), which is not among them')
  })
})
