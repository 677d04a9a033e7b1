import { copyFileSync, existsSync, statSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { newJob } from "../fixtures/storeRows.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/**
 * The jobs in the database file alone, without its WAL: what checkpoints have copied back. A copy
 * made while the thread writes to the file may be torn: it counts as none yet.
 */
const jobsInFile = (dataDir: string): number => {
  const copy = join(tempDir(), "file-only.db")
  copyFileSync(join(dataDir, "jobs.db"), copy)
  const db = new Database(copy, { readonly: true })
  try {
    // Before the first checkpoint even the tables are only in the WAL.
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").get()
    return table === undefined ? 0 : (db.prepare("SELECT count(*) AS n FROM jobs").get() as { n: number }).n
  } catch (error) {
    if ((error as { code?: string }).code === "SQLITE_CORRUPT") return 0
    throw error
  } finally {
    db.close()
  }
}

describe("SQLite checkpoints", () => {
  it("are made by a thread of their own while the store is open, not by the engine's connection", async () => {
    const dataDir = tempDir()
    const store = SqliteJobStore.open(dataDir)
    try {
      // The engine's connection never checkpoints while the thread lives.
      expect(store.db.pragma("wal_autocheckpoint", { simple: true })).toBe(0)
      await store.insertJobs(Array.from({ length: 50 }, () => newJob()))
      // 50 rows are far below any automatic checkpoint: only the thread copies them back.
      await waitUntil(() => jobsInFile(dataDir) === 50, 20_000, "the 50 jobs checkpointed into jobs.db")
    } finally {
      await store.close()
    }
  })

  it("keep the WAL bounded under steady writes: the thread starts it over", async () => {
    const dataDir = tempDir()
    const store = SqliteJobStore.open(dataDir)
    try {
      // 10,000 transactions of one job each write some 25 KB of WAL apiece: ~270 MB were the WAL
      // never started over. PASSIVE checkpoints alone never find every frame copied back (new
      // ones come while they copy), so without the thread's RESTART the WAL grows to the end.
      // Between two, a turn of the event loop, as between an engine's commits.
      for (let i = 0; i < 10_000; i++) {
        await store.insertJob(newJob())
        await new Promise((resolve) => setImmediate(resolve))
      }
      const walBytes = statSync(join(dataDir, "jobs.db-wal")).size
      // Started over once past RESTART_PAGES, at a tick of the thread, which comes late when it
      // has many pages to copy (writes this fast reach ~60 MB): well under what was written.
      expect(walBytes).toBeLessThan(100 * 2 ** 20)
    } finally {
      await store.close()
    }
  })

  it("leave the engine's connection the last one on close, so the WAL is folded in and removed", async () => {
    const dataDir = tempDir()
    const store = SqliteJobStore.open(dataDir)
    await store.insertJobs(Array.from({ length: 20 }, () => newJob()))
    await store.close()
    expect(existsSync(join(dataDir, "jobs.db-wal"))).toBe(false)
    expect(jobsInFile(dataDir)).toBe(20)
  })

  it("a read-only store starts no checkpointer and leaves its connection as it is", async () => {
    const dataDir = tempDir()
    await SqliteJobStore.open(dataDir).close()
    const store = SqliteJobStore.open(dataDir, { readOnly: true })
    try {
      expect(store.db.pragma("wal_autocheckpoint", { simple: true })).toBe(1000)
    } finally {
      await store.close()
    }
  })
})
