import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { execFileSync } from "node:child_process"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FileCopyJob, type FileCopyProgress, type FileCopyState } from "../../src/builtin/fileCopy.js"
import type { FileCopyOutput } from "../../src/builtin/fileCopySchemas.js"
import type { Progress } from "../../src/jobs/Progress.js"
import { runJobUnprivileged } from "../fixtures/unprivileged.js"
import { failureOf, outputOf, runDirect } from "./runDirect.js"

const MiB = 1024 * 1024

let tmp: string
let src: string
let dst: string
beforeEach(() => {
  tmp = fs.mkdtempSync(join(os.tmpdir(), "jobstate-copy-"))
  src = join(tmp, "src")
  dst = join(tmp, "dst")
  fs.mkdirSync(src)
})
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

const sha256 = (path: string) => createHash("sha256").update(fs.readFileSync(path)).digest("hex")
const write = (path: string, data: string | Buffer) => {
  fs.mkdirSync(join(path, ".."), { recursive: true })
  fs.writeFileSync(path, data)
}
/** Every path below `root` with a digest of each file and the text of each link. */
const snapshot = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = join(dir, name)
      const r = rel ? `${rel}/${name}` : name
      const st = fs.lstatSync(p)
      if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(p)}`
      else if (st.isDirectory()) {
        out[r] = "dir"
        walk(p, r)
      } else out[r] = sha256(p)
    }
  }
  walk(root, "")
  return out
}
const structured = (p: Progress<FileCopyProgress>): FileCopyProgress => {
  if (p._tag !== "Structured") throw new Error(`expected structured progress, got ${p._tag}`)
  return p.data
}

/** A tree with nesting, empty files, a file bigger than the 1 MiB chunk and a relative symlink. */
const makeTree = (root: string) => {
  write(join(root, "a.txt"), "alpha")
  write(join(root, "empty"), "")
  write(join(root, "nested/deeper/b.bin"), randomBytes(3 * MiB + 17))
  write(join(root, "nested/deeper/empty-too"), "")
  fs.mkdirSync(join(root, "nested/empty-dir"))
  fs.symlinkSync("deeper/b.bin", join(root, "nested/link-to-b"))
}

describe("FileCopyJob", () => {
  it("copies nested trees, empty files and multi-chunk files byte for byte", async () => {
    makeTree(join(src, "tree"))
    write(join(src, "single.txt"), "one file")
    const run = await runDirect(FileCopyJob, {
      params: { sources: [join(src, "tree"), join(src, "single.txt")], destination: dst },
    })
    const out = outputOf(run)
    expect(snapshot(join(dst, "tree"))).toEqual(snapshot(join(src, "tree")))
    expect(sha256(join(dst, "single.txt"))).toBe(sha256(join(src, "single.txt")))
    expect(out).toMatchObject({ copiedCount: 6, failedCount: 0, skippedCount: 0, failedCopies: [] })
    expect(out.totalBytes).toBe(5 + 3 * MiB + 17 + 8)
    const last = structured(run.progress.at(-1)!)
    expect(last).toMatchObject({
      filesDone: 6,
      filesTotal: 6,
      bytesDone: out.totalBytes,
      bytesTotal: out.totalBytes,
      fraction: 1,
    })
    // Nothing of the partial-file machinery is left behind.
    expect(Object.keys(snapshot(dst)).filter((p) => p.includes("jobstate"))).toEqual([])
  })

  it("recreates symlinks with their link text instead of following them", async () => {
    const outside = join(tmp, "outside")
    write(join(outside, "big-secret"), "not to be copied")
    fs.symlinkSync(outside, join(src, "to-outside"))
    fs.symlinkSync("nowhere", join(src, "dangling"))
    const run = await runDirect(FileCopyJob, { params: { sources: [src], destination: dst } })
    expect(outputOf(run).failedCount).toBe(0)
    expect(fs.readlinkSync(join(dst, "src/to-outside"))).toBe(outside)
    expect(fs.lstatSync(join(dst, "src/to-outside")).isSymbolicLink()).toBe(true)
    expect(fs.readlinkSync(join(dst, "src/dangling"))).toBe("nowhere")
  })

  it("fails clearly when no source exists", async () => {
    const run = await runDirect(FileCopyJob, {
      params: { sources: [join(tmp, "nope"), join(tmp, "nada")], destination: dst },
    })
    const error = failureOf(run) as { _tag: string; reason: string; message: string }
    expect(error._tag).toBe("FileCopyError")
    expect(error.reason).toBe("SourcesMissing")
    expect(error.message).toContain("nope")
  })

  it("fails clearly when the destination cannot be written", async () => {
    write(join(src, "a"), "a")
    write(join(src, "b"), "b")
    write(join(tmp, "a-file"), "in the way")
    // Two sources need a directory to go into, and a file is in the way.
    const run = await runDirect(FileCopyJob, {
      params: { sources: [join(src, "a"), join(src, "b")], destination: join(tmp, "a-file") },
    })
    const error = failureOf(run) as { _tag: string; reason: string; message: string }
    expect(error).toMatchObject({ _tag: "FileCopyError", reason: "DestinationUnwritable" })
    expect(error.message).toMatch(/Cannot write to the destination: .*a-file/)
  })

  it("records a missing source and copies the others", async () => {
    write(join(src, "here"), "here")
    const run = await runDirect(FileCopyJob, {
      params: { sources: [join(src, "gone"), join(src, "here")], destination: dst },
    })
    const out = outputOf(run)
    expect(out.copiedCount).toBe(1)
    expect(out.failedCopies).toEqual([{ source: join(src, "gone"), reason: expect.stringContaining("ENOENT") }])
  })

  it("records files it cannot copy and goes on with the rest", async () => {
    write(join(src, "ok-1"), "1")
    execFileSync("mkfifo", [join(src, "a-fifo")])
    write(join(src, "blocked"), "a directory waits at this name in the destination")
    write(join(src, "ok-2"), "2")
    fs.mkdirSync(join(dst, "src/blocked"), { recursive: true })
    const run = await runDirect(FileCopyJob, {
      params: { sources: [src], destination: dst, options: { conflict: "overwrite" } },
    })
    const out = outputOf(run)
    expect(out.copiedCount).toBe(2)
    expect(out.failedCopies.map((f) => f.source).sort()).toEqual([join(src, "a-fifo"), join(src, "blocked")])
    expect(out.failedCopies.find((f) => f.source.endsWith("a-fifo"))!.reason).toMatch(/not a regular file/)
    expect(fs.readdirSync(join(dst, "src/blocked"))).toEqual([])
    expect(fs.readFileSync(join(dst, "src/ok-2"), "utf8")).toBe("2")
  })

  // Root reads through mode 000, so this only means something for other users; the FIFO and
  // directory-in-the-way cases above cover unreadable entries when the tests run as root.
  it("records a file without read permission as a failed copy", async () => {
    write(join(src, "secret"), "x")
    write(join(src, "fine"), "y")
    fs.chmodSync(join(src, "secret"), 0o000)
    const out = runJobUnprivileged("file_copy", { sources: [src], destination: dst }, join(tmp, "data"), [
      tmp,
      src,
    ]) as FileCopyOutput
    expect(out.failedCopies).toEqual([{ source: join(src, "secret"), reason: expect.stringContaining("EACCES") }])
    expect(out.copiedCount).toBe(1)
  })

  describe("the destination, as cp reads it", () => {
    beforeEach(() => write(join(src, "a.txt"), "alpha"))
    const copyA = (destination: string, options?: { conflict: "overwrite" | "skip" | "rename" }) =>
      runDirect(FileCopyJob, {
        params: { sources: [join(src, "a.txt")], destination, ...(options ? { options } : {}) },
      })

    it("is the target file for one file and a path that does not exist", async () => {
      expect(outputOf(await copyA(join(tmp, "newname.txt")))).toMatchObject({ copiedCount: 1, failedCount: 0 })
      expect(fs.lstatSync(join(tmp, "newname.txt")).isFile()).toBe(true)
      expect(fs.readFileSync(join(tmp, "newname.txt"), "utf8")).toBe("alpha")
    })

    it("is a directory the file goes into when it exists as one, or ends in a slash", async () => {
      fs.mkdirSync(dst)
      expect(outputOf(await copyA(dst)).copiedCount).toBe(1)
      expect(fs.readFileSync(join(dst, "a.txt"), "utf8")).toBe("alpha")
      expect(outputOf(await copyA(`${join(tmp, "made")}/`)).copiedCount).toBe(1)
      expect(fs.readFileSync(join(tmp, "made", "a.txt"), "utf8")).toBe("alpha")
    })

    it("is the target when it is an existing file, under the conflict rules", async () => {
      write(join(tmp, "existing.txt"), "old")
      expect(outputOf(await copyA(join(tmp, "existing.txt")))).toMatchObject({ copiedCount: 0, skippedCount: 1 })
      expect(fs.readFileSync(join(tmp, "existing.txt"), "utf8")).toBe("old")
      expect(outputOf(await copyA(join(tmp, "existing.txt"), { conflict: "overwrite" })).copiedCount).toBe(1)
      expect(fs.readFileSync(join(tmp, "existing.txt"), "utf8")).toBe("alpha")
    })

    it("stays the target file when a copy to it is paused and resumed", async () => {
      write(join(src, "big.bin"), randomBytes(20 * MiB + 5))
      const params = { sources: [join(src, "big.bin")], destination: join(tmp, "renamed.bin") }
      const first = await runDirect(FileCopyJob, { params, interruptWhen: (s) => (s.inFlight?.offset ?? 0) > 0 })
      expect(first.interrupted).toBe(true)
      expect(outputOf(await runDirect(FileCopyJob, { params, state: first.lastState })).copiedCount).toBe(1)
      expect(sha256(join(tmp, "renamed.bin"))).toBe(sha256(join(src, "big.bin")))
    })
  })

  describe("a destination inside a source", () => {
    const refused = async (sources: string[], destination: string) => {
      const run = await runDirect(FileCopyJob, { params: { sources, destination } })
      const error = failureOf(run) as { _tag: string; reason: string; message: string }
      expect(error).toMatchObject({ _tag: "FileCopyError", reason: "DestinationInsideSource" })
      expect(run.checkpoints).toEqual([])
      return error
    }

    it("is refused before anything is written", async () => {
      write(join(src, "f.txt"), "f")
      const error = await refused([src], join(src, "backup"))
      expect(error.message).toContain(`the destination ${join(src, "backup")} is inside the source ${src}`)
      expect(fs.existsSync(join(src, "backup"))).toBe(false)
      await refused([src], src)
    })

    it("is refused when it is reached through a symlink, and when a target would be its own source", async () => {
      write(join(src, "f.txt"), "f")
      fs.symlinkSync(src, join(tmp, "alias"))
      await refused([src], join(tmp, "alias", "backup"))
      expect(fs.existsSync(join(src, "backup"))).toBe(false)
      const same = await refused([join(src, "f.txt")], src)
      expect(same.message).toContain("is the source itself")
    })
  })

  it("fails, listing every file, when no file could be copied", async () => {
    execFileSync("mkfifo", [join(src, "a-fifo")])
    write(join(src, "blocked"), "a directory waits at this name")
    fs.mkdirSync(join(dst, "src/blocked"), { recursive: true })
    const run = await runDirect(FileCopyJob, {
      params: { sources: [src], destination: dst, options: { conflict: "overwrite" } },
    })
    const error = failureOf(run) as {
      _tag: string
      reason: string
      message: string
      failedCopies: Array<{ source: string }>
    }
    expect(error).toMatchObject({ _tag: "FileCopyError", reason: "AllFailed" })
    expect(error.message).toMatch(/^No file could be copied: 2 failed, the first /)
    expect(error.failedCopies.map((f) => f.source).sort()).toEqual([join(src, "a-fifo"), join(src, "blocked")])
  })

  describe("conflicts", () => {
    beforeEach(() => {
      write(join(src, "f.txt"), "new")
      write(join(src, "dir/inner.txt"), "new inner")
      write(join(dst, "f.txt"), "old")
      write(join(dst, "dir/inner.txt"), "old inner")
      write(join(dst, "dir/keep.txt"), "kept")
    })
    const copy = (conflict: "overwrite" | "skip" | "rename") =>
      runDirect(FileCopyJob, {
        params: { sources: [join(src, "f.txt"), join(src, "dir")], destination: dst, options: { conflict } },
      }).then(outputOf)

    it("overwrite replaces existing files and merges directories", async () => {
      expect(await copy("overwrite")).toMatchObject({ copiedCount: 2, skippedCount: 0 })
      expect(fs.readFileSync(join(dst, "f.txt"), "utf8")).toBe("new")
      expect(fs.readFileSync(join(dst, "dir/inner.txt"), "utf8")).toBe("new inner")
      expect(fs.readFileSync(join(dst, "dir/keep.txt"), "utf8")).toBe("kept")
    })

    it("skip leaves existing files alone", async () => {
      expect(await copy("skip")).toMatchObject({ copiedCount: 0, skippedCount: 2 })
      expect(fs.readFileSync(join(dst, "f.txt"), "utf8")).toBe("old")
      expect(fs.readFileSync(join(dst, "dir/inner.txt"), "utf8")).toBe("old inner")
    })

    it("skip is the default: nothing is overwritten unless asked", async () => {
      const run = await runDirect(FileCopyJob, {
        params: { sources: [join(src, "f.txt"), join(src, "dir")], destination: dst },
      })
      expect(outputOf(run)).toMatchObject({ copiedCount: 0, skippedCount: 2 })
      expect(fs.readFileSync(join(dst, "f.txt"), "utf8")).toBe("old")
      expect(fs.readFileSync(join(dst, "dir/inner.txt"), "utf8")).toBe("old inner")
    })

    it("rename copies under a fresh name and keeps it across a resume", async () => {
      write(join(dst, "f (1).txt"), "taken too")
      const first = await runDirect(FileCopyJob, {
        params: { sources: [join(src, "f.txt"), join(src, "dir")], destination: dst, options: { conflict: "rename" } },
        interruptAfterCheckpoints: 2,
      })
      expect(first.interrupted).toBe(true)
      const second = await runDirect(FileCopyJob, {
        params: { sources: [join(src, "f.txt"), join(src, "dir")], destination: dst, options: { conflict: "rename" } },
        state: first.lastState,
      })
      expect(outputOf(second)).toMatchObject({ copiedCount: 2, skippedCount: 0 })
      expect(fs.readFileSync(join(dst, "f.txt"), "utf8")).toBe("old")
      expect(fs.readFileSync(join(dst, "f (2).txt"), "utf8")).toBe("new")
      expect(fs.readFileSync(join(dst, "dir (1)/inner.txt"), "utf8")).toBe("new inner")
      expect(fs.existsSync(join(dst, "dir (2)"))).toBe(false)
    })
  })

  it("verifies copies and preserves timestamps and modes when asked", async () => {
    write(join(src, "t/old.bin"), randomBytes(2 * MiB))
    fs.chmodSync(join(src, "t/old.bin"), 0o640)
    const when = new Date("2001-02-03T04:05:06Z")
    fs.utimesSync(join(src, "t/old.bin"), when, when)
    fs.utimesSync(join(src, "t"), when, when)
    const run = await runDirect(FileCopyJob, {
      params: { sources: [join(src, "t")], destination: dst, options: { verify: true, preserveTimestamps: true } },
    })
    expect(outputOf(run).copiedCount).toBe(1)
    expect(sha256(join(dst, "t/old.bin"))).toBe(sha256(join(src, "t/old.bin")))
    expect(fs.statSync(join(dst, "t/old.bin")).mtime.getTime()).toBe(when.getTime())
    expect(fs.statSync(join(dst, "t")).mtime.getTime()).toBe(when.getTime())
    expect(fs.statSync(join(dst, "t/old.bin")).mode & 0o777).toBe(0o640)
  })

  it("moves within one filesystem by renaming", async () => {
    makeTree(join(src, "tree"))
    const before = snapshot(join(src, "tree"))
    const inode = fs.statSync(join(src, "tree/nested/deeper/b.bin")).ino
    const out = outputOf(
      await runDirect(FileCopyJob, {
        params: { sources: [join(src, "tree")], destination: dst, options: { move: true } },
      }),
    )
    expect(out.copiedCount).toBe(5)
    expect(fs.existsSync(join(src, "tree"))).toBe(false)
    expect(snapshot(join(dst, "tree"))).toEqual(before)
    expect(fs.statSync(join(dst, "tree/nested/deeper/b.bin")).ino).toBe(inode)
  })

  const otherFs = "/dev/shm"
  const canCrossDevices = (() => {
    try {
      return (
        fs.statSync(otherFs).dev !== fs.statSync(os.tmpdir()).dev && (fs.accessSync(otherFs, fs.constants.W_OK), true)
      )
    } catch {
      return false
    }
  })()
  it.skipIf(!canCrossDevices)("moves across filesystems by copying, verifying and deleting", async () => {
    makeTree(join(src, "tree"))
    const before = snapshot(join(src, "tree"))
    const far = fs.mkdtempSync(join(otherFs, "jobstate-copy-"))
    try {
      const out = outputOf(
        await runDirect(FileCopyJob, {
          params: { sources: [join(src, "tree")], destination: far, options: { move: true } },
        }),
      )
      expect(out).toMatchObject({ copiedCount: 5, failedCount: 0 })
      expect(snapshot(join(far, "tree"))).toEqual(before)
      expect(fs.existsSync(join(src, "tree"))).toBe(false)
    } finally {
      fs.rmSync(far, { recursive: true, force: true })
    }
  })

  describe("pause and resume", () => {
    const big = () => join(src, "m-big.bin")
    beforeEach(() => {
      write(join(src, "a-small.txt"), "finished before the pause")
      write(big(), randomBytes(20 * MiB + 123))
      write(join(src, "z-after.txt"), "copied after the resume")
    })
    const params = () => ({ sources: [src], destination: dst })
    const midBig = (s: FileCopyState) => (s.inFlight?.offset ?? 0) > 0

    it("resumes a large file from its checkpointed offset without repeating finished files", async () => {
      const first = await runDirect(FileCopyJob, { params: params(), interruptWhen: midBig })
      expect(first.interrupted).toBe(true)
      const paused = first.lastState
      expect(paused.inFlight!.offset).toBe(8 * MiB)
      expect(fs.existsSync(join(dst, "src/m-big.bin"))).toBe(false)
      expect(fs.existsSync(join(dst, "src/z-after.txt"))).toBe(false)
      // A finished file changed after the pause shows whether the resume copies it again.
      fs.writeFileSync(join(dst, "src/a-small.txt"), "marker")

      const second = await runDirect(FileCopyJob, { params: params(), state: paused })
      const out = outputOf(second)
      expect(sha256(join(dst, "src/m-big.bin"))).toBe(sha256(big()))
      expect(fs.readFileSync(join(dst, "src/a-small.txt"), "utf8")).toBe("marker")
      expect(fs.readFileSync(join(dst, "src/z-after.txt"), "utf8")).toBe("copied after the resume")
      // The first in-file checkpoint of the resumed run is 8 MiB past the paused offset, not at 8 MiB again.
      expect(second.checkpoints.find((s) => s.inFlight)!.inFlight!.offset).toBe(16 * MiB)
      expect(second.logs.some((l) => l.message.includes("restarting"))).toBe(false)
      expect(out).toMatchObject({ copiedCount: 3, failedCount: 0, totalBytes: 20 * MiB + 123 + 25 + 23 })
      expect(structured(second.progress[0]!).filesDone).toBe(1)
    })

    it("restarts a file whose partial copy is not the prefix it claims to be", async () => {
      const first = await runDirect(FileCopyJob, { params: params(), interruptWhen: midBig })
      const partial = first.lastState.inFlight!.partial
      const fd = fs.openSync(partial, "r+")
      fs.writeSync(fd, Buffer.from("corrupted"), 0, 9, 1000)
      fs.closeSync(fd)
      const second = await runDirect(FileCopyJob, { params: params(), state: first.lastState })
      expect(outputOf(second).failedCount).toBe(0)
      expect(second.logs.some((l) => l.message.includes("restarting"))).toBe(true)
      expect(sha256(join(dst, "src/m-big.bin"))).toBe(sha256(big()))
    })

    it("survives a pause every other checkpoint", async () => {
      let state: FileCopyState | undefined
      let pauses = 0
      for (;;) {
        const run = await runDirect(FileCopyJob, {
          params: params(),
          ...(state ? { state } : {}),
          interruptAfterCheckpoints: 2,
        })
        state = run.lastState
        if (!run.interrupted) {
          expect(outputOf(run)).toMatchObject({ copiedCount: 3, failedCount: 0 })
          break
        }
        expect(++pauses).toBeLessThan(20)
      }
      expect(pauses).toBeGreaterThan(2)
      expect(snapshot(join(dst, "src"))).toEqual(snapshot(src))
    })
  })
})
