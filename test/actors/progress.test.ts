import { writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { Progress } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { GateJob } from "../cli/fixtures/gateJob.js"
import { ProgressBurstJob, steps } from "../fixtures/progressJobs.js"
import { readRow, storeKind } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

interface StoredProgress {
  readonly status: string
  readonly progress: number | null
  readonly progress_data: string | null
  readonly state_version: number
  readonly last_checkpoint: string | null
}

/**
 * The job's row as another process sees it, never the manager's live values: straight from
 * jobs.db, read-only (or, on PostgreSQL, through a connection of its own).
 */
const storedRow = async (dataDir: string, id: string): Promise<StoredProgress> => {
  if (storeKind === "postgres") return (await readRow(dataDir, id))!
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true, fileMustExist: true })
  try {
    return db
      .prepare("SELECT status, progress, progress_data, state_version, last_checkpoint FROM jobs WHERE id = ?")
      .get(id) as StoredProgress
  } finally {
    db.close()
  }
}

const stored = (p: Progress<unknown>) => JSON.stringify(p)

describe("progress of a running job", () => {
  it("writes the last value of a burst once the throttle window has passed, while the job still runs", async () => {
    const dataDir = tempDir()
    const throttleMs = 50
    const total = 20
    // The throttle reads this clock: frozen during the burst, every value after the first is
    // inside the first one's window however slow the machine is, so it must wait for the
    // trailing write.
    let clock = Date.parse("2026-01-01T00:00:00.000Z")
    const manager = await openManager({
      dataDir,
      jobs: [ProgressBurstJob],
      progressThrottleMs: throttleMs,
      now: () => clock,
    })
    const writesBefore = manager.stats().progressWrites
    const handle = await manager.dispatch(ProgressBurstJob, { total })
    const first = stored(Progress.count(1, total))
    const last = stored(Progress.count(total, total))

    await steps.reached(handle.id, "first reported")
    // The first value of a window is written at once.
    await waitUntil(
      async () => (await storedRow(dataDir, handle.id)).progress_data === first,
      5_000,
      "the first value in the store",
    )

    const burstStarted = performance.now()
    steps.reach(handle.id, "burst")
    await steps.reached(handle.id, "burst reported")
    const burstMs = performance.now() - burstStarted
    clock += throttleMs

    // The job reports nothing more, so only the throttle's own timer can write the last value.
    const deadline = Date.now() + 5_000
    let row = await storedRow(dataDir, handle.id)
    while (row.progress_data !== last && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5))
      row = await storedRow(dataDir, handle.id)
    }
    expect(row.progress_data, "the stored progress after the throttle window").toBe(last)
    expect(row.progress).toBe(1)
    // Still running, and never checkpointed: the value came by a progress write, not with a
    // checkpoint or the job's end.
    expect(row.status).toBe("running")
    expect(row.state_version).toBe(0)
    expect(row.last_checkpoint).toBeNull()
    expect(await handle.status()).toBe("running")

    // Coalesced: the first value, the trailing one, and at most one more per window the burst
    // spanned by the real timers (none, unless the machine stalled for a window).
    const writes = manager.stats().progressWrites - writesBefore
    expect(writes).toBeGreaterThanOrEqual(2)
    expect(writes, `progress writes for ${total} values reported in ${burstMs.toFixed(1)} ms`).toBeLessThanOrEqual(
      2 + Math.floor(burstMs / throttleMs),
    )

    expect(await manager.cancel(handle.id)).toBe("cancelled")
  })
})

describe("handle.progress of a job another manager runs", () => {
  it("yields what that manager stores and ends with the job", async () => {
    const dataDir = tempDir()
    const worker = await openManager({ dataDir, jobs: [GateJob], concurrency: 2, progressThrottleMs: 0 })
    const producer = await openManager({ dataDir, jobs: [GateJob], concurrency: 0 })
    const releaseFile = join(tempDir(), "go")
    const handle = await producer.dispatch(GateJob, { releaseFile })
    const seen: string[] = []
    const followed = (async () => {
      for await (const p of handle.progress) seen.push(p._tag === "Indeterminate" ? (p.message ?? "") : p._tag)
    })()
    await waitUntil(() => seen.length >= 2, 20_000, "two progress values from the other manager")
    writeFileSync(releaseFile, "")
    // It ends: before, it waited for events only this manager's own jobs send.
    await followed
    expect(seen.every((s) => /^tick \d+$/.test(s))).toBe(true)
    expect((await worker.getJobInfo(handle.id)).status).toBe("completed")
  })
})
