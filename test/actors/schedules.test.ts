import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, InvalidOptions, InvalidParams, UnknownJobType } from "../../src/index.js"
import { encodeLifecycle, initialLifecycle } from "../../src/actors/snapshots.js"
import { pack } from "../../src/persistence/codec.js"
import type { JobStore } from "../../src/persistence/JobStore.js"
import { CountJob, NoopJob, WhoRanJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { openTestStore } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { testClock } from "../../src/testing/index.js"

const EVERY_SECOND = "* * * * * *"

const withStore = async <A>(dataDir: string, use: (store: JobStore) => Promise<A>): Promise<A> => {
  const store = await openTestStore(dataDir)
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

/**
 * How many jobs each tick dispatched, by the tick (ISO), read from the store as any program
 * would: each fired job's log says which schedule and tick dispatched it.
 */
const jobsPerTick = (dataDir: string): Promise<Map<string, number>> =>
  withStore(dataDir, async (store) => {
    const counts = new Map<string, number>()
    for (const job of await store.listJobs({ name: NoopJob.name })) {
      for (const line of await store.logs(job.id)) {
        const tick = /for its tick at (\S+)/.exec(line.message)?.[1]
        if (tick !== undefined) counts.set(tick, (counts.get(tick) ?? 0) + 1)
      }
    }
    return counts
  })

const sortedTicks = (counts: Map<string, number>) => [...counts.keys()].sort()

/** The wall-clock hour and minute of an instant in a zone, e.g. "03:00". */
const clockIn = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(iso),
  )

/** Params with a Date and an optional field, which by name are an ISO string and may be null. */
const DatedJob = defineJob({
  name: "dated",
  params: Schema.Struct({ at: Schema.Date, note: Schema.optional(Schema.String) }),
  output: Schema.Struct({ year: Schema.Number, note: Schema.String }),
  run: (ctx) => Effect.succeed({ year: ctx.params.at.getUTCFullYear(), note: ctx.params.note ?? "(none)" }),
})

describe("schedules", () => {
  it("stores a schedule with its next tick in its zone, and replaces it by name", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir })
    const before = Date.now()
    const first = await manager.schedule(
      "nightly",
      NoopJob,
      { tag: "a" },
      { cron: "0 3 * * *", timezone: "Europe/Stockholm" },
    )
    expect(first).toMatchObject({
      name: "nightly",
      jobName: "noop",
      params: { tag: "a" },
      cron: "0 3 * * *",
      timezone: "Europe/Stockholm",
      priority: 0,
      lastRunAt: null,
      lastJobId: null,
    })
    // 03:00 in Stockholm, within the next day (and a DST hour).
    expect(clockIn(first.nextRunAt!, "Europe/Stockholm")).toBe("03:00")
    expect(Date.parse(first.nextRunAt!)).toBeGreaterThan(before)
    expect(Date.parse(first.nextRunAt!) - before).toBeLessThanOrEqual(25 * 3600_000)

    // Same name: the new definition replaces the old; no zone given is UTC.
    const second = await manager.schedule(
      "nightly",
      CountJob,
      { n: 1, effectsFile: "/dev/null" },
      { cron: "30 4 * * *", priority: 5 },
    )
    expect(second).toMatchObject({
      name: "nightly",
      jobName: "count",
      params: { n: 1, effectsFile: "/dev/null" },
      cron: "30 4 * * *",
      timezone: "UTC",
      priority: 5,
    })
    expect(clockIn(second.nextRunAt!, "UTC")).toBe("04:30")
    expect(second.createdAt).toBe(first.createdAt)

    // Another manager on the store sees the one schedule, as stored.
    const other = await openManager({ dataDir, concurrency: 0 })
    expect(await other.listSchedules()).toEqual([second])
    // Nothing was due: no job was dispatched.
    expect(await other.listJobs()).toHaveLength(0)
  })

  it("refuses a bad cron expression, time zone, priority, params or job type, and stores nothing", async () => {
    const manager = await openManager()
    const kept = await manager.schedule("kept", NoopJob, { tag: "a" }, { cron: "0 3 * * *" })
    const refused = async (name: string, run: () => Promise<unknown>) => {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error, name).toBeDefined()
      return error as { _tag: string; option?: string; message: string }
    }
    const option = async (what: string, run: () => Promise<unknown>) => {
      const error = await refused(what, run)
      expect(error, what).toBeInstanceOf(InvalidOptions)
      return error
    }
    expect(await option("cron 61", () => manager.schedule("x", NoopJob, {}, { cron: "61 * * * *" }))).toMatchObject({
      option: "cron",
      message: expect.stringContaining("61 * * * *"),
    })
    expect(await option("cron words", () => manager.schedule("x", NoopJob, {}, { cron: "every day" }))).toMatchObject({
      option: "cron",
    })
    expect(await option("cron empty", () => manager.schedule("x", NoopJob, {}, { cron: "" }))).toMatchObject({
      option: "cron",
    })
    expect(
      await option("cron date", () => manager.schedule("x", NoopJob, {}, { cron: "2030-01-01T00:00:00" })),
    ).toMatchObject({ option: "cron" })
    expect(
      await option("cron past year", () => manager.schedule("x", NoopJob, {}, { cron: "0 0 0 1 1 * 2001" })),
    ).toMatchObject({ option: "cron" })
    expect(
      await option("zone", () =>
        manager.schedule("x", NoopJob, {}, { cron: "0 3 * * *", timezone: "Mars/Olympus_Mons" }),
      ),
    ).toMatchObject({
      option: "timezone",
      message: expect.stringContaining("Mars/Olympus_Mons"),
    })
    expect(
      await option("priority", () => manager.schedule("x", NoopJob, {}, { cron: "0 3 * * *", priority: 1.5 })),
    ).toMatchObject({ option: "priority" })
    expect(await option("name", () => manager.schedule("", NoopJob, {}, { cron: "0 3 * * *" }))).toMatchObject({
      option: "name",
    })
    // Params are validated as dispatch validates them: a wrong type, an undeclared key.
    expect(
      await refused("params type", () => manager.schedule("x", NoopJob, { tag: 5 } as never, { cron: "0 3 * * *" })),
    ).toBeInstanceOf(InvalidParams)
    expect(
      await refused("params excess", () =>
        manager.schedule("x", NoopJob, { tag: "a", extra: 1 } as never, { cron: "0 3 * * *" }),
      ),
    ).toBeInstanceOf(InvalidParams)
    const narrow = await openManager({ dataDir: tempDir(), jobs: [NoopJob] })
    expect(
      await refused("type", () => narrow.schedule("x", WhoRanJob, { file: "f" } as never, { cron: "0 3 * * *" })),
    ).toBeInstanceOf(UnknownJobType)
    // A refused replacement leaves the stored schedule as it was.
    expect(
      await option("replace", () => manager.schedule("kept", NoopJob, { tag: "b" }, { cron: "not a cron" })),
    ).toMatchObject({ option: "cron" })
    expect(await manager.listSchedules()).toEqual([kept])
    expect(await narrow.listSchedules()).toEqual([])
  })

  it("scheduleByName reads JSON params as dispatchByName does (an ISO string for a Date), refuses what it refuses, and fires", async () => {
    const dataDir = tempDir()
    const clock = testClock(Date.UTC(2030, 0, 1, 0, 0, 0, 500))
    const manager = await openManager({ dataDir, clock, jobs: [NoopJob, DatedJob] })
    const info = await manager.scheduleByName(
      "by-name",
      "dated",
      { at: "2031-05-01T00:00:00Z", note: null },
      { cron: EVERY_SECOND, priority: 3, timezone: "Europe/Stockholm" },
    )
    expect(info).toMatchObject({
      name: "by-name",
      jobName: "dated",
      params: { at: new Date("2031-05-01T00:00:00Z") },
      cron: EVERY_SECOND,
      timezone: "Europe/Stockholm",
      priority: 3,
    })

    const refused = (run: () => Promise<unknown>) =>
      run().then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(await refused(() => manager.scheduleByName("x", "nope", {}, { cron: "0 3 * * *" }))).toBeInstanceOf(
      UnknownJobType,
    )
    const badDate = await refused(() =>
      manager.scheduleByName("x", "dated", { at: "not a date" }, { cron: "0 3 * * *" }),
    )
    expect(badDate).toBeInstanceOf(InvalidParams)
    expect((badDate as InvalidParams).issues.map((i) => i.path)).toEqual(["at"])
    expect(
      await refused(() =>
        manager.scheduleByName("x", "dated", { at: "2031-05-01T00:00:00Z", extra: 1 }, { cron: "0 3 * * *" }),
      ),
    ).toBeInstanceOf(InvalidParams)
    expect(await refused(() => manager.scheduleByName("x", "noop", {}, { cron: "61 * * * *" }))).toMatchObject({
      _tag: "InvalidOptions",
      option: "cron",
    })
    expect((await manager.listSchedules()).map((s) => s.name)).toEqual(["by-name"])

    // Its tick dispatches the job with the decoded params: the Date is a Date when it runs.
    await clock.advance(1_000)
    const [job] = await waitUntil(async () => {
      const jobs = await manager.listJobs({ name: "dated" })
      return jobs.length > 0 && jobs[0]!.status === "completed" ? jobs : undefined
    })
    expect(job).toMatchObject({ priority: 3, output: { year: 2031, note: "(none)" } })
    await manager.unschedule("by-name")
  })

  it("announces a fired job's queued on manager.events, as a dispatch's: to its own manager and to another process's", async () => {
    const dataDir = tempDir()
    const clock = testClock(Date.UTC(2030, 0, 1, 0, 0, 0, 500))
    // The producer fires (it knows the type) and runs nothing; the listener only listens.
    const firer = await openManager({ dataDir, clock, concurrency: 0 })
    const listener = await openManager({ dataDir, concurrency: 0 })
    const heard = (manager: typeof firer) => {
      const events: Array<{ id: string; status: string; name: string }> = []
      void (async () => {
        for await (const e of manager.events)
          if (e.type === "status") events.push({ id: e.id, status: e.status, name: e.name })
      })()
      return events
    }
    const here = heard(firer)
    const there = heard(listener)
    await listener.othersRecording()
    await firer.othersRecording()
    await firer.schedule("tick", NoopJob, { tag: "fired" }, { cron: EVERY_SECOND })
    await clock.advance(1_000)
    const [job] = await waitUntil(async () => {
      const jobs = await firer.listJobs({ name: "noop" })
      return jobs.length > 0 ? jobs : undefined
    })
    await waitUntil(
      () => here.some((e) => e.id === job!.id) && there.some((e) => e.id === job!.id),
      20_000,
      "the queued event here and there",
    )
    expect(here.filter((e) => e.id === job!.id)).toEqual([{ id: job!.id, status: "queued", name: "noop" }])
    expect(there.filter((e) => e.id === job!.id)).toEqual([{ id: job!.id, status: "queued", name: "noop" }])
    await firer.unschedule("tick")
  })

  it("fires a tick by compare-and-set: of two fires of one tick, one stores its job and the other nothing", async () => {
    const dataDir = tempDir()
    // Opening a manager creates the store; then two connections race on one tick.
    const manager = await openManager({ dataDir, concurrency: 0 })
    await manager.close()
    const [a, b] = [await openTestStore(dataDir), await openTestStore(dataDir)]
    try {
      const due = Date.now() - 1_000
      await a.upsertSchedule({
        name: "s",
        jobName: "noop",
        params: pack({}),
        priority: 0,
        options: null,
        cron: EVERY_SECOND,
        timezone: "UTC",
        nextRunAt: due,
        at: new Date().toISOString(),
      })
      const fire = (id: string) => ({
        name: "s",
        due,
        nextRunAt: due + 60_000,
        firedAt: Date.now(),
        job: {
          id,
          name: "noop",
          params: pack({}),
          data: pack(null),
          snapshot: encodeLifecycle(initialLifecycle(id)),
          priority: 0,
          createdAt: new Date().toISOString(),
        },
        log: "test fire",
      })
      const results = await Promise.all([a.fireSchedule(fire("job-a")), b.fireSchedule(fire("job-b"))])
      expect(results.filter(Boolean)).toHaveLength(1)
      const jobs = await a.listJobs({})
      expect(jobs).toHaveLength(1)
      const winner = jobs[0]!.id
      expect(results[winner === "job-a" ? 0 : 1]).toBe(true)
      const [row] = await b.listSchedules()
      expect(row).toMatchObject({ next_run_at: due + 60_000, last_job_id: winner })
      expect((await a.logs(winner)).map((l) => l.message)).toEqual(["test fire"])
      // The same tick again: it has moved on, so nothing is stored.
      expect(await a.fireSchedule(fire("job-c"))).toBe(false)
      expect(await a.listJobs({})).toHaveLength(1)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it("with two managers on one store (one in another process, a producer), fires each tick exactly once and skips none", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir })
    // A producer (concurrency 0) in its own process: it fires ticks too, and races this one.
    const producer = await startProcess("test/fixtures/worker.ts", [dataDir, "0"])
    try {
      await manager.schedule("every-second", NoopJob, { tag: "tick" }, { cron: EVERY_SECOND })
      await waitUntil(async () => (await jobsPerTick(dataDir)).size >= 5, 30_000, "five ticks")
    } finally {
      await manager.unschedule("every-second")
      await stopProcess(producer, "SIGTERM")
    }
    const counts = await jobsPerTick(dataDir)
    const ticks = sortedTicks(counts)
    expect(ticks.length).toBeGreaterThanOrEqual(5)
    for (const tick of ticks) expect(counts.get(tick), `jobs dispatched for the tick at ${tick}`).toBe(1)
    // While both run, every second has its tick.
    for (let i = 1; i < ticks.length; i++)
      expect(Date.parse(ticks[i]!) - Date.parse(ticks[i - 1]!), `after ${ticks[i - 1]}`).toBe(1_000)
    // The manager that runs noop jobs ran them all.
    await waitUntil(
      async () => (await manager.listJobs({ status: "completed" })).length === ticks.length,
      20_000,
      "every fired job to complete",
    )
  })

  it("after downtime fires once, not once per missed tick, then keeps time", async () => {
    const dataDir = tempDir()
    const clock = testClock(Date.UTC(2030, 0, 1, 0, 0, 0, 500))
    const first = await openManager({ dataDir, clock })
    await first.schedule("every-second", NoopJob, {}, { cron: EVERY_SECOND })
    await clock.advance(500)
    await first.close()
    expect(sortedTicks(await jobsPerTick(dataDir))).toEqual(["2030-01-01T00:00:01.000Z"])
    // Down for several ticks: the stored next tick is long past when a manager opens again.
    await clock.advance(3_500)
    const [stale] = await withStore(dataDir, (store) => store.listSchedules())
    expect(new Date(stale!.next_run_at).toISOString()).toBe("2030-01-01T00:00:02.000Z")
    const second = await openManager({ dataDir, clock })
    // The one catch-up fire (for the stored tick), then the next tick on time.
    await clock.settle()
    await clock.advance(500)
    await second.unschedule("every-second")
    const counts = await jobsPerTick(dataDir)
    expect(sortedTicks(counts), "one fire for the ticks missed while down").toEqual([
      "2030-01-01T00:00:01.000Z",
      "2030-01-01T00:00:02.000Z",
      "2030-01-01T00:00:05.000Z",
    ])
    for (const [tick, n] of counts) expect(n, `jobs dispatched for the tick at ${tick}`).toBe(1)
    const [info] = await withStore(dataDir, async (store) => store.listSchedules())
    expect(info).toBeUndefined()
  })

  it("unschedule stops it; a manager that does not know the job type never fires it", async () => {
    const dataDir = tempDir()
    const clock = testClock()
    const manager = await openManager({ dataDir, clock })
    await manager.schedule("every-second", NoopJob, {}, { cron: EVERY_SECOND })
    await clock.advance(1_000)
    expect((await jobsPerTick(dataDir)).size).toBe(1)
    const [listed] = await manager.listSchedules()
    expect(listed).toMatchObject({ name: "every-second", lastJobId: expect.any(String), lastRunAt: expect.any(String) })
    expect(Date.parse(listed!.nextRunAt!)).toBeGreaterThan(Date.parse(listed!.lastRunAt!) - 1_000)

    expect(await manager.unschedule("every-second")).toBe(true)
    await clock.advance(2_500)
    expect((await jobsPerTick(dataDir)).size).toBe(1)
    expect(await manager.listSchedules()).toEqual([])
    expect(await manager.unschedule("every-second")).toBe(false)

    // Stored by one manager, then only a manager without the type is open: the tick waits for one that knows it.
    await manager.schedule("every-second", NoopJob, {}, { cron: EVERY_SECOND })
    await manager.close()
    const firedBefore = (await jobsPerTick(dataDir)).size
    const stranger = await openManager({ dataDir, jobs: [CountJob], clock })
    await clock.advance(2_500)
    expect((await jobsPerTick(dataDir)).size).toBe(firedBefore)
    const [waiting] = await stranger.listSchedules()
    expect(Date.parse(waiting!.nextRunAt!)).toBeLessThan(clock.now())
  })
})
