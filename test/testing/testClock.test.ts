import { Clock, Data, Effect, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { defineJob, JobFailed, JobManager, type JobDefinition } from "../../src/index.js"
import { checkResumable, runJob, testClock, type TestClock } from "../../src/testing/index.js"
import { tempDir } from "../fixtures/tempDir.js"

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** Jan 1st 2030, 00:00:30 UTC: half a minute before a minutely cron's next tick. */
const START = Date.UTC(2030, 0, 1, 0, 0, 30)

/** When each attempt of the jobs below began, by the job's own Effect `Clock`. */
let attempts: number[] = []
afterEach(() => {
  attempts = []
})

const recordAttempt = Clock.currentTimeMillis.pipe(Effect.tap((now) => Effect.sync(() => attempts.push(now))))

const StampJob = defineJob({
  name: "stamp",
  params: Schema.Struct({}),
  output: Schema.Struct({ at: Schema.Number }),
  run: () => Effect.map(recordAttempt, (at) => ({ at })),
})

class Flaky extends Data.TaggedError("Flaky")<{ readonly message: string }> {}

/** Fails its first `failures` attempts. */
const FlakyJob = defineJob({
  name: "flaky",
  params: Schema.Struct({ failures: Schema.Number }),
  output: Schema.Struct({ attempts: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      yield* recordAttempt
      if (attempts.length <= ctx.params.failures)
        return yield* Effect.fail(new Flaky({ message: `attempt ${attempts.length} failed` }))
      return { attempts: attempts.length }
    }),
})

/** Waits for ever, but for its timeout. */
const StuckJob = defineJob({
  name: "stuck",
  params: Schema.Struct({}),
  run: () => Effect.andThen(recordAttempt, Effect.never),
})

/** Sleeps an hour by Effect's clock, checkpointing on either side. */
const NapJob = defineJob({
  name: "nap",
  params: Schema.Struct({}),
  state: Schema.Struct({ awake: Schema.Boolean }),
  initialState: () => ({ awake: false }),
  output: Schema.Struct({ sleptMs: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      const before = yield* Clock.currentTimeMillis
      yield* Effect.sleep("1 hour")
      yield* ctx.checkpoint({ awake: true })
      return { sleptMs: (yield* Clock.currentTimeMillis) - before }
    }),
})

const open: JobManager[] = []
afterEach(async () => {
  for (const manager of open.splice(0)) await manager.close()
})

const openOn = async (clock: TestClock, jobs: ReadonlyArray<JobDefinition>) => {
  const manager = await JobManager.open({ dataDir: tempDir(), jobs, clock })
  open.push(manager)
  return manager
}

const statusOf = async (manager: JobManager, id: string) => (await manager.getJobInfo(id)).status

describe("testClock", () => {
  it("runs its timers in time order as it advances, not before, and never a cleared one", async () => {
    const clock = testClock(START)
    const ran: string[] = []
    clock.setTimeout(() => ran.push("b"), 2_000)
    clock.setTimeout(() => ran.push("a"), 1_000)
    const cleared = clock.setTimeout(() => ran.push("cleared"), 1_500)
    clock.setTimeout(() => ran.push("a, set second"), 1_000)
    clock.clearTimeout(cleared)
    await clock.advance(999)
    expect(ran).toEqual([])
    await clock.advance(1_001)
    expect(ran).toEqual(["a", "a, set second", "b"])
    expect(clock.now()).toBe(START + 2_000)
    expect(clock.pending).toBe(0)
    await expect(clock.setTime(START)).rejects.toThrow(/only moves forward/)
  })

  it("runs a timer set with no wait without a move of the clock", async () => {
    const clock = testClock(START)
    const fired = new Promise<number>((resolve) => clock.setTimeout(() => resolve(clock.now()), 0))
    expect(await fired).toBe(START)
  })

  it("is refused with now, or when it is no clock", async () => {
    const dataDir = tempDir()
    await expect(
      JobManager.open({ dataDir, jobs: [StampJob], clock: testClock(), now: () => START }),
    ).rejects.toMatchObject({ _tag: "InvalidOptions", option: "now" })
    await expect(
      JobManager.open({ dataDir, jobs: [StampJob], clock: { now: () => START } as never }),
    ).rejects.toMatchObject({ _tag: "InvalidOptions", option: "clock" })
    // checkResumable's runs each need their own time.
    await expect(checkResumable(NapJob, {}, { clock: testClock() } as never)).rejects.toMatchObject({
      _tag: "InvalidOptions",
      option: "clock",
    })
  })

  it("starts a job dispatched with a delay once the clock has passed it, and not before", async () => {
    const clock = testClock(START)
    const manager = await openOn(clock, [StampJob])
    const handle = await manager.dispatch(StampJob, {}, { delayMs: HOUR })
    await clock.settle()
    expect(await statusOf(manager, handle.id)).toBe("queued")

    await clock.advance(HOUR - 1)
    expect(await statusOf(manager, handle.id)).toBe("queued")
    expect(attempts).toEqual([])

    await clock.advance(1)
    expect(await handle.result()).toEqual({ at: START + HOUR })
    expect((await manager.getJobInfo(handle.id)).startedAt).toBe(new Date(START + HOUR).toISOString())
  })

  it("retries after each exponential backoff as the clock advances, and not before", async () => {
    const clock = testClock(START)
    const manager = await openOn(clock, [FlakyJob])
    const handle = await manager.dispatch(
      FlakyJob,
      { failures: 3 },
      { retry: { maxRetries: 3, backoff: { type: "exponential", delayMs: MINUTE } } },
    )
    await clock.settle()
    expect(attempts).toEqual([START])
    expect(await manager.getJobInfo(handle.id)).toMatchObject({
      status: "queued",
      runAt: new Date(START + MINUTE).toISOString(),
    })

    // Waits of 1, 2 and 4 minutes: each retry starts on the dot.
    for (const wait of [MINUTE, 2 * MINUTE, 4 * MINUTE]) {
      const tries = attempts.length
      await clock.advance(wait - 1)
      expect(attempts, `before a wait of ${wait} ms is over`).toHaveLength(tries)
      await clock.advance(1)
      expect(attempts, `once a wait of ${wait} ms is over`).toHaveLength(tries + 1)
    }
    expect(await handle.result()).toEqual({ attempts: 4 })
    expect(attempts).toEqual([START, START + MINUTE, START + 3 * MINUTE, START + 7 * MINUTE])
  })

  it("fires a schedule once per tick as the clock advances", async () => {
    const clock = testClock(START)
    const manager = await openOn(clock, [StampJob])
    await manager.schedule("minutely", StampJob, {}, { cron: "* * * * *" })
    const dispatched = async () => (await manager.listJobs({ name: StampJob.name })).length

    await clock.advance(30_000 - 1)
    expect(await dispatched()).toBe(0)
    await clock.advance(1)
    expect(await dispatched()).toBe(1)
    await clock.advance(3 * MINUTE)
    expect(await dispatched()).toBe(4)
    const jobs = await manager.listJobs({ name: StampJob.name })
    await Promise.all(jobs.map(async (job) => (await manager.handle(job.id)).result()))
    const minute = (at: number) => new Date(at).toISOString()
    expect(attempts.sort().map(minute)).toEqual(
      ["00:01", "00:02", "00:03", "00:04"].map((m) => `2030-01-01T${m}:00.000Z`),
    )
    const [schedule] = await manager.listSchedules()
    expect(schedule!.nextRunAt).toBe("2030-01-01T00:05:00.000Z")
  })

  it("times an attempt out once the clock passes its timeoutMs", async () => {
    const clock = testClock(START)
    const manager = await openOn(clock, [StuckJob])
    const handle = await manager.dispatch(StuckJob, {}, { timeoutMs: 10 * MINUTE })
    await clock.advance(10 * MINUTE - 1)
    expect(attempts).toEqual([START])
    expect(await statusOf(manager, handle.id)).toBe("running")

    await clock.advance(1)
    const failure = await handle.result().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(JobFailed)
    expect((failure as JobFailed).error).toMatchObject({ _tag: "JobTimeout" })
    expect((await manager.getJobInfo(handle.id)).completedAt).toBe(new Date(START + 10 * MINUTE).toISOString())
  })

  it("is the Clock of a job's Effect: runJob finishes an hour's Effect.sleep when the clock advances by an hour", async () => {
    const clock = testClock(START)
    const run = runJob(NapJob, {}, { clock })
    let ended = false
    void run.finally(() => (ended = true)).catch(() => undefined)
    await clock.advance(HOUR - 1)
    expect(ended).toBe(false)

    await clock.advance(1)
    const { output, checkpoints } = await run
    expect(output).toEqual({ sleptMs: HOUR })
    expect(checkpoints).toEqual([{ awake: true }])
  })
})
