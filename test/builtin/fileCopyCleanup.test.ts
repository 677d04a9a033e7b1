import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { beforeEach, describe, expect, it } from "vitest"
import { FileCopyJob, type FileCopyState } from "../../src/builtin/fileCopy.js"
import { JobManager } from "../../src/index.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { outputOf, runDirect } from "./runDirect.js"

const MiB = 1024 * 1024
const sha256 = (path: string) => createHash("sha256").update(fs.readFileSync(path)).digest("hex")

/** Every `.jobstate-partial` file below `root`. */
const partials = (root: string): string[] =>
  fs.existsSync(root)
    ? (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => p.endsWith(".jobstate-partial"))
    : []

const cleanUp = (
  params: { sources: string[]; destination: string; options?: { conflict?: "skip" | "overwrite" | "rename" } },
  state: FileCopyState,
) =>
  Effect.runPromise(
    FileCopyJob.cleanup!({
      id: "direct-1",
      params,
      state,
      dataDir: "/nonexistent",
      status: "cancelled",
    }) as Effect.Effect<void>,
  )

let src: string
let dst: string
beforeEach(() => {
  const tmp = tempDir("jobstate-copy-cleanup-")
  src = join(tmp, "src")
  dst = join(tmp, "dst")
  fs.mkdirSync(join(src, "sub"), { recursive: true })
  fs.writeFileSync(join(src, "a-small.txt"), "finished before the cancel")
  fs.writeFileSync(join(src, "sub", "m-big.bin"), randomBytes(20 * MiB + 123))
  fs.writeFileSync(join(src, "z-after.txt"), "copied after a retry")
})

const expectCopied = () => {
  expect(sha256(join(dst, "src/sub/m-big.bin"))).toBe(sha256(join(src, "sub/m-big.bin")))
  expect(fs.readFileSync(join(dst, "src/a-small.txt"), "utf8")).toBe("finished before the cancel")
  expect(fs.readFileSync(join(dst, "src/z-after.txt"), "utf8")).toBe("copied after a retry")
  expect(partials(dst)).toEqual([])
}

describe("file_copy cleanup", () => {
  it("removes a partial target the last checkpoint does not name (stopped between checkpoints), and a retry copies that file again", async () => {
    const params = { sources: [src], destination: dst }
    // Stopped a few chunks into the big file, before its first in-file checkpoint.
    const first = await runDirect(FileCopyJob, { params, interruptAtCheck: 4 })
    expect(first.interrupted).toBe(true)
    expect(first.lastState.inFlight).toBeNull()
    expect(partials(dst)).toEqual(["src/sub/.m-big.bin.jobstate-partial"])

    await cleanUp(params, first.lastState)
    expect(partials(dst)).toEqual([])

    const retried = await runDirect(FileCopyJob, { params, state: first.lastState })
    expect(outputOf(retried)).toMatchObject({ copiedCount: 3, failedCount: 0 })
    expectCopied()
  })

  it("removes the partial target the last checkpoint names; a retry from that checkpoint redoes the file instead of trusting its offset", async () => {
    const params = { sources: [src], destination: dst }
    const first = await runDirect(FileCopyJob, { params, interruptWhen: (s) => (s.inFlight?.offset ?? 0) > 0 })
    expect(first.lastState.inFlight?.offset).toBe(8 * MiB)
    expect(partials(dst)).toHaveLength(1)

    await cleanUp(params, first.lastState)
    expect(partials(dst)).toEqual([])

    const retried = await runDirect(FileCopyJob, { params, state: first.lastState })
    expect(outputOf(retried)).toMatchObject({ copiedCount: 3, failedCount: 0 })
    expectCopied()
  })

  it("under conflict rename, removes the partial of the renamed target and leaves the existing file", async () => {
    fs.mkdirSync(dst, { recursive: true })
    fs.writeFileSync(join(dst, "m-big.bin"), "already there")
    const params = {
      sources: [join(src, "sub", "m-big.bin")],
      destination: `${dst}/`,
      options: { conflict: "rename" as const },
    }
    const first = await runDirect(FileCopyJob, { params, interruptAtCheck: 4 })
    expect(first.lastState.inFlight).toBeNull()
    expect(partials(dst)).toEqual([".m-big (1).bin.jobstate-partial"])
    await cleanUp(params, first.lastState)
    expect(partials(dst)).toEqual([])
    expect(fs.readFileSync(join(dst, "m-big.bin"), "utf8")).toBe("already there")
  })

  it("a file_copy cancelled mid-copy by the manager leaves no partial file in the destination", async () => {
    const dataDir = tempDir()
    // Big enough that the cancel lands while the file is written.
    fs.writeFileSync(join(src, "sub", "m-big.bin"), randomBytes(200 * MiB))
    const manager = await JobManager.open({ dataDir, jobs: [FileCopyJob] })
    try {
      const handle = await manager.dispatch(FileCopyJob, { sources: [src], destination: dst })
      await waitUntil(() => partials(dst).length > 0, 30_000, "a partial target")
      expect(await manager.cancel(handle.id)).toBe("cancelled")
      expect(fs.existsSync(join(dst, "src/sub/m-big.bin"))).toBe(false)
      await waitUntil(() => partials(dst).length === 0, 20_000, "no partial target left")
    } finally {
      await manager.close()
    }
  })

  it("a cancelled file_copy, cleaned up, then retried, completes with the right bytes", async () => {
    const dataDir = tempDir()
    fs.writeFileSync(join(src, "sub", "m-big.bin"), randomBytes(200 * MiB))
    const manager = await JobManager.open({ dataDir, jobs: [FileCopyJob] })
    try {
      const handle = await manager.dispatch(FileCopyJob, { sources: [src], destination: dst })
      await waitUntil(() => partials(dst).length > 0, 30_000, "a partial target")
      expect(await manager.cancel(handle.id)).toBe("cancelled")
      await waitUntil(() => partials(dst).length === 0, 20_000, "no partial target left")
      expect(await manager.retry(handle.id)).toBe("queued")
      const retried = await manager.handle(handle.id)
      expect(await retried.result()).toMatchObject({ copiedCount: 3, failedCount: 0 })
      expectCopied()
    } finally {
      await manager.close()
    }
  })
})
