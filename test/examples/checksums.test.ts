import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ChecksumJob } from "../../examples/checksums.js"
import { runJob } from "../../src/testing/index.js"
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
    const run = await runJob(ChecksumJob, { files })
    for (const f of files)
      expect(run.output.sums[f]).toBe(
        createHash("sha256")
          .update(`content of ${f.slice(-1)}`.repeat(1000))
          .digest("hex"),
      )
    expect(run.checkpoints.map((c) => Object.keys(c.sums))).toEqual([files.slice(0, 1), files.slice(0, 2), files])
    expect(run.progress.map((p) => p._tag === "Structured" && p.data.current)).toEqual(files)
    expect(run.logs.map((l) => l.message)).toEqual(["hashed 3 files"])
    const manager = await openManager({ jobs: [ChecksumJob], concurrency: 0 })
    expect(manager.getJobSchema("checksums").progress).toMatchObject({ type: "object" })
  })
})
