import { createInspector } from "@statelyai/inspect"
import type { JobManager } from "../../src/index.js"
import { NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/**
 * Whether a recording (the inspector's events as JSON lines, as `jobstate inspect --out` writes
 * them) holds an event of this type sent to an actor. Not a search of the text: every line that
 * registers a job's actor carries its machine's definition, which names every event it takes.
 */
export const recordsEvent = (lines: ReadonlyArray<string>, type: string): boolean =>
  lines.some((line) => {
    const event = JSON.parse(line) as { type?: string; event?: { type?: string } }
    return event.type === "@xstate.event" && event.event?.type === type
  })

/**
 * A recording as `jobstate inspect --out` makes one (the inspector library's own serialisation)
 * of a manager that runs one noop job to its end. `lines` grows as the manager records on.
 */
export const recordNoopRun = async (): Promise<{
  readonly lines: string[]
  readonly manager: JobManager
  readonly id: string
}> => {
  const lines: string[] = []
  const recorder = createInspector({ send: (event) => void lines.push(JSON.stringify(event)) })
  const manager = await openManager({
    dataDir: tempDir(),
    concurrency: 1,
    inspect: (event) => recorder.inspect.next?.(event),
  })
  const job = await manager.dispatch(NoopJob, { tag: "recorded" })
  await job.result()
  // The inspector hands its events on asynchronously (after the job's end is committed): the
  // worker's word is in once the event itself is recorded.
  await waitUntil(() => recordsEvent(lines, "WORKER.DONE"), 20_000, "the recording of the job's end")
  return { lines, manager, id: job.id }
}
