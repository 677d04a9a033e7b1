import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ChecksumJob } from "../../examples/checksums.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("the README's example job", () => {
  it("hashes every file, reports structured progress and logs", async () => {
    const dir = tempDir()
    const files = ["a", "b", "c"].map((name) => {
      const path = join(dir, name)
      writeFileSync(path, `content of ${name}`.repeat(1000))
      return path
    })
    const manager = await openManager({ jobs: [ChecksumJob] })
    const handle = await manager.dispatch(ChecksumJob, { files })
    const { sums } = await handle.result()
    for (const f of files) expect(sums[f]).toBe(createHash("sha256").update(`content of ${f.slice(-1)}`.repeat(1000)).digest("hex"))
    expect((await manager.getJobInfo(handle.id)).stateVersion).toBe(3)
    expect((await manager.getJobLogs(handle.id)).map((l) => l.message)).toEqual(["hashed 3 files"])
    expect(manager.getJobSchema("checksums").progress).toMatchObject({ type: "object" })
  })
})
