import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { allTestJobs, CountJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { readRow, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"

const items = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => Number(l.split(" ")[1]))

describe("a simulated crash (for jobstate/testing)", () => {
  it("stops right after a committed checkpoint, writing nothing more, and the next manager resumes from it", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const first = await JobManager.open({ ...storeFor(dataDir), jobs: allTestJobs, leaseMs: 200 })
    const handle = await first.dispatch(CountJob, { n: 12, effectsFile: file, delayMs: 5 })
    await new Promise<void>((resolve) =>
      first.subscribeJob(handle.id, (event) => {
        if (event.type === "checkpoint" && event.checkpoint === 4) void first.simulateCrash().then(resolve)
      }),
    )
    // Nothing after the fourth checkpoint reached the store, and the job did not go on.
    const row = (await readRow(dataDir, handle.id))!
    expect(row).toMatchObject({ status: "running", state_version: 4, owner: first.id })
    await new Promise((r) => setTimeout(r, 100))
    expect(items(file)).toEqual([0, 1, 2, 3])

    const second = await openManager({ dataDir })
    expect(await (await second.handle(handle.id)).result()).toEqual({ counted: 12, attempt: 2 })
    expect(items(file)).toEqual(Array.from({ length: 12 }, (_, i) => i))
  })
})
