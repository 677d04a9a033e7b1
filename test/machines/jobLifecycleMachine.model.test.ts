import { unpack } from "msgpackr"
import { describe, expect, it } from "vitest"
import { initialTransition } from "xstate"
import { getAdjacencyMap } from "xstate/graph"
import { JobManager, JobPriority, jobLifecycleMachine } from "../../src/index.js"
import { statusOf } from "../../src/actors/snapshots.js"
import type { JobLifecycleEvent, JobLifecycleSnapshot } from "../../src/machines/jobLifecycleMachine.js"
import { ModeledChildJob, ModeledJob, script, WaitJob, type ScriptCommand } from "../fixtures/jobs.js"
import { rawSql, readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/**
 * Every event the lifecycle machine takes, as the engine, a user or a job causes it. The two
 * WORKER.FAILED are the two outcomes of the retry policy: retried (it carries `retryAt`) or final.
 */
const events: JobLifecycleEvent[] = [
  { type: "START" },
  { type: "PAUSE", by: "user" },
  { type: "RESUME" },
  { type: "CANCEL" },
  { type: "RETRY" },
  { type: "REQUEUE" },
  { type: "FAIL", error: { _tag: "SerializationError", message: "state unreadable" } },
  { type: "WORKER.DONE" },
  { type: "WORKER.FAILED", error: { _tag: "Retryable", message: "told to fail, retryably" }, retryAt: 1 },
  { type: "WORKER.FAILED", error: { _tag: "ScriptedFailure", message: "told to fail" } },
  { type: "WORKER.PAUSED" },
  { type: "WORKER.CANCELLED" },
  { type: "WORKER.AWAITING" },
]

const topOf = (value: unknown) => (typeof value === "string" ? value : Object.keys(value as object)[0]!)
/**
 * States as the tests tell them apart: the state value, and whether a queued or paused job waits
 * for a time, or for its children.
 */
const keyOf = (s: JobLifecycleSnapshot) => {
  const resting = ["queued", "paused"].includes(topOf(s.value))
  return JSON.stringify({
    value: s.value,
    waiting: s.context.runAt !== null && resting,
    children: s.context.awaitingChildren && resting,
  })
}

interface Step {
  readonly event: JobLifecycleEvent
  readonly state: JobLifecycleSnapshot
}

/**
 * One path per transition of the machine: the shortest way to its source state, then the
 * transition. A simple path cannot revisit `queued`; these can (a retry loop, a requeue, a
 * retry of a failed job), so every transition, not only every state, is driven at least once.
 */
const transitionPaths = (): Array<{ readonly title: string; readonly steps: ReadonlyArray<Step> }> => {
  const adjacency = getAdjacencyMap(jobLifecycleMachine, {
    events,
    input: { jobId: "model" },
    serializeState: (s: unknown) => keyOf(s as JobLifecycleSnapshot),
    serializeEvent: (e: unknown) => JSON.stringify(e),
  } as never) as unknown as Record<
    string,
    {
      state: JobLifecycleSnapshot
      transitions: Record<string, { event: JobLifecycleEvent; state: JobLifecycleSnapshot }>
    }
  >
  const initial = Object.keys(adjacency)[0]!
  // Breadth first: the shortest path to every state.
  const shortest = new Map<string, Step[]>([[initial, []]])
  const frontier = [initial]
  while (frontier.length > 0) {
    const from = frontier.shift()!
    for (const t of Object.values(adjacency[from]!.transitions)) {
      const to = keyOf(t.state)
      if (shortest.has(to)) continue
      shortest.set(to, [...shortest.get(from)!, { event: t.event, state: t.state }])
      frontier.push(to)
    }
  }
  const paths: Array<{ title: string; steps: Step[] }> = []
  for (const [from, node] of Object.entries(adjacency)) {
    for (const t of Object.values(node.transitions)) {
      // An event the state takes without moving (none here but self-loops of actions) is no transition.
      if (keyOf(t.state) === from && t.state.context.failures === node.state.context.failures) continue
      const steps = [...shortest.get(from)!, { event: t.event, state: t.state }]
      paths.push({ title: steps.map((s) => label(s.event)).join(" → "), steps })
    }
  }
  return paths
}

const label = (e: JobLifecycleEvent) =>
  e.type === "WORKER.FAILED" ? (e.retryAt === undefined ? "WORKER.FAILED(final)" : "WORKER.FAILED(retry)") : e.type

const paths = transitionPaths()

const LEASE_MS = 1_000
const BACKOFF_MS = 400
const retry = { maxRetries: 1_000, retryOn: ["Retryable"], backoff: { type: "fixed" as const, delayMs: BACKOFF_MS } }

/**
 * Drives one job through the real manager on a real database, one machine event at a time.
 * One slot: whenever the job is not running, a gate job holds it; while the job runs, a gate
 * waits queued (at a higher priority) to take the slot the moment the job leaves it.
 */
class Driver {
  readonly dataDir = tempDir()
  manager!: JobManager
  id!: string
  /** Attempts the model does not know of: a restart while the job runs starts it again. */
  extraAttempts = 0
  /** When the job was told to fail retryably: its `run_at` is at least the backoff after it. */
  failedAt = 0
  private gate: string | undefined
  private pending: Promise<unknown>[] = []

  private connect() {
    return JobManager.open({
      ...storeFor(this.dataDir),
      jobs: [ModeledJob, ModeledChildJob, WaitJob],
      concurrency: 1,
      // Never forced within a test: a job told to pause or cancel stays pausing or cancelling
      // until the path tells it what to do, however slow the machine (see closeManager).
      interruptGraceMs: 600_000,
      leaseMs: LEASE_MS,
      pollIntervalMs: 50,
      onError: () => {},
    })
  }

  async open() {
    this.manager = await this.connect()
    await this.queueGate()
    await waitUntil(
      async () => (await this.manager.getJobInfo(this.gate!)).status === "running",
      20_000,
      "the gate to run",
    )
    this.id = (await this.manager.dispatch(ModeledJob, {}, { retry })).id
  }

  /** A gate in line, unless one is running or waiting already. */
  private async queueGate() {
    if (this.gate !== undefined) return
    this.gate = (await this.manager.dispatch(WaitJob, {}, { priority: JobPriority.CRITICAL })).id
  }

  private async status() {
    return (await this.manager.getJobInfo(this.id)).status
  }

  /** Until the job runs and this attempt's checkpoint is written. */
  private async untilRunning(attempts: number) {
    await waitUntil(
      async () => {
        const row = await readRow(this.dataDir, this.id)
        return row?.status === "running" && row.state_version === attempts
      },
      20_000,
      `the job to run attempt ${attempts}`,
    )
  }

  /** Stops as a killed process would, and opens a new manager once the dead one's lease has run out. */
  private async crashAndReopen() {
    for (const p of this.pending.splice(0)) p.catch(() => {})
    await this.manager.simulateCrash()
    await new Promise((r) => setTimeout(r, LEASE_MS + 200))
    this.manager = await this.connect()
  }

  private async withStateUnreadable(fail: () => Promise<void>) {
    const row = (await readRow(this.dataDir, this.id))!
    await rawSql(this.dataDir, "UPDATE jobs SET data = $1 WHERE id = $2", [Buffer.from([0xc1]), this.id])
    await fail()
    await waitUntil(async () => (await this.status()) === "failed", 20_000, "the job to fail")
    // Readable again, so that a retry after the failure can run it.
    await rawSql(this.dataDir, "UPDATE jobs SET data = $1 WHERE id = $2", [row.data, this.id])
  }

  private tell(command: ScriptCommand) {
    script.tell(this.id, command)
  }

  async apply(step: Step, from: JobLifecycleSnapshot) {
    const { event } = step
    const m = this.manager
    const fromRunning = topOf(from.value) === "running"
    // The job is about to leave its slot, or may: a gate waits to take it.
    if (fromRunning) await this.queueGate()
    switch (event.type) {
      case "START":
        await m.cancel(this.gate!)
        this.gate = undefined
        await this.untilRunning(step.state.context.attempt + this.extraAttempts)
        return
      case "PAUSE":
        if (fromRunning) this.pending.push(m.pause(this.id))
        else await m.pause(this.id)
        return
      case "CANCEL":
        if (fromRunning) this.pending.push(m.cancel(this.id))
        else await m.cancel(this.id)
        return
      case "RESUME":
        await m.resume(this.id)
        return
      case "RETRY":
        await m.retry(this.id)
        return
      case "REQUEUE":
        await this.crashAndReopen()
        await waitUntil(async () => (await this.status()) === "queued", 20_000, "the job to be requeued")
        return
      case "FAIL":
        if (fromRunning) return this.withStateUnreadable(() => this.crashAndReopen())
        // Queued: the claim finds its state unreadable and fails it.
        return this.withStateUnreadable(async () => {
          await m.cancel(this.gate!)
          this.gate = undefined
        }).then(async () => {
          await this.queueGate()
          await waitUntil(async () => (await m.getJobInfo(this.gate!)).status === "running", 20_000, "the gate to run")
        })
      case "WORKER.DONE":
        this.tell("done")
        break
      case "WORKER.FAILED":
        this.failedAt = Date.now()
        this.tell(event.retryAt === undefined ? "fatal" : "fail")
        break
      case "WORKER.PAUSED":
      case "WORKER.CANCELLED":
        this.tell("interrupt")
        break
      case "WORKER.AWAITING":
        // Its child cannot run before it: the gate takes the slot the job leaves.
        this.tell("await")
        break
    }
    await Promise.all(this.pending.splice(0))
    await waitUntil(async () => (await this.status()) !== "running", 20_000, "the job to leave running")
  }

  /** Closes the manager and opens a new one on the same database, as a process restart would. */
  async restart(state: JobLifecycleSnapshot) {
    const running = topOf(state.value) === "running"
    // A job that runs must get its slot back after the restart, not the gate waiting for it.
    if (running && this.gate !== undefined) {
      await this.manager.cancel(this.gate)
      this.gate = undefined
    }
    await this.closeManager()
    this.manager = await this.connect()
    if (running) {
      // close() paused it; the new manager resumes it: one more attempt, from its checkpoint.
      this.extraAttempts++
      await this.untilRunning(state.context.attempt + this.extraAttempts)
    }
  }

  async row() {
    return (await readRow(this.dataDir, this.id))!
  }

  async close() {
    await this.closeManager()
  }

  /**
   * close() asks a running job to pause at its next interrupt point; the modeled job reaches one
   * only when told, so it is told to, until the manager has closed (a telling before the pause
   * was asked just loops), and what it did not take is dropped.
   */
  private async closeManager() {
    let closed = false
    const closing = this.manager.close().finally(() => (closed = true))
    while (!closed) {
      this.tell("interrupt")
      await new Promise((r) => setTimeout(r, 10))
    }
    await closing
    script.clear(this.id)
  }
}

describe("the lifecycle machine, driven through the real manager", () => {
  it("has a path for every transition, retry loops, requeues and failures included", () => {
    const covered = new Set(
      paths.map(
        (p) =>
          `${keyOf(p.steps.at(-2)?.state ?? initialTransition(jobLifecycleMachine, { jobId: "model" })[0])} ${label(p.steps.at(-1)!.event)}`,
      ),
    )
    expect(paths.length).toBe(covered.size)
    for (const event of events) expect(paths.some((p) => label(p.steps.at(-1)!.event) === label(event))).toBe(true)
    // A retry loop: running → queued.waiting → running.
    expect(paths.some((p) => p.title.includes("WORKER.FAILED(retry) → START"))).toBe(true)
  })

  for (const path of paths) {
    for (const restarts of [false, true]) {
      it(`stores what the machine says after each step${restarts ? ", restarting at each state" : ""}: ${path.title}`, async () => {
        const driver = new Driver()
        await driver.open()
        try {
          const check = async (state: JobLifecycleSnapshot, after: string) => {
            const row = await driver.row()
            const { context } = state
            const status = statusOf(state.value)
            const attempts = context.attempt + driver.extraAttempts
            expect(row.status, after).toBe(status)
            expect(row.attempts, after).toBe(attempts)
            expect(row.failures, after).toBe(context.failures)
            expect(row.paused_by, after).toBe(status === "paused" ? "user" : null)
            // Passed over by the claim exactly while the machine says it waits for its children.
            expect(Boolean(row.awaiting_children), after).toBe(status === "queued" && context.awaitingChildren)
            // Waiting for its time exactly when the machine says so, no sooner than the backoff allows.
            if (status === "queued" && context.runAt !== null)
              expect(row.run_at, after).toBeGreaterThanOrEqual(driver.failedAt + BACKOFF_MS)
            else expect(row.run_at, after).toBeNull()
            expect(row.error === null ? null : JSON.parse(row.error)._tag, after).toBe(
              status === "failed" ? context.error?._tag : null,
            )
            expect(row.last_error === null ? null : JSON.parse(row.last_error)._tag, after).toBe(
              context.lastError?._tag ?? null,
            )
            // Each attempt checkpointed once, from the checkpoint before it: nothing started over.
            expect(row.state_version, after).toBe(attempts)
            expect(unpack(row.data), after).toEqual({ starts: attempts })
          }
          let from = initialTransition(jobLifecycleMachine, { jobId: "model" })[0]
          await check(from, "dispatch")
          if (restarts) await driver.restart(from)
          for (const step of path.steps) {
            await driver.apply(step, from)
            await check(step.state, `after ${label(step.event)}`)
            // Restart wherever the state is one a process can stop in (not mid pause or cancel).
            const settled = !["pausing", "cancelling"].includes(
              (step.state.value as { running?: string }).running ?? "",
            )
            if (restarts && settled) {
              await driver.restart(step.state)
              await check(step.state, `after a restart following ${label(step.event)}`)
            }
            from = step.state
          }
        } finally {
          await driver.close()
        }
      })
    }
  }
})
