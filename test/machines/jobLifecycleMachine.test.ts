import { describe, expect, it } from "vitest"
import { createActor, fromCallback, initialTransition, transition } from "xstate"
import { jobLifecycleMachine, type WorkerCommand, type WorkerInput } from "../../src/machines/jobLifecycleMachine.js"

describe("the lifecycle machine", () => {
  it("starts queued and counts attempts on every start", () => {
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: "j" })
    expect(queued.value).toBe("queued")
    const [running] = transition(jobLifecycleMachine, queued, { type: "START" })
    expect(running.value).toEqual({ running: "active" })
    expect(running.context.attempt).toBe(1)
  })

  it("accepts no event in a final state", () => {
    const [queued] = initialTransition(jobLifecycleMachine, { jobId: "j" })
    const [cancelled] = transition(jobLifecycleMachine, queued, { type: "CANCEL" })
    for (const type of ["START", "RESUME", "CANCEL", "REQUEUE"] as const) expect(cancelled.can({ type })).toBe(false)
    expect(cancelled.can({ type: "PAUSE", by: "user" })).toBe(false)
  })

  it("asks the worker to stop, and forces it after the grace period", async () => {
    const commands: WorkerCommand["type"][] = []
    const machine = jobLifecycleMachine.provide({
      actors: { runJob: fromCallback<WorkerCommand, WorkerInput>(({ receive }) => receive((c) => commands.push(c.type))) },
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
