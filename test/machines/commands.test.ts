import { describe, expect, it } from "vitest"
import {
  accepts,
  commandEvents,
  commandsAccepted,
  jobCommands,
  jobLifecycleMachine,
} from "../../src/machines/jobLifecycleMachine.js"
import { jobStatuses } from "../../src/jobs/JobStatus.js"
import { initialTransition, transition } from "xstate"

describe("the commands each status takes", () => {
  it("are the machine's: a job driven to each status accepts exactly the commands the table gives it", () => {
    // Drive a real actor-free machine to each status by events, and ask it, not the table.
    const start = initialTransition(jobLifecycleMachine, { jobId: "j" })[0]
    const step = (s: typeof start, ...events: Array<Parameters<typeof transition>[2]>) =>
      events.reduce((x, e) => transition(jobLifecycleMachine, x, e as never)[0], s)
    const reached = {
      queued: start,
      running: step(start, { type: "START" }),
      paused: step(start, { type: "PAUSE", by: "user" }),
      completed: step(start, { type: "START" }, { type: "WORKER.DONE" }),
      failed: step(start, { type: "FAIL", error: { _tag: "Boom", message: "x" } }),
      cancelled: step(start, { type: "CANCEL" }),
    }
    for (const status of jobStatuses) {
      const snapshot = reached[status]
      const value = snapshot.value as string | Record<string, unknown>
      expect(typeof value === "string" ? value : Object.keys(value)[0]).toBe(status)
      const taken = jobCommands.filter((c) => snapshot.can(commandEvents[c]))
      expect([status, commandsAccepted[status]]).toEqual([status, taken])
      for (const c of jobCommands) expect(accepts(status, c)).toBe(taken.includes(c))
    }
    expect(commandsAccepted).toEqual({
      queued: ["pause", "cancel"],
      running: ["pause", "cancel"],
      paused: ["resume", "cancel"],
      completed: [],
      failed: ["retry"],
      cancelled: ["retry"],
    })
  })
})
