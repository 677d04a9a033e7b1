import { describe, expect, it } from "vitest"
import { createActor, fromCallback, initialTransition, transition } from "xstate"
import { jobLifecycleMachine, type WorkerCommand, type WorkerInput } from "../../src/machines/jobLifecycleMachine.js"

describe("the lifecycle machine", () => {
  it("starts queued and counts attempts on every start", () => {
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: "j" })
    expect(queued.value).toEqual({ queued: "ready" })
    const [running] = transition(jobLifecycleMachine, queued, { type: "START" })
    expect(running.value).toEqual({ running: "active" })
    expect(running.context.attempt).toBe(1)
  })

  it("accepts only RETRY once a job is at rest, and nothing once it completed", () => {
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: "j" })
    const [cancelled] = transition(jobLifecycleMachine, queued, { type: "CANCEL" })
    for (const type of ["START", "RESUME", "CANCEL", "REQUEUE"] as const) expect(cancelled.can({ type })).toBe(false)
    expect(cancelled.can({ type: "PAUSE", by: "user" })).toBe(false)
    expect(cancelled.can({ type: "RETRY" })).toBe(true)
    const [running] = transition(jobLifecycleMachine, queued, { type: "START" })
    const [completed] = transition(jobLifecycleMachine, running, { type: "WORKER.DONE" })
    expect(completed.status).toBe("done")
    expect(completed.can({ type: "RETRY" })).toBe(false)
  })

  it("waits in queued.waiting for a delayed dispatch and for a retry's backoff", () => {
    const [delayed] = initialTransition(jobLifecycleMachine, { jobId: "j", runAt: 1_000 })
    expect(delayed.value).toEqual({ queued: "waiting" })
    expect(delayed.context.runAt).toBe(1_000)
    const [running] = transition(jobLifecycleMachine, delayed, { type: "START" })
    expect(running.context.runAt).toBeNull()
    const error = { _tag: "Flaky", message: "try again" }
    const [retrying] = transition(jobLifecycleMachine, running, { type: "WORKER.FAILED", error, retryAt: 2_000 })
    expect(retrying.value).toEqual({ queued: "waiting" })
    expect(retrying.context).toMatchObject({ failures: 1, lastError: error, error: null, runAt: 2_000 })
    const [again] = transition(jobLifecycleMachine, retrying, { type: "START" })
    const [failed] = transition(jobLifecycleMachine, again, { type: "WORKER.FAILED", error })
    expect(failed.value).toBe("failed")
    expect(failed.context).toMatchObject({ attempt: 2, failures: 2, lastError: error, error, runAt: null })
    const [retried] = transition(jobLifecycleMachine, failed, { type: "RETRY" })
    expect(retried.value).toEqual({ queued: "ready" })
    expect(retried.context).toMatchObject({ attempt: 2, failures: 0, lastError: error, error: null })
  })

  it("asks the worker to stop, and forces it after the grace period", async () => {
    const commands: WorkerCommand["type"][] = []
    const machine = jobLifecycleMachine.provide({
      actors: {
        runJob: fromCallback<WorkerCommand, WorkerInput>(({ receive }) => receive((c) => commands.push(c.type))),
      },
      delays: { interruptGrace: 20 },
    })
    const actor = createActor(machine, { input: { jobId: "j" } }).start()
    actor.send({ type: "START" })
    actor.send({ type: "PAUSE", by: "shutdown" })
    expect(actor.getSnapshot().value).toEqual({ running: "pausing" })
    expect(actor.getSnapshot().context.pausedBy).toBe("shutdown")
    await new Promise((r) => setTimeout(r, 60))
    expect(commands).toEqual(["INTERRUPT", "FORCE_INTERRUPT"])
    actor.send({ type: "WORKER.PAUSED" })
    expect(actor.getSnapshot().value).toBe("paused")
    actor.stop()
  })

  it("lets a cancel override a pending pause, never the other way", () => {
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: "j" })
    const [running] = transition(jobLifecycleMachine, queued, { type: "START" })
    const [pausing] = transition(jobLifecycleMachine, running, { type: "PAUSE", by: "user" })
    const [cancelling] = transition(jobLifecycleMachine, pausing, { type: "CANCEL" })
    expect(cancelling.value).toEqual({ running: "cancelling" })
    expect(cancelling.can({ type: "PAUSE", by: "user" })).toBe(false)
    expect(cancelling.can({ type: "WORKER.PAUSED" })).toBe(false)
  })
})
