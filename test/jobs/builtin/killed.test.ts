import { spawn, type ChildProcess } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterEach, describe, expect, it } from "vitest"
import { FileCopyJob, IndexerJob } from "../../../src/index.js"
import { unpack } from "../../../src/persistence/codec.js"
import { openManager } from "../../fixtures/openManager.js"
import { tempDir } from "../../fixtures/tempDir.js"
import { waitUntil } from "../../fixtures/waitUntil.js"

const MiB = 1024 * 1024
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex")

// Killed after each test even when it fails early, so no worker outlives its test.
const workers: ChildProcess[] = []
afterEach(() => {
  for (const w of workers.splice(0)) if (w.exitCode === null) w.kill("SIGKILL")
})

/** Starts `jobstate run --detach` then `jobstate worker` on the data dir; resolves with the job id and the worker. */
const runInWorker = async (dataDir: string, type: string, params: unknown) => {
  const detach = spawn(process.execPath, ["bin/jobstate.js", "run", type, "--detach", "--params", JSON.stringify(params), "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true" },
  })
  let out = ""
  detach.stdout.on("data", (d) => (out += d))
  detach.stderr.on("data", (d) => (out += d))
  await new Promise((r) => detach.on("exit", r))
  const id = /([0-9a-f]{8}-[0-9a-f-]{27})/.exec(out)?.[1]
  if (id === undefined) throw new Error(`no job id in: ${out}`)
  const worker = spawn(process.execPath, ["bin/jobstate.js", "worker", "--data-dir", dataDir], { stdio: "ignore", env: { ...process.env, CI: "true" } })
  workers.push(worker)
  return { id, worker }
}

/** The job's stored checkpoint, read straight from jobs.db. */
const storedState = (dataDir: string, id: string): { readonly state: any; readonly version: number } | undefined => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
  try {
    const row = db.prepare("SELECT data, state_version FROM jobs WHERE id = ?").get(id) as { data: Buffer; state_version: number } | undefined
    return row && { state: unpack(row.data, "state"), version: row.state_version }
  } finally {
    db.close()
  }
}

const kill = (child: ReturnType<typeof spawn>) =>
  new Promise((resolve) => {
    child.on("exit", resolve)
    child.kill("SIGKILL")
  })

describe("built-in jobs killed with SIGKILL", () => {
  it("file_copy resumes in the middle of a large file and the copy is byte-identical", async () => {
    const root = tempDir()
    const src = join(root, "src")
    mkdirSync(src)
    writeFileSync(join(src, "a-first.txt"), "done before the kill")
    writeFileSync(join(src, "b-large.bin"), randomBytes(160 * MiB))
    writeFileSync(join(src, "c-last.txt"), "done after the resume")
    const dataDir = join(root, "data")
    const { id, worker } = await runInWorker(dataDir, "file_copy", { sources: [src], destination: join(root, "dst") })
    // Kill once a checkpoint holds a byte offset inside the large file.
    const atKill = await waitUntil(() => {
      const s = storedState(dataDir, id)
      return (s?.state?.inFlight?.offset ?? 0) > 0 ? s : undefined
    }, 60_000, "a checkpoint inside the large file")
    await kill(worker)
    expect(atKill.state.inFlight.offset).toBeLessThan(160 * MiB)

    const manager = await openManager({ dataDir, jobs: [FileCopyJob, IndexerJob] })
    const output = await (await manager.handle(id)).result()
    expect(output).toMatchObject({ copiedCount: 3, failedCount: 0 })
    for (const name of ["a-first.txt", "b-large.bin", "c-last.txt"]) {
      expect(sha256(join(root, "dst", "src", name)), name).toBe(sha256(join(src, name)))
    }
    const info = await manager.getJobInfo(id)
    expect(info.attempts).toBe(2)
  }, 180_000)

  it("indexer resumes with no entry missing and none twice", async () => {
    const root = tempDir()
    const location = join(root, "tree")
    for (let d = 0; d < 60; d++) {
      const dir = join(location, `dir-${String(d).padStart(2, "0")}`, "inner")
      mkdirSync(dir, { recursive: true })
      for (let f = 0; f < 40; f++) writeFileSync(join(dir, `file-${f}.txt`), randomBytes(20_000))
    }
    const dataDir = join(root, "data")
    const indexDb = join(root, "index.db")
    const { id, worker } = await runInWorker(dataDir, "indexer", { location, mode: "Content", indexDb, batchSize: 50 })
    await waitUntil(() => (storedState(dataDir, id)?.version ?? 0) >= 3, 60_000, "a few checkpoints")
    await kill(worker)

    const manager = await openManager({ dataDir, jobs: [FileCopyJob, IndexerJob] })
    const output = (await (await manager.handle(id)).result()) as { totalFiles: number; totalDirs: number }
    expect(output).toMatchObject({ totalFiles: 2400, totalDirs: 120 })
    const db = new Database(indexDb, { readonly: true })
    const rows = db.prepare("SELECT path, kind, hash FROM entries").all() as Array<{ path: string; kind: string; hash: string | null }>
    db.close()
    const files = rows.filter((r) => r.kind === "file")
    expect(files).toHaveLength(2400)
    expect(new Set(rows.map((r) => r.path)).size).toBe(rows.length)
    expect(files.every((r) => r.hash !== null)).toBe(true)
    expect((await manager.getJobInfo(id)).attempts).toBe(2)
  }, 180_000)
})
