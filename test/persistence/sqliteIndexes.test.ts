import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JOB_SELECT } from "../../src/persistence/jobColumns.js"
import { claimSql, claimValues } from "../../src/persistence/sqlite/claim.js"
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

  it("serve a page of one status or one type in dispatch order, and the jobs ended lately, without reading the rest", async () => {
    const dataDir = tempDir()
    ;(await SqliteJobStore.open(dataDir)).closeNow()
    const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
    const plan = (sql: string, ...values: unknown[]) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...values) as Array<{ detail: string }>)
        .map((p) => p.detail)
        .join("; ")
    try {
      for (const order of ["ASC", "DESC"]) {
        const byStatus = plan(
          `SELECT ${JOB_SELECT} FROM jobs WHERE status = 'queued' AND seq > 5 ORDER BY seq ${order} LIMIT 50`,
        )
        expect(byStatus).toContain("USING INDEX jobs_status")
        expect(byStatus).not.toContain("TEMP B-TREE")
        const byType = plan(`SELECT ${JOB_SELECT} FROM jobs WHERE name = 'noop' ORDER BY seq ${order} LIMIT 50`)
        expect(byType).toContain("USING INDEX jobs_name")
        expect(byType).not.toContain("TEMP B-TREE")
      }
      expect(
        plan(
          `SELECT substr(completed_at, 1, 16) AS minute, status, count(*) FROM jobs WHERE completed_at >= '2026' GROUP BY minute, status`,
        ),
      ).toContain("USING INDEX jobs_completed")
      // When the next waiting job is due: read from now on in jobs_run_at, not every queued row.
      expect(
        plan(
          `SELECT min(run_at) FROM jobs INDEXED BY jobs_run_at WHERE status = 'queued' AND run_at IS NOT NULL AND name IN (SELECT value FROM json_each('["a"]')) AND run_at > 5`,
        ),
      ).toContain("USING INDEX jobs_run_at (run_at>?)")
      // The claim (its own statement) reads each of its types' range of jobs_queued in the
      // order it takes them: queued jobs of other types are never read, and nothing is sorted
      // but the few rows the ranges give.
      for (const count of [1, 3]) {
        const types = ["a", "b", "c"].slice(0, count)
        const claim = plan(claimSql(count), claimValues(types, Date.now(), null, 8))
        expect(claim.match(/SEARCH jobs USING INDEX jobs_queued \(name=\?\)/g)).toHaveLength(count)
        expect(claim).not.toContain("SCAN jobs")
        if (count === 1) expect(claim).not.toContain("TEMP B-TREE")
      }
    } finally {
      db.close()
    }
  })
})
