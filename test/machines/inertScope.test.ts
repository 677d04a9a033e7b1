import { assign, fromCallback, setup, transition } from "xstate"
import { describe, expect, it } from "vitest"
import { inertScopeOf } from "../../src/machines/inertScope.js"
import { jobLifecycleMachine, type JobLifecycleEvent } from "../../src/machines/jobLifecycleMachine.js"
import { initialLifecycle, restoreQuiet } from "../../src/actors/snapshots.js"

/** Pins what src/machines/inertScope.ts takes from XState's private API. */
describe("the inert actor scope (XState's _actorScope, in one adapter)", () => {
  it("transitions as XState's public transition() does, and runs no action and starts no actor", () => {
    const ran: string[] = []
    const machine = setup({
      types: { context: {} as { n: number }, events: {} as { type: "GO" } | { type: "BACK" } },
      actors: { worker: fromCallback(() => void ran.push("worker started")) },
      actions: { shout: () => void ran.push("action ran") },
    }).createMachine({
      context: { n: 0 },
      initial: "idle",
      states: {
        idle: { on: { GO: { target: "busy", actions: [assign({ n: ({ context }) => context.n + 1 }), "shout"] } } },
        busy: { entry: "shout", invoke: { src: "worker" }, on: { BACK: "idle" } },
      },
    })
    const scope = inertScopeOf(machine)
    const start = machine.resolveState({ value: "idle", context: { n: 0 } })
    const inert = machine.transition(start, { type: "GO" }, scope)
    const [publicNext] = transition(machine, start, { type: "GO" })
    expect([inert.value, inert.context]).toEqual([publicNext.value, publicNext.context])
    expect(inert.value).toBe("busy")
    expect(inert.context).toEqual({ n: 1 })
    expect(ran).toEqual([])
    // What the adapter relies on: a transition hands its actions to the scope's actionExecutor
    // (an unstarted actor's own executor would keep them, deferred, for as long as it lives).
    const handed: unknown[] = []
    ;(scope as unknown as { actionExecutor: (action: unknown) => void }).actionExecutor = (action) =>
      void handed.push(action)
    machine.transition(start, { type: "GO" }, scope)
    expect(handed.length).toBeGreaterThan(0)
  })

  it("gives the job lifecycle the same next states as the public API, event by event", () => {
    const scope = inertScopeOf(jobLifecycleMachine)
    const steps: JobLifecycleEvent[] = [{ type: "START" }, { type: "PAUSE", by: "user" }] as JobLifecycleEvent[]
    let snapshot = restoreQuiet(initialLifecycle("job-1"), "job-1")
    for (const event of steps) {
      if (!snapshot.can(event)) break
      const inert = jobLifecycleMachine.transition(snapshot, event, scope)
      const [publicNext] = transition(jobLifecycleMachine, snapshot, event)
      expect([inert.value, inert.context]).toEqual([publicNext.value, publicNext.context])
      snapshot = inert
    }
    expect(snapshot.value).not.toEqual(restoreQuiet(initialLifecycle("job-1"), "job-1").value)
  })
})
