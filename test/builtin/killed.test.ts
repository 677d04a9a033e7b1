import { spawn, type ChildProcess } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterEach, describe, expect, it } from "vitest"
import type { JobHandle, Progress } from "../../src/index.js"
import { FileCopyJob, IndexerJob } from "../../src/builtin/index.js"
import type { FileCopyProgress, FileCopyState } from "../../src/builtin/fileCopySchemas.js"
import type { IndexerProgress, IndexerState } from "../../src/builtin/indexerSchemas.js"
import { unpack } from "../../src/persistence/codec.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const MiB = 1024 * 1024
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex")

// Killed after each test even when it fails early, so no worker outlives its test.
const workers: ChildProcess[] = []
afterEach(() => {
  for (const w of workers.splice(0)) if (w.exitCode === null) w.kill("SIGKILL")
})

/** Starts `jobstate run --detach` then `jobstate worker` on the data dir; resolves with the job id and the worker. */
const runInWorker = async (dataDir: string, type: string, params: unknown) => {
  const detach = spawn(
    process.execPath,
    ["bin/jobstate.js", "run", type, "--detach", "--params", JSON.stringify(params), "--data-dir", dataDir],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true" },
    },
  )
  let out = ""
  detach.stdout.on("data", (d) => (out += d))
  detach.stderr.on("data", (d) => (out += d))
  await new Promise((r) => detach.on("exit", r))
  const id = /([0-9a-f]{8}-[0-9a-f-]{27})/.exec(out)?.[1]
  if (id === undefined) throw new Error(`no job id in: ${out}`)
  const worker = spawn(process.execPath, ["bin/jobstate.js", "worker", "--data-dir", dataDir], {
    stdio: "ignore",
    env: { ...process.env, CI: "true" },
  })
  workers.push(worker)
  return { id, worker }
}

/** The job's stored checkpoint, read straight from jobs.db. */
const storedState = (dataDir: string, id: string): { readonly state: any; readonly version: number } | undefined => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
  try {
    const row = db.prepare("SELECT data, state_version FROM jobs WHERE id = ?").get(id) as
      | { data: Buffer; state_version: number }
      | undefined
    return row && { state: unpack(row.data, "state"), version: row.state_version }
  } finally {
    db.close()
  }
}

/**
 * Every progress value the job reports from now on, in order. The stream gives the latest
 * value to a slow reader; this one reads at once, and the built-in jobs do I/O between two
 * reports, so only values reported within one turn of the event loop could be missed.
 */
const recordProgress = <Pr>(handle: JobHandle<unknown, Pr>) => {
  const seen: Array<Pr> = []
  const done = (async () => {
    for await (const p of handle.progress as AsyncIterable<Progress<Pr>>) if (p._tag === "Structured") seen.push(p.data)
  })()
  return { seen, done }
}

/** Bytes this process has handed to write calls so far, all threads (Linux's /proc/self/io); undefined elsewhere. */
const bytesWritten = (): number | undefined => {
  if (!existsSync("/proc/self/io")) return undefined
  return Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1])
}

/** What shows that a file was (or was not) written again: a rewrite or a replacement changes one of these. */
const identity = (path: string) => {
  const st = statSync(path)
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
}

const kill = (child: ReturnType<typeof spawn>) =>
  new Promise((resolve) => {
    child.on("exit", resolve)
    child.kill("SIGKILL")
  })

describe("built-in jobs killed with SIGKILL", () => {
  it("file_copy resumes in the middle of a large file, writing only what its last checkpoint had not", async () => {
    const root = tempDir()
    const src = join(root, "src")
    mkdirSync(src)
    writeFileSync(join(src, "a-first.txt"), "done before the kill")
    writeFileSync(join(src, "b-large.bin"), randomBytes(160 * MiB))
    writeFileSync(join(src, "c-last.txt"), "done after the resume")
    const dst = join(root, "dst", "src")
    const dataDir = join(root, "data")
    const { id, worker } = await runInWorker(dataDir, "file_copy", { sources: [src], destination: join(root, "dst") })
    // Kill once a checkpoint holds a byte offset inside the large file.
    await waitUntil(
      () => (storedState(dataDir, id)?.state?.inFlight?.offset ?? 0) > 0,
      60_000,
      "a checkpoint inside the large file",
    )
    await kill(worker)

    // What the resume must start from: the last checkpoint committed before the kill.
    const checkpoint = storedState(dataDir, id)!.state as FileCopyState
    const inFlight = checkpoint.inFlight!
    expect(inFlight.rel).toEqual(["b-large.bin"])
    expect(inFlight.offset).toBeGreaterThan(0)
    expect(inFlight.offset).toBeLessThan(160 * MiB)
    expect(checkpoint.cursor).toEqual({ source: 0, rel: ["a-first.txt"] })
    expect(checkpoint.copiedCount).toBe(1)
    const copiedBefore = identity(join(dst, "a-first.txt"))
    const partialBefore = identity(inFlight.partial)
    expect(partialBefore.size).toBeGreaterThanOrEqual(inFlight.offset)

    const writtenBefore = bytesWritten()
    const manager = await openManager({ dataDir, jobs: [FileCopyJob, IndexerJob] })
    const handle = (await manager.handle(id)) as JobHandle<unknown, FileCopyProgress>
    const progress = recordProgress(handle)
    const output = await handle.result()
    const writtenAfter = bytesWritten()
    await progress.done
    expect(output).toMatchObject({ copiedCount: 3, failedCount: 0 })
    for (const name of ["a-first.txt", "b-large.bin", "c-last.txt"]) {
      expect(sha256(join(dst, name)), name).toBe(sha256(join(src, name)))
    }
    const info = await manager.getJobInfo(id)
    expect(info.attempts).toBe(2)

    // The file finished before the checkpoint was not copied again (a copy goes through a new
    // partial file renamed over the target: a new inode, new times).
    expect(identity(join(dst, "a-first.txt")), "a-first.txt, copied before the kill").toEqual(copiedBefore)
    // The partial file was kept and completed in place, not replaced by a new one.
    expect(statSync(join(dst, "b-large.bin")).ino, "b-large.bin is the partial file of the first attempt").toBe(
      partialBefore.ino,
    )
    // Attempt 2 reported from the checkpoint on, and never less: it did not restart the large file from byte 0.
    const resumedAt = checkpoint.bytesDone + inFlight.offset
    expect(progress.seen.length).toBeGreaterThan(0)
    expect(progress.seen[0], "the first progress of attempt 2").toMatchObject({ filesDone: 1, bytesDone: resumedAt })
    const below = progress.seen.filter((p) => p.bytesDone < resumedAt).map((p) => `${p.bytesDone} (${p.currentFile})`)
    expect(below, `progress of attempt 2 below the checkpointed ${resumedAt} bytes`).toEqual([])
    expect(progress.seen.some((p) => p.currentFile?.endsWith("b-large.bin") && p.bytesDone > resumedAt)).toBe(true)
    // What the process wrote while resuming: the rest of the large file and the last small one,
    // plus jobs.db's few pages per checkpoint. Rewriting the checkpointed prefix would add
    // `offset` (at least 8 MiB); half of it is the room left for the database's writes.
    if (writtenBefore !== undefined && writtenAfter !== undefined) {
      const left = 160 * MiB - inFlight.offset + "done after the resume".length
      const written = writtenAfter - writtenBefore
      const what = `bytes written by attempt 2, resuming at ${inFlight.offset} of ${160 * MiB}`
      expect(written, what).toBeGreaterThanOrEqual(left)
      expect(written, what).toBeLessThan(left + inFlight.offset / 2)
    }
  }, 180_000)

  it("indexer resumes after its last checkpoint: no entry missing, none twice, none indexed before it touched again", async () => {
    const root = tempDir()
    const location = join(root, "tree")
    for (let d = 0; d < 60; d++) {
      const dir = join(location, `dir-${String(d).padStart(2, "0")}`, "inner")
      mkdirSync(dir, { recursive: true })
      for (let f = 0; f < 40; f++) writeFileSync(join(dir, `file-${f}.txt`), randomBytes(20_000))
    }
    const entries = 60 * 40 + 120
    const batchSize = 50
    const dataDir = join(root, "data")
    const indexDb = join(root, "index.db")
    const { id, worker } = await runInWorker(dataDir, "indexer", { location, mode: "Content", indexDb, batchSize })
    await waitUntil(() => (storedState(dataDir, id)?.version ?? 0) >= 3, 60_000, "a few checkpoints")
    await kill(worker)

    // Each batch is written to the index, then checkpointed; rows get ids in the order they
    // are written. So the first `checkpointed` ids are the rows the last checkpoint counts as
    // done, and anything after them is the one batch written before the kill could checkpoint it.
    const checkpoint = storedState(dataDir, id)!.state as IndexerState
    expect(checkpoint.phase).toBe("walk")
    const checkpointed = checkpoint.found.files + checkpoint.found.dirs
    const audit = new Database(indexDb)
    const atKill = audit.prepare("SELECT id, path, indexed_at FROM entries ORDER BY id").all() as Array<{
      id: number
      path: string
      indexed_at: number
    }>
    // Every later write to an entry's walk columns, every insert and every delete, recorded by SQLite itself.
    audit.exec(`
      CREATE TABLE audit_walked (id INTEGER NOT NULL, path TEXT NOT NULL);
      CREATE TABLE audit_inserted (id INTEGER NOT NULL, path TEXT NOT NULL);
      CREATE TABLE audit_deleted (id INTEGER NOT NULL, path TEXT NOT NULL);
      CREATE TRIGGER audit_walk AFTER UPDATE OF parent, kind, size, mtime, ctime, birthtime, indexed_at ON entries
        BEGIN INSERT INTO audit_walked VALUES (old.id, old.path); END;
      CREATE TRIGGER audit_insert AFTER INSERT ON entries BEGIN INSERT INTO audit_inserted VALUES (new.id, new.path); END;
      CREATE TRIGGER audit_delete AFTER DELETE ON entries BEGIN INSERT INTO audit_deleted VALUES (old.id, old.path); END;
    `)
    audit.close()
    expect(atKill.map((r) => r.id)).toEqual(atKill.map((_, i) => i + 1))
    expect(atKill.length).toBeGreaterThanOrEqual(checkpointed)
    expect(atKill.length - checkpointed).toBeLessThanOrEqual(batchSize)
    expect(atKill.length).toBeLessThan(entries)
    expect(new Set(atKill.map((r) => r.indexed_at))).toEqual(new Set([checkpoint.stamp]))

    const manager = await openManager({ dataDir, jobs: [FileCopyJob, IndexerJob] })
    const handle = (await manager.handle(id)) as JobHandle<unknown, IndexerProgress>
    const progress = recordProgress(handle)
    const output = (await handle.result()) as { totalFiles: number; totalDirs: number }
    await progress.done
    expect(output).toMatchObject({ totalFiles: 2400, totalDirs: 120 })
    const db = new Database(indexDb, { readonly: true })
    const rows = db.prepare("SELECT id, path, kind, hash, indexed_at FROM entries").all() as Array<{
      id: number
      path: string
      kind: string
      hash: string | null
      indexed_at: number
    }>
    const walked = db.prepare("SELECT id, path FROM audit_walked").all() as Array<{ id: number; path: string }>
    const inserted = db.prepare("SELECT id, path FROM audit_inserted").all() as Array<{ id: number; path: string }>
    const deleted = db.prepare("SELECT id, path FROM audit_deleted").all() as Array<{ id: number; path: string }>
    db.close()
    const files = rows.filter((r) => r.kind === "file")
    expect(files).toHaveLength(2400)
    expect(rows).toHaveLength(entries)
    expect(new Set(rows.map((r) => r.path)).size).toBe(rows.length)
    expect(files.every((r) => r.hash !== null)).toBe(true)
    expect((await manager.getJobInfo(id)).attempts).toBe(2)

    // The walk went on from the checkpoint: no entry it counted as done was written again;
    // only the batch it had not checkpointed may have been.
    const redone = walked.filter((r) => r.id <= checkpointed).map((r) => r.path)
    expect(redone, `entries of the checkpoint (ids 1..${checkpointed}) walked again by attempt 2`).toEqual([])
    expect(
      walked.filter((r) => r.id > atKill.length).map((r) => r.path),
      "entries walked twice by attempt 2",
    ).toEqual([])
    expect(
      deleted.map((r) => r.path),
      "entries deleted by attempt 2",
    ).toEqual([])
    expect(inserted).toHaveLength(entries - atKill.length)
    // The entries indexed before the kill kept their rows, and the run kept its stamp.
    const idOf = new Map(rows.map((r) => [r.path, r.id]))
    expect(
      atKill.filter((r) => idOf.get(r.path) !== r.id).map((r) => r.path),
      "entries whose row changed",
    ).toEqual([])
    expect(new Set(rows.map((r) => r.indexed_at))).toEqual(new Set([checkpoint.stamp]))
    // And it reported from the checkpointed counts on.
    expect(progress.seen.length).toBeGreaterThan(0)
    const below = progress.seen
      .filter((p) => p.filesFound + p.dirsFound < checkpointed)
      .map((p) => `${p.phase} ${p.filesFound + p.dirsFound}`)
    expect(below, `progress of attempt 2 below the checkpointed ${checkpointed} entries`).toEqual([])
  }, 180_000)
})
