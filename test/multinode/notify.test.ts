import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { usePostgres } from "../fixtures/postgres.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { effectProblems, installAudit, readEffects, readManagerPids, schemaUrl } from "./audit.js"
import { PgCountJob, PgNoopJob, pgJobs } from "./pgJobs.js"

const db = usePostgres()
const workerScript = join(import.meta.dirname, "pgWorker.ts")

/**
 * The worker's and the producer's safety-net poll (and, with a lease this long, their sweep for
 * dead managers every 30 s): nothing but a notification can tell the worker of a change
 * within the few seconds each step below is given.
 */
const POLL_MS = 300_000
const LEASE_MS = 60_000
/** Well before the poll, and lenient enough for a slow, busy machine. */
const WITHIN_MS = 10_000
const LONG = 90_000

describe("PostgreSQL: changes reach a worker in another process through LISTEN/NOTIFY", () => {
  it(`a dispatch wakes an idle worker, and pause, resume and cancel reach it within ${WITHIN_MS / 1000} s while its poll is ${POLL_MS / 1000} s`, {
    timeout: 300_000,
  }, async () => {
    const schema = db.freshSchema()
    await installAudit(db.url, schema)
    const url = schemaUrl(db.url, schema)
    const row = async (id: string) =>
      (
        await db.admin<{ status: string; paused_by: string | null; state_version: number; attempts: number }>(
          `SELECT status, paused_by, state_version, attempts FROM "${schema}".jobs WHERE id = $1`,
          [id],
        )
      )[0]!
    const effectCount = async (id: string) => (await readEffects(db.admin, schema, id)).length
    const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
      const t = performance.now()
      const a = await f()
      return [a, Math.round(performance.now() - t)]
    }

    const producer = await JobManager.open({
      dataDir: tempDir(),
      databaseUrl: url,
      jobs: pgJobs,
      concurrency: 0,
      pollIntervalMs: POLL_MS,
      leaseMs: LEASE_MS,
    })
    try {
      const worker = await startProcess(workerScript, [
        url,
        tempDir(),
        JSON.stringify({ concurrency: 2, pollIntervalMs: POLL_MS, leaseMs: LEASE_MS }),
      ])
      const workerReady = Date.now()
      // Both LISTEN connections are up (the producer's and the worker's), so a notification has someone to reach.
      await waitUntil(
        async () =>
          (
            await db.admin<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'`,
            )
          )[0]!.n >= 2,
        LONG,
        "the worker to LISTEN",
      )

      // 1. A dispatch wakes the idle worker: the INSERT's notification, not the poll.
      const a = await producer.dispatch(PgCountJob, { n: 100_000, delayMs: 20 })
      const [, startMs] = await timed(() =>
        waitUntil(async () => (await row(a.id)).status === "running", LONG, "the worker to start job A"),
      )
      await waitUntil(async () => (await effectCount(a.id)) >= 2, LONG, "job A to do two items")

      // 2. A pause from this process reaches the job in the worker's process.
      const [paused, pauseMs] = await timed(() => producer.pause(a.id))
      expect(paused).toBe("paused")
      const afterPause = await row(a.id)
      expect(afterPause).toMatchObject({ status: "paused", paused_by: "user" })
      expect(await effectCount(a.id)).toBe(afterPause.state_version)

      // 3. The control: a dispatch whose notification is suppressed is NOT seen by the worker
      // (its poll is minutes away) until a bare NOTIFY on the schema's channel tells it.
      expect(Date.now() - workerReady, "this machine took so long that the worker's first poll is near").toBeLessThan(
        POLL_MS - 60_000,
      )
      await db.admin(`ALTER TABLE "${schema}".jobs DISABLE TRIGGER jobs_inserted`)
      let b
      try {
        b = await producer.dispatch(PgNoopJob, {})
      } finally {
        await db.admin(`ALTER TABLE "${schema}".jobs ENABLE TRIGGER jobs_inserted`)
      }
      await new Promise((r) => setTimeout(r, 2_000))
      expect((await row(b.id)).status, "a job dispatched without a notification must wait for the poll").toBe("queued")
      const [, notifyMs] = await timed(async () => {
        await db.admin(`SELECT pg_notify($1, '')`, [`jobstate_${schema}`])
        await waitUntil(async () => (await row(b.id)).status === "completed", LONG, "the notified worker to run job B")
      })
      // A paused job stays paused, whatever else the worker hears.
      expect(await row(a.id)).toMatchObject({ status: "paused", state_version: afterPause.state_version })
      expect(await effectCount(a.id)).toBe(afterPause.state_version)

      // 4. A resume puts it back in line, and the worker (told by the status change) runs it again.
      const [, resumeMs] = await timed(async () => {
        expect(await producer.resume(a.id)).toBe("queued")
        await waitUntil(
          async () => (await effectCount(a.id)) > afterPause.state_version,
          LONG,
          "the worker to resume job A",
        )
      })

      // 5. A cancel reaches the running job the same way.
      const [cancelled, cancelMs] = await timed(() => producer.cancel(a.id))
      expect(cancelled).toBe("cancelled")
      const end = await row(a.id)
      expect(end).toMatchObject({ status: "cancelled", attempts: 2 })

      console.log(
        `PostgreSQL NOTIFY latencies (poll every ${POLL_MS / 1000} s): dispatch → running ${startMs} ms, pause ${pauseMs} ms, ` +
          `bare NOTIFY → job done ${notifyMs} ms, resume → running again ${resumeMs} ms, cancel ${cancelMs} ms`,
      )
      for (const [what, ms] of Object.entries({ startMs, pauseMs, notifyMs, resumeMs, cancelMs }))
        expect(ms, what).toBeLessThan(WITHIN_MS)

      // Nothing was done twice, and only by the worker while it owned the job.
      const effects = await readEffects(db.admin, schema, a.id)
      const managers = await readManagerPids(db.admin, schema)
      expect(effectProblems(effects, managers)).toEqual([])
      expect(new Set(effects.map((e) => e.pid))).toEqual(new Set([worker.pid]))
      expect(effects.length).toBe(end.state_version)

      expect(await stopProcess(worker, "SIGTERM"), "the worker closes gracefully").toBe(0)
    } finally {
      await producer.close()
    }
  })
})
