import Database from "better-sqlite3"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { dirname, join } from "node:path"
import { crc32, deflateSync } from "node:zlib"
import { xxhash128 } from "hash-wasm"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { IndexerJob, type IndexerState } from "../../src/builtin/indexer.js"
import { JobManager } from "../../src/index.js"
import type { IndexerOutput } from "../../src/builtin/indexerSchemas.js"
import { runJobUnprivileged } from "../fixtures/unprivileged.js"
import { failureOf, outputOf, runDirect } from "./runDirect.js"

let tmp: string
let loc: string
let indexDb: string
beforeEach(() => {
  tmp = fs.mkdtempSync(join(os.tmpdir(), "jobstate-index-"))
  loc = join(tmp, "location")
  indexDb = join(tmp, "index.db")
  fs.mkdirSync(loc)
})
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

const write = (path: string, data: string | Buffer) => {
  fs.mkdirSync(join(path, ".."), { recursive: true })
  fs.writeFileSync(path, data)
}

/** A valid PNG of the given size (one grey pixel row per line), for the Deep mode's detectors. */
const png = (width: number, height: number) => {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data])
    const out = Buffer.alloc(8 + data.length + 4)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), 8 + data.length)
    return out
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 0, 0, 0, 0], 8) // 8-bit greyscale
  const raw = Buffer.alloc(height * (width + 1), 0x80)
  for (let y = 0; y < height; y++) raw[y * (width + 1)] = 0 // filter byte
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ])
}

const makeTree = () => {
  write(join(loc, "a.txt"), "alpha")
  write(join(loc, "same-as-a.txt"), "alpha")
  write(join(loc, "docs/readme.md"), "# readme\n")
  write(join(loc, "docs/deep/er/empty"), "")
  write(join(loc, "media/pic.png"), png(3, 2))
  fs.mkdirSync(join(loc, "empty-dir"))
  fs.symlinkSync("docs/readme.md", join(loc, "link-to-readme"))
}

interface Row {
  path: string
  parent: string
  kind: string
  size: number
  mtime: number
  hash: string | null
  mime: string | null
  width: number | null
  height: number | null
  analyzed: number
}
const rows = (): Row[] => {
  const db = new Database(indexDb, { readonly: true })
  try {
    return db.prepare("SELECT * FROM entries ORDER BY path").all() as Row[]
  } finally {
    db.close()
  }
}
const byPath = () => Object.fromEntries(rows().map((r) => [r.path.slice(loc.length + 1), r]))
const index = (
  mode: "Metadata" | "Content" | "Deep",
  extra: Partial<{ batchSize: number; state: IndexerState }> = {},
) =>
  runDirect(IndexerJob, {
    params: { location: loc, mode, indexDb, ...(extra.batchSize ? { batchSize: extra.batchSize } : {}) },
    ...(extra.state ? { state: extra.state } : {}),
  })

describe("IndexerJob", () => {
  it("Metadata mode records stat facts of every entry, links unfollowed", async () => {
    makeTree()
    const out = outputOf(await index("Metadata"))
    const r = byPath()
    expect(Object.keys(r).sort()).toEqual([
      "a.txt",
      "docs",
      "docs/deep",
      "docs/deep/er",
      "docs/deep/er/empty",
      "docs/readme.md",
      "empty-dir",
      "link-to-readme",
      "media",
      "media/pic.png",
      "same-as-a.txt",
    ])
    expect(r["docs/readme.md"]).toMatchObject({
      kind: "file",
      size: 9,
      parent: join(loc, "docs"),
      hash: null,
      analyzed: 0,
    })
    expect(r["link-to-readme"]!.kind).toBe("symlink")
    expect(r["docs/deep"]!.kind).toBe("dir")
    expect(r["a.txt"]!.mtime).toBe(fs.statSync(join(loc, "a.txt")).mtimeMs)
    const pngSize = fs.statSync(join(loc, "media/pic.png")).size
    expect(out).toMatchObject({
      totalFiles: 6,
      totalDirs: 5,
      totalBytes: 5 + 5 + 9 + 0 + pngSize,
      errors: [],
      errorCount: 0,
    })
  })

  it("Content mode adds an xxHash3-128 of each file", async () => {
    makeTree()
    outputOf(await index("Content"))
    const r = byPath()
    expect(r["a.txt"]!.hash).toBe(await xxhash128("alpha"))
    expect(r["same-as-a.txt"]!.hash).toBe(r["a.txt"]!.hash)
    expect(r["docs/deep/er/empty"]!.hash).toBe(await xxhash128(""))
    expect(r["docs"]!.hash).toBeNull()
    expect(r["link-to-readme"]!.hash).toBeNull()
    expect(r["a.txt"]!.mime).toBeNull()
  })

  it("Deep mode adds MIME types and image dimensions", async () => {
    makeTree()
    const gif = Buffer.concat([Buffer.from("GIF89a"), Buffer.from([7, 0, 5, 0, 0, 0, 0]), Buffer.from([0x3b])])
    write(join(loc, "media/anim.gif"), gif)
    const run = await index("Deep")
    expect(outputOf(run).errorCount).toBe(0)
    const r = byPath()
    expect(r["media/pic.png"]).toMatchObject({ mime: "image/png", width: 3, height: 2, analyzed: 2 })
    expect(r["media/anim.gif"]).toMatchObject({ mime: "image/gif", width: 7, height: 5 })
    expect(r["a.txt"]).toMatchObject({ mime: null, width: null, hash: await xxhash128("alpha"), analyzed: 2 })
    const phases = new Set(run.progress.map((p) => (p._tag === "Structured" ? p.data.phase : null)))
    expect(phases).toEqual(new Set(["discovery", "processing", "content"]))
    const last = run.progress.at(-1)!
    expect(last._tag === "Structured" && last.data).toMatchObject({
      phase: "content",
      fraction: 1,
      contentDone: 6,
      contentTotal: 6,
    })
  })

  it("a re-run updates the index in place: changed rows updated, new ones added, gone ones removed", async () => {
    makeTree()
    outputOf(await index("Content"))
    const before = byPath()
    write(join(loc, "docs/readme.md"), "# a longer readme\n")
    write(join(loc, "new.txt"), "new")
    fs.rmSync(join(loc, "media"), { recursive: true })
    const again = await index("Content")
    const out = outputOf(again)
    const after = byPath()
    const all = rows()
    expect(new Set(all.map((r) => r.path)).size).toBe(all.length)
    expect(Object.keys(after).sort()).toEqual(
      Object.keys(before)
        .filter((p) => !p.startsWith("media"))
        .concat("new.txt")
        .sort(),
    )
    expect(after["docs/readme.md"]).toMatchObject({ size: 18, hash: await xxhash128("# a longer readme\n") })
    expect(after["a.txt"]!.hash).toBe(before["a.txt"]!.hash)
    // Only the changed and the new file needed hashing again.
    const last = again.progress.at(-1)!
    expect(last._tag === "Structured" && last.data.contentTotal).toBe(2)
    expect(out).toMatchObject({ totalFiles: 6, totalDirs: 4 })
  })

  it("keeps the index of other locations sharing the same file", async () => {
    makeTree()
    const other = join(tmp, "location-2")
    write(join(other, "x"), "x")
    // "location-2" sorts right after "location/": the range that bounds a location must not take it in.
    outputOf(await runDirect(IndexerJob, { params: { location: other, mode: "Metadata", indexDb } }))
    outputOf(await index("Metadata"))
    fs.rmSync(join(loc, "a.txt"))
    outputOf(await index("Metadata"))
    expect(rows().some((r) => r.path === join(other, "x"))).toBe(true)
  })

  it("does not index its own database when it lies inside the location", async () => {
    makeTree()
    indexDb = join(loc, "index.db")
    outputOf(await index("Content"))
    expect(rows().filter((r) => r.path.startsWith(indexDb))).toEqual([])
  })

  describe("pause and resume", () => {
    const bigTree = () => {
      for (let d = 0; d < 12; d++) {
        for (let f = 0; f < 15; f++) write(join(loc, `dir-${d}`, `sub-${f % 3}`, `file-${f}.txt`), `content ${d}/${f}`)
      }
    }
    const comparable = () => rows().map((r) => [r.path, r.kind, r.size, r.hash, r.analyzed])

    it("an index paused every few checkpoints ends with every entry exactly once", async () => {
      bigTree()
      const reference = join(tmp, "reference.db")
      outputOf(await runDirect(IndexerJob, { params: { location: loc, mode: "Content", indexDb: reference } }))
      const expected = (() => {
        const db = new Database(reference, { readonly: true })
        const all = db.prepare("SELECT path, kind, size, hash, analyzed FROM entries ORDER BY path").all() as Row[]
        db.close()
        return all.map((r) => [r.path, r.kind, r.size, r.hash, r.analyzed])
      })()

      let state: IndexerState | undefined
      let pauses = 0
      for (;;) {
        const run = await runDirect(IndexerJob, {
          params: { location: loc, mode: "Content", indexDb, batchSize: 7 },
          ...(state ? { state } : {}),
          interruptAfterCheckpoints: 3,
        })
        state = run.lastState
        if (!run.interrupted) {
          expect(outputOf(run)).toMatchObject({ totalFiles: 180, totalDirs: 48, errorCount: 0 })
          break
        }
        pauses++
        expect(pauses).toBeLessThan(200)
      }
      expect(pauses).toBeGreaterThan(10)
      expect(comparable()).toEqual(expected)
    })

    it("a pause between batches writes the partial batch before stopping", async () => {
      for (let i = 0; i < 600; i++) write(join(loc, "many", `f${String(i).padStart(4, "0")}`), "")
      const first = await runDirect(IndexerJob, {
        params: { location: loc, mode: "Metadata", indexDb },
        interruptAtCheck: 2,
      })
      expect(first.interrupted).toBe(true)
      const paused = first.lastState
      expect(paused.current?.dir).toBe(join(loc, "many"))
      const after = paused.current!.after!
      const names = fs.readdirSync(join(loc, "many")).sort()
      const claimed = names.filter((n) => n <= after).map((n) => join(loc, "many", n))
      expect(claimed.length).toBeGreaterThan(0)
      expect(claimed.length).toBeLessThan(600)
      const stored = new Set(rows().map((r) => r.path))
      expect(claimed.filter((p) => !stored.has(p))).toEqual([])

      const out = outputOf(
        await runDirect(IndexerJob, { params: { location: loc, mode: "Metadata", indexDb }, state: paused }),
      )
      expect(out).toMatchObject({ totalFiles: 600, totalDirs: 1 })
      expect(rows().length).toBe(601)
    })
  })

  describe("unreadable entries", () => {
    it("records a directory that vanished after it was queued, and finishes", async () => {
      makeTree()
      const first = await runDirect(IndexerJob, {
        params: { location: loc, mode: "Metadata", indexDb, batchSize: 1 },
        interruptWhen: (s) => s.stack.includes(join(loc, "docs")) && s.current !== null && s.current.dir !== loc,
      })
      expect(first.interrupted).toBe(true)
      fs.rmSync(join(loc, "docs"), { recursive: true })
      const out = outputOf(await index("Metadata", { state: first.lastState }))
      expect(out.errors).toEqual([{ path: join(loc, "docs"), reason: expect.stringContaining("ENOENT") }])
      expect(out.errorCount).toBe(1)
      expect(byPath()["media/pic.png"]).toBeDefined()
    })

    it("records a file that cannot be read for hashing, and finishes", async () => {
      makeTree()
      const first = await runDirect(IndexerJob, {
        params: { location: loc, mode: "Content", indexDb },
        interruptWhen: (s) => s.phase === "content",
      })
      expect(first.interrupted).toBe(true)
      fs.rmSync(join(loc, "a.txt"))
      const out = outputOf(await index("Content", { state: first.lastState }))
      expect(out.errors).toEqual([{ path: join(loc, "a.txt"), reason: expect.stringContaining("ENOENT") }])
      expect(byPath()["same-as-a.txt"]!.hash).toBe(await xxhash128("alpha"))
    })

    it("indexes a FIFO as 'other' without trying to read it", async () => {
      write(join(loc, "plain"), "p")
      execFileSync("mkfifo", [join(loc, "pipe")])
      const out = outputOf(await index("Deep"))
      expect(out.errorCount).toBe(0)
      expect(byPath()["pipe"]).toMatchObject({ kind: "other", hash: null })
    })

    // Root reads through mode 000; the vanished-entry cases above cover errors when running as root.
    it("records directories and files without read permission", async () => {
      makeTree()
      fs.chmodSync(join(loc, "docs"), 0o000)
      fs.chmodSync(join(loc, "a.txt"), 0o000)
      try {
        const params = { location: loc, mode: "Content", indexDb }
        const out = runJobUnprivileged("indexer", params, join(tmp, "data"), [
          tmp,
          loc,
          dirname(indexDb),
        ]) as IndexerOutput
        expect(out.errors.map((e) => e.path).sort()).toEqual([join(loc, "a.txt"), join(loc, "docs")])
        expect(out.errors.every((e) => e.reason.includes("EACCES"))).toBe(true)
      } finally {
        fs.chmodSync(join(loc, "docs"), 0o755)
      }
    })

    it("keeps the earlier rows of a directory it cannot read any more", async () => {
      makeTree()
      outputOf(await index("Metadata"))
      const first = await runDirect(IndexerJob, {
        params: { location: loc, mode: "Metadata", indexDb, batchSize: 1 },
        interruptWhen: (s) => s.stack.includes(join(loc, "docs")) && s.current !== null && s.current.dir !== loc,
      })
      // Replacing the directory by a file of the same name makes it unreadable as a directory.
      fs.rmSync(join(loc, "docs"), { recursive: true })
      write(join(loc, "docs"), "now a file")
      const out = outputOf(await index("Metadata", { state: first.lastState }))
      expect(out.errors).toEqual([{ path: join(loc, "docs"), reason: expect.stringContaining("ENOTDIR") }])
      expect(byPath()["docs/readme.md"]).toBeDefined()
    })
  })

  it("defaults the index to index.db in the manager's data dir, one file that every run updates", async () => {
    write(join(loc, "a.txt"), "a")
    write(join(loc, "sub/b.txt"), "bb")
    const dataDir = join(tmp, "data")
    const manager = await JobManager.open({ dataDir, jobs: [IndexerJob] })
    try {
      const first = await (await manager.dispatchByName("indexer", { location: loc, mode: "Content" })).result()
      expect(first).toMatchObject({ totalFiles: 2, indexDb: join(dataDir, "index.db") })
      write(join(loc, "c.txt"), "ccc")
      const second = await (await manager.dispatchByName("indexer", { location: loc, mode: "Content" })).result()
      expect(second).toMatchObject({ totalFiles: 3, indexDb: join(dataDir, "index.db") })
    } finally {
      await manager.close()
    }
    const db = new Database(join(dataDir, "index.db"), { readonly: true })
    try {
      expect(db.prepare("SELECT count(*) AS n FROM entries WHERE kind = 'file' AND hash IS NOT NULL").get()).toEqual({
        n: 3,
      })
    } finally {
      db.close()
    }
  })

  it("fails clearly when the index database cannot be opened", async () => {
    const run = await runDirect(IndexerJob, { params: { location: loc, mode: "Metadata", indexDb: loc } })
    expect(failureOf(run)).toMatchObject({ _tag: "IndexerError", reason: "IndexDb" })
    expect((failureOf(run) as Error).message).toMatch(/^Cannot use the index database: open: /)
  })

  it("fails clearly when the location is missing or not a directory", async () => {
    const missing = await runDirect(IndexerJob, { params: { location: join(tmp, "nope"), mode: "Metadata", indexDb } })
    expect(failureOf(missing)).toMatchObject({ _tag: "IndexerError", reason: "LocationNotFound" })
    write(join(tmp, "file"), "x")
    const notDir = await runDirect(IndexerJob, { params: { location: join(tmp, "file"), mode: "Metadata", indexDb } })
    expect(failureOf(notDir)).toMatchObject({ _tag: "IndexerError", reason: "NotADirectory" })
    expect((failureOf(notDir) as Error).message).toContain("not a directory")
  })
})
