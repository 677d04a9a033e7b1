/**
 * A store that fails for a while is not the job's failure (both stores). The failures are
 * injected in the process, on the manager's own store object, with the cause a lost server
 * gives (ECONNREFUSED): a commit that fails for two seconds, a call of the job's that fails
 * once, lease writes that fail for longer than the lease. The fault suite (test/outages) does
 * the same with real faults.
 */
import { join } from "node:path"
import { Data, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, JobManager, PersistenceError } from "../../src/index.js"
import type { JobStore } from "../../src/persistence/JobStore.js"
import { at, lifecycle } from "../fixtures/storeRows.js"
import { openTestStore, rawSql, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { effectViolations, FaultCountJob, readEffects } from "../outages/faultJobs.js"

const refused = (operation: string) =>
  new PersistenceError({
    operation,
    reason: "Write",
    detail: "connect ECONNREFUSED 127.0.0.1:5432",
    cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
  })

const storeOf = (manager: JobManager): JobStore => (manager as unknown as { store: JobStore }).store

/** Makes `method` of the manager's store fail as an unreachable server would, until the returned function is called. */
const breakStore = (manager: JobManager, method: "commit" | "renewLease"): (() => void) => {
  const store = storeOf(manager) as unknown as Record<string, unknown>
  const original = store[method]
  store[method] = () => Promise.reject(refused(method))
  return () => {
    store[method] = original
  }
}

class Unrelated extends Data.TaggedError("Unrelated")<{}> {}

/** Checkpoints, then meets a store failure in a call of its own on its first attempt only. */
const MeetsOutageJob = defineJob({
  name: "meets_outage",
  params: Schema.Struct({}),
  state: Schema.Struct({ checkpointed: Schema.Boolean }),
  initialState: () => ({ checkpointed: false }),
  output: Schema.Struct({ attempt: Schema.Number, resumed: Schema.Boolean }),
  run: (ctx) =>
    Effect.gen(function* () {
      const resumed = ctx.state.checkpointed
      if (!resumed) yield* ctx.checkpoint({ checkpointed: true })
      if (ctx.attempt === 1) return yield* Effect.fail(refused("listJobs"))
      if (ctx.attempt > 2) return yield* Effect.fail(new Unrelated())
      return { attempt: ctx.attempt, resumed }
    }),
})

const jobs = [FaultCountJob, MeetsOutageJob]

/** The items a job did, in order, with the attempt that did each (from its effects file). */
const itemsOf = (effectsFile: string, id: string) => readEffects(effectsFile).filter((e) => e.id === id)

describe("a store that fails for a while", () => {
  it("waits out commits failing for 2 s: the job's checkpoint waits, and it completes with no retry spent", async () => {
    const errors: unknown[] = []
    const effectsFile = join(tempDir(), "effects.log")
    const manager = await JobManager.open({ ...storeFor(tempDir()), jobs, onError: (e) => errors.push(e) })
    try {
      const handle = await manager.dispatch(FaultCountJob, { n: 20, delayMs: 20, effectsFile })
      await waitUntil(() => itemsOf(effectsFile, handle.id).length >= 3, 20_000, "three items")
      const heal = breakStore(manager, "commit")
      const broke = Date.now()
      await waitUntil(() => errors.some((e) => e instanceof PersistenceError), 20_000, "the failure, reported")
      // A command on the live job cannot be recorded meanwhile: it fails at once with the store's error.
      const paused = await manager.pause(handle.id).catch((e) => e)
      expect(paused).toBeInstanceOf(PersistenceError)
      expect((paused as PersistenceError).detail).toContain("ECONNREFUSED")
      // Longer than the engine's first three tries (50 + 250 + 1 000 ms): before, the checkpoint
      // failed the attempt, and the job was recorded failed once the store answered again.
      await new Promise((r) => setTimeout(r, 2_000 - (Date.now() - broke)))
      heal()
      expect(await handle.result()).toEqual({ counted: 20 })
      const info = await manager.getJobInfo(handle.id)
      expect({ status: info.status, failures: info.failures, attempts: info.attempts }).toEqual({
        status: "completed",
        failures: 0,
        attempts: 1,
      })
      expect(itemsOf(effectsFile, handle.id).map((e) => e.item)).toEqual([...Array(20).keys()])
      // One report of the failure, then one that it ended (once calls have gone through for a while): not one per try.
      await waitUntil(
        () => errors.some((e) => (e as { _tag?: string })._tag === "StoreRecovered"),
        20_000,
        "StoreRecovered",
      )
      expect(errors.filter((e) => e instanceof PersistenceError)).toHaveLength(1)
      expect(errors.filter((e) => (e as { _tag?: string })._tag === "StoreRecovered")).toHaveLength(1)
    } finally {
      await manager.close()
    }
  })

  it("puts an attempt that met a store failure in a call of its own back in line: it resumes from its checkpoint, no retry spent", async () => {
    const manager = await JobManager.open({ ...storeFor(tempDir()), jobs, onError: () => {} })
    try {
      const handle = await manager.dispatch(MeetsOutageJob, {})
      expect(await handle.result()).toEqual({ attempt: 2, resumed: true })
      const info = await manager.getJobInfo(handle.id)
      expect({ failures: info.failures, lastError: info.lastError }).toEqual({ failures: 0, lastError: null })
      const logs = await manager.getJobLogs(handle.id)
      const stopped = logs.find((l) =>
        /attempt stopped by a store failure .*ECONNREFUSED.*back in line from checkpoint 1, no retry spent/.test(
          l.message,
        ),
      )
      const resumed = logs.find((l) => /^resumed from checkpoint 1 \(attempt 2\)$/.test(l.message))
      expect(stopped && resumed).toBeTruthy()
      // Not at once: the store may still fail; it waits a moment in line (at least that long, on any machine).
      expect(Date.parse(resumed!.at) - Date.parse(stopped!.at)).toBeGreaterThanOrEqual(900)
    } finally {
      await manager.close()
    }
  })

  it("stops its running jobs when it cannot renew its lease in time, and resumes them from their checkpoint once it can", async () => {
    const effectsFile = join(tempDir(), "effects.log")
    const manager = await JobManager.open({ ...storeFor(tempDir()), jobs, leaseMs: 600, onError: () => {} })
    try {
      const handle = await manager.dispatch(FaultCountJob, { n: 60, delayMs: 20, effectsFile })
      await waitUntil(() => itemsOf(effectsFile, handle.id).length >= 3, 20_000, "three items")
      const heal = breakStore(manager, "renewLease")
      // Three quarters of a lease after the last renewal that went through, the job stops where it stands.
      await new Promise((r) => setTimeout(r, 1_500))
      const during = itemsOf(effectsFile, handle.id).length
      // Nor does it claim anything new while its lease may be someone else's to judge expired.
      const dispatched = await manager.dispatch(FaultCountJob, { n: 1, delayMs: 0, effectsFile })
      await new Promise((r) => setTimeout(r, 300))
      expect(itemsOf(effectsFile, handle.id).length, "attempt 1 stopped").toBe(during)
      expect((await manager.getJobInfo(dispatched.id)).status, "claimed while fenced").toBe("queued")
      heal()
      await dispatched.result()
      expect(await handle.result()).toEqual({ counted: 60 })
      const mine = itemsOf(effectsFile, handle.id)
      expect(mine.at(-1)!.attempt).toBe(2)
      // Attempt 2 took over from the last checkpoint: every item done, at most the one in flight twice,
      // and attempt 1 did nothing once attempt 2 had begun.
      expect(effectViolations(mine, [handle.id], 60, 1)).toEqual([])
    } finally {
      await manager.close()
    }
  })

  it("guards a takeover by the attempt it ends: a later attempt of the same owner is not written over", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ ...storeFor(dataDir), jobs, concurrency: 0 })
    const { id } = await manager.dispatch(FaultCountJob, {
      n: 1,
      delayMs: 0,
      effectsFile: join(dataDir, "effects.log"),
    })
    await manager.close()
    // The owner claimed the job again since the row was read: it runs attempt 2 now.
    await rawSql(dataDir, "UPDATE jobs SET status = 'running', owner = 'm1', attempts = 2 WHERE id = $1", [id])
    const store = await openTestStore(dataDir)
    try {
      const requeue = (attempts: number) =>
        store.commit([
          {
            kind: "transition",
            id,
            expect: { status: "running", owner: "m1", attempts },
            lifecycle: lifecycle("queued", { attempts }),
            at: at(1),
          },
        ])
      expect((await requeue(1)).applied).toEqual([false])
      expect((await store.getJob(id))?.status).toBe("running")
      expect((await requeue(2)).applied).toEqual([true])
      expect((await store.getJob(id))?.status).toBe("queued")
    } finally {
      await store.close()
    }
  })
})
