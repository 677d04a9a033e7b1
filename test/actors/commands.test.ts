import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { InvalidTransition, JobCancelled, JobNotFound } from "../../src/index.js"
import { AsyncCountJob, CountJob, NoopJob, SignalJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/** Items recorded per job id in an effects file: `{ [id]: [0, 1, 2, ...] }`. */
const effects = (file: string): Record<string, number[]> => {
  const out: Record<string, number[]> = {}
  let text = ""
  try {
    text = readFileSync(file, "utf8")
  } catch {}
  for (const line of text.split("\n").filter(Boolean)) {
    const [id, i] = line.split(" ")
    ;(out[id!] ??= []).push(Number(i))
  }
  return out
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("pause, resume and cancel", () => {
  for (const Job of [CountJob, AsyncCountJob]) {
    it(`pauses a running ${Job.name} job at its next interrupt point and resumes it from its checkpoint`, async () => {
      const dataDir = tempDir()
      const effectsFile = join(dataDir, "effects.txt")
      const manager = await openManager({ dataDir })
      const handle = await manager.dispatch(Job, { n: 40, effectsFile, delayMs: 5 })
      await waitUntil(() => (effects(effectsFile)[handle.id]?.length ?? 0) >= 5, 20_000, "five items")

      expect(await manager.pause(handle.id)).toBe("paused")
      const paused = await manager.getJobInfo(handle.id)
      expect(paused.status).toBe("paused")
      expect(paused.pausedBy).toBe("user")
      expect(await manager.listRunningJobs()).toHaveLength(0)
      const doneAtPause = effects(effectsFile)[handle.id]!.length
      expect(paused.checkpoints).toBe(doneAtPause)

      // A paused job holds no slot and runs nothing.
      await new Promise((r) => setTimeout(r, 50))
      expect(effects(effectsFile)[handle.id]!.length).toBe(doneAtPause)

      expect(await manager.resume(handle.id)).toBe("queued")
      expect(await handle.result()).toMatchObject({ counted: 40 })
      expect(effects(effectsFile)[handle.id]).toEqual(range(40))
      expect((await manager.getJobInfo(handle.id)).attempts).toBe(2)
    })
  }

  it("cancels a running job; it stays in history and result() rejects with JobCancelled", async () => {
    const manager = await openManager()
    const handle = await manager.dispatch(WaitJob, {})
    await waitUntil(async () => (await handle.status()) === "running")
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    expect(await handle.result().catch((e) => e)).toBeInstanceOf(JobCancelled)
    expect((await manager.listJobs({ status: "cancelled" })).map((j) => j.id)).toEqual([handle.id])
  })

  it("cancels a queued job without running it", async () => {
    const manager = await openManager({ concurrency: 1 })
    const blocker = await manager.dispatch(WaitJob, {})
    const queued = await manager.dispatch(NoopJob, {})
    expect(await queued.status()).toBe("queued")
    expect(await manager.cancel(queued.id)).toBe("cancelled")
    expect((await manager.getJobInfo(queued.id)).startedAt).toBeNull()
    await manager.cancel(blocker.id)
  })

  it("cancels a paused job", async () => {
    const manager = await openManager()
    const handle = await manager.dispatch(WaitJob, {})
    await waitUntil(async () => (await handle.status()) === "running")
    await manager.pause(handle.id)
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    expect((await manager.getJobInfo(handle.id)).status).toBe("cancelled")
  })

  it("pauses a queued job, which then waits until resumed", async () => {
    const manager = await openManager({ concurrency: 1 })
    const blocker = await manager.dispatch(WaitJob, {})
    const queued = await manager.dispatch(NoopJob, { tag: "q" })
    expect(await manager.pause(queued.id)).toBe("paused")
    await manager.cancel(blocker.id)
    await new Promise((r) => setTimeout(r, 30))
    expect(await queued.status()).toBe("paused")
    await manager.resume(queued.id)
    expect(await queued.result()).toEqual({ tag: "q" })
  })

  it("answers an event the lifecycle does not accept with InvalidTransition", async () => {
    const manager = await openManager()
    const done = await manager.dispatch(NoopJob, {})
    await done.result()
    const running = await manager.dispatch(WaitJob, {})
    await waitUntil(async () => (await running.status()) === "running")

    const pauseCompleted = await manager.pause(done.id).catch((e) => e)
    expect(pauseCompleted).toBeInstanceOf(InvalidTransition)
    expect(pauseCompleted).toMatchObject({ status: "completed", event: "PAUSE" })
    expect(await manager.resume(running.id).catch((e) => e)).toBeInstanceOf(InvalidTransition)
    await manager.cancel(running.id)
    expect(await manager.cancel(running.id).catch((e) => e)).toMatchObject({
      _tag: "InvalidTransition",
      status: "cancelled",
    })
    expect(await manager.pause("no-such-id").catch((e) => e)).toBeInstanceOf(JobNotFound)
  })

  it("ends a job that never calls checkInterrupt after the grace period", async () => {
    const manager = await openManager({ interruptGraceMs: 100 })
    const handle = await manager.dispatch(WaitJob, { stubborn: true })
    await waitUntil(async () => (await handle.status()) === "running")
    expect(await manager.cancel(handle.id)).toBe("cancelled")
  })

  it("aborts ctx.signal on cancel and pause, so an async job waiting on it stops at once", async () => {
    // A grace period far longer than the test: only the signal can end these jobs in time.
    const manager = await openManager({ interruptGraceMs: 600_000 })
    const cancelled = await manager.dispatch(SignalJob, {})
    const paused = await manager.dispatch(SignalJob, {})
    await waitUntil(async () => (await cancelled.status()) === "running" && (await paused.status()) === "running")
    expect(await manager.cancel(cancelled.id)).toBe("cancelled")
    expect(await manager.pause(paused.id)).toBe("paused")
    await manager.cancel(paused.id)
  })

  it("streams progress to the handle and ends the stream when the job ends", async () => {
    const dataDir = tempDir()
    const manager = await openManager({ dataDir })
    const handle = await manager.dispatch(CountJob, { n: 10, effectsFile: join(dataDir, "e"), delayMs: 2 })
    const seen: number[] = []
    for await (const p of handle.progress) if (p._tag === "Count") seen.push(p.done)
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.at(-1)).toBe(10)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
  })
})
