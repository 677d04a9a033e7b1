import { describe, expect, it } from "vitest"
import { getSimplePaths } from "xstate/graph"
import { JobManager, JobPriority, jobLifecycleMachine } from "../../src/index.js"
import { statusOf } from "../../src/actors/lifecycle.js"
import type { JobLifecycleEvent } from "../../src/machines/jobLifecycleMachine.js"
import { allTestJobs, ScriptedJob, script, WaitJob } from "../fixtures/jobs.js"
import { readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/** The events a user or a job can cause; REQUEUE and FAIL are the engine's own (see recovery tests). */
const events: JobLifecycleEvent[] = [
  { type: "START" },
  { type: "PAUSE", by: "user" },
  { type: "RESUME" },
  { type: "CANCEL" },
  { type: "WORKER.DONE" },
  { type: "WORKER.FAILED", error: { _tag: "ScriptedFailure", message: "told to fail" } },
  { type: "WORKER.PAUSED" },
  { type: "WORKER.CANCELLED" },
]

// getSimplePaths, not createTestModel: the test model refuses machines that invoke actors,
// and ours invokes the worker. The paths are the same; the driver below replays them.
const paths = getSimplePaths(jobLifecycleMachine, {
  events,
  input: { jobId: "model" },
  // The attempt counter grows on every start; paths are over states, not counters.
  serializeState: (state) => JSON.stringify(state.value),
})

/** Drives one job through the real manager on a real database, one machine event at a time. */
class Driver {
  readonly dataDir = tempDir()
  manager!: JobManager
  id!: string
  gate: string | undefined
  private pending: Promise<unknown>[] = []

  private connect() {
    return JobManager.open({ ...storeFor(this.dataDir), jobs: allTestJobs, concurrency: 1, interruptGraceMs: 200 })
  }

  async open() {
    // One slot, held by a gate job whenever the job under test must stay queued.
    this.manager = await this.connect()
    await this.holdSlot()
    this.id = (await this.manager.dispatch(ScriptedJob, {})).id
  }

  /** Closes the manager and opens a new one on the same database, as a process restart would. */
  async restart(status: string) {
    await this.manager.close()
    this.manager = await this.connect()
    // A running job was paused by close() and resumes on open: wait until it runs again.
    if (status === "running") await waitUntil(async () => (await this.storedStatus()) === "running", 20_000, "the job to resume")
  }

  private async holdSlot() {
    // Critical priority: after a restart the gate gets the slot back before the job under test.
    const gate = await this.manager.dispatch(WaitJob, {}, { priority: JobPriority.CRITICAL })
    await waitUntil(async () => (await gate.status()) === "running", 20_000, "the gate to run")
    this.gate = gate.id
  }

  private async storedStatus() {
    return (await this.manager.getJobInfo(this.id)).status
  }

  async apply(event: JobLifecycleEvent, from: string) {
    const m = this.manager
    switch (event.type) {
      case "START":
        await m.cancel(this.gate!)
        await waitUntil(async () => (await this.storedStatus()) === "running", 20_000, "the job to start")
        return
      case "PAUSE":
        if (from === "running") this.pending.push(m.pause(this.id))
        else await m.pause(this.id)
        return
      case "CANCEL":
        if (from === "running") this.pending.push(m.cancel(this.id))
        else await m.cancel(this.id)
        return
      case "RESUME":
        await this.holdSlot()
        await m.resume(this.id)
        return
      case "WORKER.DONE":
        script.tell(this.id, "done")
        break
      case "WORKER.FAILED":
        script.tell(this.id, "fail")
        break
      case "WORKER.PAUSED":
      case "WORKER.CANCELLED":
        script.tell(this.id, "interrupt")
        break
    }
    await Promise.all(this.pending.splice(0))
    await waitUntil(async () => (await this.storedStatus()) !== "running", 20_000, "the job to leave running")
  }

  /** The stored row, read straight from the store. */
  async row() {
    return (await readRow(this.dataDir, this.id))!
  }

  async close() {
    await this.manager.close()
  }
}

describe("the lifecycle machine, driven through the real manager", () => {
  it("has paths that reach every status", () => {
    const reached = new Set(paths.map((p) => statusOf(p.state.value)))
    expect([...reached].sort()).toEqual(["cancelled", "completed", "failed", "paused", "queued", "running"])
  })

  for (const path of paths) {
    const title = path.steps.length === 0 ? "queued" : path.steps.map((s) => s.event.type).join(" → ")
    for (const restarts of [false, true]) {
      it(`stores what the machine says after each step${restarts ? ", restarting at each state" : ""}: ${title}`, async () => {
        const driver = new Driver()
        await driver.open()
        try {
          const check = async (expected: string, after: string) => {
            const row = await driver.row()
            expect(row.status, after).toBe(expected)
            if (expected === "paused") expect(row.paused_by, after).toBe("user")
            if (expected === "failed") expect(JSON.parse(row.error!), after).toMatchObject({ _tag: "ScriptedFailure" })
          }
          await check("queued", "dispatch")
          if (restarts) await driver.restart("queued")
          let from = "queued"
          for (const step of path.steps) {
            await driver.apply(step.event, from)
            const expected = statusOf(step.state.value)
            await check(expected, `after ${step.event.type}`)
            // Restart wherever the state is one a process can stop in (not mid pause or cancel).
            const settled = typeof step.state.value === "string" || JSON.stringify(step.state.value) === '{"running":"active"}'
            if (restarts && settled) {
              await driver.restart(expected)
              await check(expected, `after a restart following ${step.event.type}`)
            }
            from = expected
          }
        } finally {
          await driver.close()
        }
      })
    }
  }
})
