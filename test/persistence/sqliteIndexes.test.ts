import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JOB_SELECT } from "../../src/persistence/jobColumns.js"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { NOT_A_STATUS } from "../../src/persistence/sqlStatuses.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("SQLite's partial indexes", () => {
  it("are read by the queries that rely on them: damaged() by jobs_damaged, whose predicate is a chain of <> (cheap on every write)", async () => {
    const dataDir = tempDir()
    ;(await SqliteJobStore.open(dataDir)).closeNow()
    const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
    try {
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN SELECT ${JOB_SELECT} FROM jobs WHERE ${NOT_A_STATUS} ORDER BY seq`)
        .all() as Array<{ detail: string }>
      expect(plan.map((p) => p.detail).join("; ")).toContain("USING INDEX jobs_damaged")
      const { sql } = db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'jobs_damaged'`).get() as { sql: string }
      // A NOT IN list here made SQLite fill a temporary table on every insert and status update.
      expect(sql).not.toMatch(/NOT IN/i)
    } finally {
      db.close()
    }
  })
})
