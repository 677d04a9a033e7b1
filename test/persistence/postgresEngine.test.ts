import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { allTestJobs, CountJob } from "../fixtures/jobs.js"
import { usePostgres } from "../fixtures/postgres.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const db = usePostgres()

const items = (file: string, id: string) => {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.startsWith(`${id} `))
      .map((l) => Number(l.split(" ")[1]))
  } catch {
    return []
  }
}

/** Ends every other connection to the test database, as a restarting server or a dropped network would. */
const dropConnections = () =>
  db.admin<{ n: string }>(
    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
  )

describe("the engine on PostgreSQL", () => {
  it("runs a job to the end through connections dropped mid-run, redoing nothing", async () => {
    const dataDir = tempDir()
    const file = join(dataDir, "effects.txt")
    const errors: unknown[] = []
    const manager = await JobManager.open({
      dataDir,
      databaseUrl: `${db.url}?schema=${db.freshSchema()}`,
      jobs: allTestJobs,
      onError: (e) => errors.push(e),
    })
    try {
      const handle = await manager.dispatch(CountJob, { n: 60, effectsFile: file, delayMs: 20 })
      for (const after of [10, 25, 40]) {
        await waitUntil(() => items(file, handle.id).length >= after, 30_000, `${after} items`)
        const [row] = await dropConnections()
        expect(Number(row!.n)).toBeGreaterThan(0)
      }
      expect(await handle.result()).toEqual({ counted: 60, attempt: 1 })
      expect(items(file, handle.id)).toEqual(Array.from({ length: 60 }, (_, i) => i))
      const info = await manager.getJobInfo(handle.id)
      expect(info).toMatchObject({ status: "completed", attempts: 1, checkpoints: 60 })
    } finally {
      await manager.close()
    }
  })

  it("hears of a dispatch from another process after its own connections were dropped", async () => {
    const schema = db.freshSchema()
    const databaseUrl = `${db.url}?schema=${schema}`
    const worker = await JobManager.open({
      dataDir: tempDir(),
      databaseUrl,
      jobs: allTestJobs,
      pollIntervalMs: 60_000,
      onError: () => {},
    })
    const producer = await JobManager.open({ dataDir: tempDir(), databaseUrl, jobs: allTestJobs, concurrency: 0 })
    try {
      await dropConnections()
      // The producer's pool lost its connections too: the dispatch itself must get through.
      const file = join(tempDir(), "effects.txt")
      await waitUntil(
        async () => {
          try {
            await (await producer.dispatch(CountJob, { n: 1, effectsFile: file })).result()
            return true
          } catch {
            return false
          }
        },
        30_000,
        "a dispatch that the worker runs",
      )
      expect(worker.stats().claims).toBeGreaterThanOrEqual(1)
    } finally {
      await producer.close()
      await worker.close()
    }
  })
})
