import { createActor } from "xstate"
import { describe, expect, it } from "vitest"
import { ManagerClosed } from "../../src/index.js"
import { acceptsWork, managerMachine } from "../../src/machines/managerMachine.js"
import { NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"

describe("the manager's machine decides whether it takes work", () => {
  it("takes work only once recovered and until it is closed or crashed", () => {
    const states: Array<[string, boolean]> = []
    const actor = createActor(managerMachine).start()
    const note = () => states.push([String(actor.getSnapshot().value), acceptsWork(actor.getSnapshot())])
    note()
    actor.send({ type: "RECOVERED", resumed: 0, failed: 0 })
    note()
    actor.send({ type: "CLOSE" })
    note()
    actor.send({ type: "CLOSED" })
    note()
    expect(states).toEqual([
      ["recovering", false],
      ["ready", true],
      ["closing", false],
      ["closed", false],
    ])
    const crashed = createActor(managerMachine).start()
    crashed.send({ type: "RECOVERED", resumed: 0, failed: 0 })
    crashed.send({ type: "CRASHED" })
    expect([crashed.getSnapshot().value, acceptsWork(crashed.getSnapshot())]).toEqual(["closed", false])
  })

  it("refuses a dispatch with ManagerClosed from the moment close() is called, and after a simulated crash", async () => {
    const closing = await openManager()
    const closed = closing.close()
    await expect(closing.dispatch(NoopJob, {})).rejects.toBeInstanceOf(ManagerClosed)
    await closed
    await expect(closing.dispatch(NoopJob, {})).rejects.toBeInstanceOf(ManagerClosed)
    expect(closing.lifecycle).toBe("closed")

    const crashed = await openManager()
    await crashed.simulateCrash()
    await expect(crashed.dispatchByName("noop", {})).rejects.toBeInstanceOf(ManagerClosed)
    expect(crashed.lifecycle).toBe("closed")
  })
})
