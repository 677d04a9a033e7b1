import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { tempDir } from "../fixtures/tempDir.js"
import { CrashNoopJob } from "./crashJobs.js"
import { FILLER_NAME } from "./filler.js"
import { fillerViolations, fillSqliteStore, installFillerAudit } from "./harness.js"

/** A store with 50 filler jobs and the filler's audit; `disturb` then writes to it directly. */
const filled = async (disturb: (db: Database.Database, maxSeq: number) => void) => {
  const dataDir = tempDir()
  const filler = await fillSqliteStore(dataDir, 50)
  const db = new Database(join(dataDir, "jobs.db"))
  try {
    installFillerAudit(db, filler)
    expect(filler).toMatchObject({ maxSeq: 50, count: 50, byStatus: { queued: 25, completed: 25 } })
    expect(fillerViolations(db, filler)).toEqual([])
    disturb(db, filler.maxSeq)
    return fillerViolations(db, filler)
  } finally {
    db.close()
  }
}

describe("the crash harness's filler (--stored)", () => {
  it("is untouched when only the campaign's own jobs are written", async () => {
    const dataDir = tempDir()
    const filler = await fillSqliteStore(dataDir, 50)
    const db = new Database(join(dataDir, "jobs.db"))
    installFillerAudit(db, filler)
    const manager = await JobManager.open({ dataDir, jobs: [CrashNoopJob], onError: () => {} })
    const handle = await manager.dispatch(CrashNoopJob, {})
    await handle.result()
    await manager.close()
    expect(fillerViolations(db, filler)).toEqual([])
    db.close()
  })

  it("is found disturbed when a filler job changes status", async () => {
    const found = await filled((db) =>
      db
        .prepare("UPDATE jobs SET status = 'running' WHERE seq = (SELECT min(seq) FROM jobs WHERE status = 'queued')")
        .run(),
    )
    expect(found).toEqual([
      "filler: 25 jobs queued before the campaign, 24 now",
      "filler: 0 jobs running before the campaign, 1 now",
      expect.stringMatching(/^filler: 1 write\(s\) to filler jobs.*UPDATE \S+ queued → running$/),
    ])
  })

  it("is found disturbed when a filler job is written without a change of status", async () => {
    const found = await filled((db) => db.prepare("UPDATE jobs SET updated_at = 'x' WHERE seq = 2").run())
    expect(found).toEqual([expect.stringMatching(/^filler: 1 write\(s\) to filler jobs.*completed → completed$/)])
  })

  it("is found disturbed when a filler job is deleted or renamed", async () => {
    const found = await filled((db, maxSeq) => {
      db.prepare("DELETE FROM jobs WHERE seq = ?").run(maxSeq)
      db.prepare("UPDATE jobs SET name = 'other' WHERE seq = 1 AND name = ?").run(FILLER_NAME)
    })
    expect(found).toEqual([
      "filler: 50 jobs stored before the campaign, 48 now",
      expect.stringContaining("jobs completed before the campaign"),
      expect.stringContaining("jobs queued before the campaign"),
      expect.stringMatching(/^filler: 2 write\(s\) to filler jobs.*DELETE .*UPDATE /),
    ])
  })
})
