import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { InspectionEvent } from "xstate"
import { JobManagerLayer, JobManagerService } from "../../src/index.js"
import { allTestJobs, NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("the Effect service and the inspector", () => {
  it("provides the manager as a scoped service and closes it with the scope", async () => {
    const dataDir = tempDir()
    const program = Effect.gen(function* () {
      const manager = yield* JobManagerService
      const handle = yield* manager.effect.dispatch(NoopJob, { tag: "layer" })
      const output = yield* manager.effect.result<{ tag: string }>(handle.id)
      const types = yield* manager.effect.listJobTypes()
      return { output, types, manager }
    })
    const { output, types, manager } = await Effect.runPromise(
      Effect.scoped(program.pipe(Effect.provide(JobManagerLayer({ dataDir, jobs: allTestJobs })))),
    )
    expect(output).toEqual({ tag: "layer" })
    expect(types).toContain("noop")
    expect(manager.lifecycle).toBe("closed")
  })

  it("types listJobs' refusal of a bad filter as InvalidOptions, a failure the caller can catch by its tag", async () => {
    const program = Effect.gen(function* () {
      const manager = yield* JobManagerService
      // catchTag compiles only for a tag in the error type: the test fails to type-check without it.
      return yield* manager.effect
        .listJobs({ status: "bogus" as never })
        .pipe(Effect.catchTag("InvalidOptions", (e) => Effect.succeed(`refused: ${e.option}`)))
    })
    const refused = await Effect.runPromise(
      Effect.scoped(program.pipe(Effect.provide(JobManagerLayer({ dataDir: tempDir(), jobs: allTestJobs })))),
    )
    expect(refused).toBe("refused: listJobs.status")
  })

  it("shows the manager and every job actor to an inspection observer", async () => {
    const events: InspectionEvent[] = []
    const manager = await openManager({ inspect: (e) => events.push(e) })
    const handle = await manager.dispatch(NoopJob, {})
    await handle.result()
    const machines = new Set(
      events.flatMap((e) => {
        const logic = (e.actorRef as { logic?: { id?: string } }).logic
        return logic?.id === undefined ? [] : [logic.id]
      }),
    )
    expect([...machines].sort()).toEqual(expect.arrayContaining(["job", "jobManager"]))
    const jobSnapshots = events.filter(
      (e) => e.type === "@xstate.snapshot" && (e.actorRef as { logic?: { id?: string } }).logic?.id === "job",
    )
    const values = jobSnapshots.map((e) =>
      JSON.stringify((e as unknown as { snapshot: { value: unknown } }).snapshot.value),
    )
    expect(values).toContain('{"running":"active"}')
    expect(values).toContain('"completed"')
  })
})
