import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { InvalidOptions, InvalidTransition, JobFailed, UniqueKeyTaken } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { linesOf, startProcess } from "../fixtures/processes.js"
import {
  FlakyJob,
  LimitedJob,
  SleepyJob,
  StampJob,
  StubbornAsyncJob,
  limitedRuns,
  semanticsJobs,
} from "../fixtures/semanticsJobs.js"
import { readRow } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { testClock } from "../../src/testing/index.js"

const open = (dataDir = tempDir(), options: Parameters<typeof openManager>[0] = {}) =>
  openManager({ dataDir, jobs: semanticsJobs, ...options })

describe("retries", () => {
  it("retries a failing job from its checkpoint until it completes, counting failures", async () => {
    const dataDir = tempDir()
    const effects = join(dataDir, "effects")
    const manager = await open(dataDir)
    const handle = await manager.dispatch(FlakyJob, { failTimes: 2, effectsFile: effects })
    expect(await handle.result()).toEqual({ attempt: 3 })
    // The work before the checkpoint was done once: each retry resumed after it.
    expect(linesOf(effects)).toEqual([`${handle.id} work`])
    const info = await manager.getJobInfo(handle.id)
    expect(info).toMatchObject({ status: "completed", attempts: 3, failures: 2, runAt: null })
    expect(info.lastError).toMatchObject({ _tag: "Flaky", message: "attempt 2 failed" })
    const lines = (await manager.getJobLogs(handle.id)).map((l) => l.message)
    expect(lines.filter((l) => l.startsWith("attempt failed: [Flaky]"))).toHaveLength(2)
  })

  it("fails for good with the last real error once the retries are spent", async () => {
    const manager = await open()
    const handle = await manager.dispatch(
      FlakyJob,
      { failTimes: 10, effectsFile: join(tempDir(), "e") },
      { retry: { maxRetries: 2 } },
    )
    const failure = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(failure).toBeInstanceOf(JobFailed)
    expect((failure as JobFailed).error).toMatchObject({ _tag: "Flaky", message: "attempt 3 failed" })
    expect(await manager.getJobInfo(handle.id)).toMatchObject({ status: "failed", attempts: 3, failures: 3 })
  })

  it("retries only the tags in retryOn, and never a defect by default", async () => {
    const manager = await open()
    const effectsFile = join(tempDir(), "e")
    const fatal = await manager.dispatch(
      FlakyJob,
      { failTimes: 1, tag: "Fatal", effectsFile },
      { retry: { maxRetries: 3, retryOn: ["Flaky"] } },
    )
    const defect = await manager.dispatch(FlakyJob, { failTimes: 1, defect: true, effectsFile })
    const listedDefect = await manager.dispatch(
      FlakyJob,
      { failTimes: 1, defect: true, effectsFile },
      { retry: { maxRetries: 1, retryOn: ["TypeError"] } },
    )
    await expect(fatal.result()).rejects.toBeInstanceOf(JobFailed)
    await expect(defect.result()).rejects.toBeInstanceOf(JobFailed)
    expect(await listedDefect.result()).toEqual({ attempt: 2 })
    expect(await manager.getJobInfo(fatal.id)).toMatchObject({ attempts: 1, failures: 1, error: { _tag: "Fatal" } })
    expect(await manager.getJobInfo(defect.id)).toMatchObject({
      attempts: 1,
      failures: 1,
      error: { _tag: "TypeError" },
    })
  })

  it("waits out the backoff queued, holding no slot, with runAt in the future", async () => {
    const manager = await open(tempDir(), { concurrency: 1 })
    const handle = await manager.dispatch(
      FlakyJob,
      { failTimes: 1, effectsFile: join(tempDir(), "e") },
      { retry: { maxRetries: 1, backoff: { type: "fixed", delayMs: 60_000 } } },
    )
    const waiting = await waitUntil(async () => {
      const info = await manager.getJobInfo(handle.id)
      return info.failures === 1 ? info : undefined
    })
    expect(waiting.status).toBe("queued")
    expect(Date.parse(waiting.runAt!)).toBeGreaterThan(Date.now() + 30_000)
    // The one slot is free: another job runs while this one waits.
    expect(await (await manager.dispatch(StampJob, {})).result()).toHaveProperty("startedAt")
    expect((await manager.getJobInfo(handle.id)).status).toBe("queued")
  })

  it("puts a failed job back in line on retry(), from its checkpoint, with a fresh budget", async () => {
    const dataDir = tempDir()
    const effects = join(dataDir, "effects")
    const manager = await open(dataDir)
    const handle = await manager.dispatch(
      FlakyJob,
      { failTimes: 2, effectsFile: effects },
      { retry: { maxRetries: 0 } },
    )
    await expect(handle.result()).rejects.toBeInstanceOf(JobFailed)
    expect(await manager.retry(handle.id)).toBe("queued")
    // Attempt 2 fails again, and the budget of 0 retries makes that final.
    await waitUntil(
      async () =>
        (await manager.getJobInfo(handle.id)).status === "failed" &&
        (await manager.getJobInfo(handle.id)).attempts === 2,
    )
    expect(await manager.getJobInfo(handle.id)).toMatchObject({ failures: 1, error: { message: "attempt 2 failed" } })
    await manager.retry(handle.id)
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).status === "completed")
    expect(JSON.parse(JSON.stringify((await manager.getJobInfo(handle.id)).output))).toEqual({ attempt: 3 })
    expect(linesOf(effects)).toEqual([`${handle.id} work`])
    await expect(manager.retry(handle.id)).rejects.toBeInstanceOf(InvalidTransition)
  })

  it("retries a cancelled job too", async () => {
    const manager = await open()
    const handle = await manager.dispatch(StampJob, {}, { delayMs: 60_000 })
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    expect(await manager.retry(handle.id)).toBe("queued")
    expect(await handle.result()).toHaveProperty("startedAt")
  })

  it("refuses bad retry policies, naming what is wrong", async () => {
    const manager = await open()
    const bad = (retry: unknown) => manager.dispatch(StampJob, {}, { retry: retry as never })
    await expect(bad({ maxRetries: -1 })).rejects.toThrow(/retry\.maxRetries/)
    await expect(bad({ maxRetries: 1, backoff: { type: "linear", delayMs: 5 } })).rejects.toThrow(
      /retry\.backoff\.type/,
    )
    await expect(bad({ maxRetries: 1, backoff: { type: "fixed", delayMs: 5, jitter: 2 } })).rejects.toBeInstanceOf(
      InvalidOptions,
    )
    await expect(bad({ maxRetries: 1, retryOn: "Flaky" })).rejects.toThrow(/retry\.retryOn/)
    expect(await manager.listJobs()).toHaveLength(0)
  })
})

describe("timeouts", () => {
  it("interrupts a job asleep inside an Effect and fails it with JobTimeout", async () => {
    const manager = await open()
    const handle = await manager.dispatch(SleepyJob, { ms: 600_000 }, { timeoutMs: 200 })
    const failure = (await handle.result().catch((e: unknown) => e)) as JobFailed
    expect(failure).toBeInstanceOf(JobFailed)
    expect(failure.error).toMatchObject({ _tag: "JobTimeout" })
    expect(failure.error.message).toContain("200 ms")
  })

  it("retries a job that timed out with more time when retry() says so; a bad override is refused and changes nothing", async () => {
    const manager = await open()
    const handle = await manager.dispatch(SleepyJob, { ms: 400 }, { timeoutMs: 100 })
    expect(await handle.result().catch((e: JobFailed) => e.error._tag)).toBe("JobTimeout")
    expect(await manager.retry(handle.id, { timeoutMs: -1 }).catch((e) => e)).toMatchObject({
      _tag: "InvalidOptions",
      option: "timeoutMs",
    })
    expect((await manager.getJobInfo(handle.id)).status).toBe("failed")
    // The same timeout again would fail again: the override gives it room.
    await manager.retry(handle.id, { timeoutMs: 60_000 })
    expect(await (await manager.handle(handle.id)).result()).toEqual({ slept: 400 })
    // Only failed or cancelled jobs take it.
    expect(await manager.retry(handle.id, { timeoutMs: 1 }).catch((e) => e)).toMatchObject({
      _tag: "InvalidTransition",
    })
  })

  it("abandons an async job that ignores ctx.signal, and retries the timeout", async () => {
    const dataDir = tempDir()
    const effects = join(dataDir, "effects")
    const manager = await open(dataDir)
    const handle = await manager.dispatch(
      StubbornAsyncJob,
      { ms: 3_000, effectsFile: effects },
      { timeoutMs: 100, retry: { maxRetries: 1 } },
    )
    const failure = (await handle.result().catch((e: unknown) => e)) as JobFailed
    expect(failure.error).toMatchObject({ _tag: "JobTimeout" })
    // Both attempts ended long before their timers would have woken the job.
    expect(await manager.getJobInfo(handle.id)).toMatchObject({ status: "failed", attempts: 2, failures: 2 })
    expect(linesOf(effects)).toEqual([])
  })
})

describe("delays", () => {
  it("does not start a delayed job early, and the wait survives a restart", async () => {
    const dataDir = tempDir()
    const clock = testClock()
    let manager = await open(dataDir, { clock })
    const handle = await manager.dispatch(StampJob, {}, { delayMs: 1_500 })
    const runAt = clock.now() + 1_500
    await clock.advance(1_499)
    expect(await manager.getJobInfo(handle.id)).toMatchObject({
      status: "queued",
      runAt: new Date(runAt).toISOString(),
    })
    await manager.close()
    manager = await open(dataDir, { clock })
    await clock.settle()
    expect((await manager.getJobInfo(handle.id)).status).toBe("queued")
    await clock.advance(1)
    const out = (await (await manager.handle(handle.id)).result()) as { startedAt: number }
    expect(out.startedAt).toBe(runAt)
    expect((await readRow(dataDir, handle.id))!.run_at).toBeNull()
  })

  it("runs a job whose runAt has passed at once, and refuses bad delays", async () => {
    const manager = await open()
    const handle = await manager.dispatch(StampJob, {}, { runAt: new Date(Date.now() - 1_000) })
    expect((await manager.getJobInfo(handle.id)).runAt).toBeNull()
    await handle.result()
    await expect(manager.dispatch(StampJob, {}, { delayMs: -5 })).rejects.toThrow(/delayMs/)
    await expect(manager.dispatch(StampJob, {}, { runAt: Number.NaN })).rejects.toThrow(/runAt/)
    await expect(manager.dispatch(StampJob, {}, { delayMs: 5, runAt: Date.now() })).rejects.toBeInstanceOf(
      InvalidOptions,
    )
  })

  it("starts waiting jobs in runAt order, however they were dispatched", async () => {
    const clock = testClock()
    const start = clock.now()
    const manager = await open(tempDir(), { concurrency: 1, clock })
    const later = await manager.dispatch(StampJob, { label: "later" }, { delayMs: 900 })
    const sooner = await manager.dispatch(StampJob, { label: "sooner" }, { delayMs: 300 })
    await clock.advance(900)
    expect(await Promise.all([sooner.result(), later.result()])).toEqual([
      { startedAt: start + 300 },
      { startedAt: start + 900 },
    ])
  })
})

describe("a script that only awaits its jobs", () => {
  it("stays alive while a result or othersRecording() is awaited, and exits once closed, whatever timeoutMs says", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", new URL("../fixtures/awaitResult.ts", import.meta.url).pathname, tempDir()],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    )
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve))
    // Exit 13 (a top-level await that never settles) if nothing kept it alive; the test's own
    // timeout, long before the 600 s one, if the timeout's timer kept it alive after close().
    expect(code).toBe(0)
    expect(out).toBe("done\n")
  })
})

describe("unique keys", () => {
  it("returns the live job's handle and stores nothing, until that job is at rest", async () => {
    const manager = await open()
    const first = await manager.dispatch(StampJob, {}, { uniqueKey: "nightly", delayMs: 60_000 })
    const second = await manager.dispatch(StampJob, { label: "other" }, { uniqueKey: "nightly" })
    expect(second.id).toBe(first.id)
    expect(await manager.listJobs()).toHaveLength(1)
    await manager.cancel(first.id)
    const third = await manager.dispatch(StampJob, {}, { uniqueKey: "nightly" })
    expect(third.id).not.toBe(first.id)
    await third.result()
    // Once the third is at rest too, nothing holds the key: the cancelled one may come back.
    expect(await manager.retry(first.id)).toBe("queued")
    expect(await first.result()).toHaveProperty("startedAt")
  })

  it("keys are per job type: the same key on another type is another job", async () => {
    const manager = await open()
    const stamp = await manager.dispatch(StampJob, {}, { uniqueKey: "k", delayMs: 60_000 })
    const sleepy = await manager.dispatch(SleepyJob, { ms: 1 }, { uniqueKey: "k", delayMs: 60_000 })
    expect(sleepy.id).not.toBe(stamp.id)
    expect(sleepy.name).toBe("sleepy")
    expect((await manager.dispatch(SleepyJob, { ms: 2 }, { uniqueKey: "k" })).id).toBe(sleepy.id)
  })

  it("refuses to retry a job whose key another live job holds", async () => {
    const manager = await open()
    const first = await manager.dispatch(StampJob, {}, { uniqueKey: "k", delayMs: 60_000 })
    await manager.cancel(first.id)
    const holder = await manager.dispatch(StampJob, {}, { uniqueKey: "k", delayMs: 60_000 })
    const refusal = await manager.retry(first.id).catch((e: unknown) => e)
    expect(refusal).toBeInstanceOf(UniqueKeyTaken)
    expect((refusal as UniqueKeyTaken).holder).toBe(holder.id)
    expect((await manager.getJobInfo(first.id)).status).toBe("cancelled")
  })

  it("holds across processes: concurrent dispatches with one key store one job", async () => {
    const dataDir = tempDir()
    const manager = await open(dataDir, { concurrency: 0 })
    const go = join(tempDir(), "go")
    const script = new URL("../fixtures/dispatcher.ts", import.meta.url).pathname
    const children = await Promise.all([0, 1].map(() => startProcess(script, [dataDir, "shared", "25", go])))
    const outputs = children.map(
      (child) =>
        new Promise<string[]>((resolve) => {
          let text = ""
          child.stdout!.on("data", (d: Buffer) => {
            text += d.toString()
            const line = text.split("\n").find((l) => l.startsWith("["))
            if (line !== undefined) resolve(JSON.parse(line) as string[])
          })
        }),
    )
    writeFileSync(go, "")
    const mine: string[] = []
    for (let i = 0; i < 25; i++) mine.push((await manager.dispatch(StampJob, {}, { uniqueKey: "shared" })).id)
    const ids = new Set([...mine, ...(await outputs[0]!), ...(await outputs[1]!)])
    expect(ids.size).toBe(1)
    expect(await manager.listJobs()).toHaveLength(1)
  })
})

describe("per-type concurrency", () => {
  it("never runs more of a limited type than its limit, while other types use the free slots", async () => {
    limitedRuns.most = 0
    const manager = await open(tempDir(), { concurrency: 6 })
    const limited = await Promise.all(Array.from({ length: 10 }, () => manager.dispatch(LimitedJob, { ms: 60 })))
    const others = await Promise.all(Array.from({ length: 4 }, () => manager.dispatch(SleepyJob, { ms: 300 })))
    // While the limited jobs take their turns two by two, the sleepers run beside them.
    await waitUntil(async () => (await manager.listJobs({ status: "running", name: "sleepy" })).length === 4)
    await Promise.all([...limited, ...others].map((h) => h.result()))
    expect(limitedRuns.most).toBe(2)
  })
})
