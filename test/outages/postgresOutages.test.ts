/**
 * The fault suite on PostgreSQL: a cluster of the suite's own (see pgCluster.ts) is restarted,
 * stopped for longer than a lease, and has its backends terminated, while three worker
 * processes drain jobs from it. Each run must keep the crash harness's invariants (see
 * harness.ts), and the PostgreSQL audit must show every job completed once and never written
 * after it ended. The time from the fault's end to the next side effect is printed (the figures
 * of docs/guarantees.md).
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { auditSql, schemaUrl } from "../multinode/audit.js"
import { PostgresJobStore } from "../../src/persistence/PostgresJobStore.js"
import { JobManager, PersistenceError } from "../../src/index.js"
import { tempDir } from "../fixtures/tempDir.js"
import { FaultCountJob } from "./faultJobs.js"
import { clusterUrl, faultCluster } from "./pgCluster.js"
import { runUnderFault } from "./harness.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const admin = async <R extends pg.QueryResultRow>(sql: string): Promise<R[]> => {
  const client = new pg.Client({ connectionString: clusterUrl })
  client.on("error", () => undefined)
  await client.connect()
  try {
    return (await client.query<R>(sql)).rows
  } finally {
    await client.end()
  }
}

/** A schema of the test's own on the cluster, migrated, with the audit triggers of the multi-node tests. */
const freshSchema = async (): Promise<{ url: string; schema: string }> => {
  const schema = `faults_${randomBytes(4).toString("hex")}`
  const store = await PostgresJobStore.open({ databaseUrl: clusterUrl, schema })
  await store.close()
  await admin(auditSql(schema))
  return { url: schemaUrl(clusterUrl, schema), schema }
}

/** What PostgreSQL recorded that must never happen: a job completed twice, a row written after it ended. */
const auditViolations = async (schema: string): Promise<string[]> => {
  const twice = await admin<{ job_id: string; n: number }>(
    `SELECT job_id, count(*)::int AS n FROM ${schema}.test_job_changes WHERE new_status = 'completed' GROUP BY job_id HAVING count(*) > 1`,
  )
  const after = await admin<{ job_id: string }>(
    `SELECT job_id FROM ${schema}.test_job_changes WHERE op = 'UPDATE' AND old_status IN ('completed', 'failed', 'cancelled')`,
  )
  return [
    ...twice.map((r) => `job ${r.job_id} completed ${r.n} times`),
    ...after.map((r) => `job ${r.job_id} written after it ended`),
  ]
}

const say = (line: string) => console.log(`[faults] ${line}`)

describe("PostgreSQL faults, with three worker processes draining", () => {
  beforeAll(() => faultCluster.up(), 120_000)
  afterAll(() => faultCluster.drop(), 60_000)

  it("drains through three server restarts: every job completes once, none failed, no retry spent", async () => {
    const { url, schema } = await freshSchema()
    const result = await runUnderFault({
      dataDir: tempDir(),
      databaseUrl: url,
      n: 100,
      delayMs: 100,
      inject: async (drain) => {
        for (let k = 0; k < 3; k++) {
          const mode = k === 1 ? "immediate" : "fast"
          const began = Date.now()
          await faultCluster.restart(mode)
          const back = Date.now()
          const resumed = await drain.progressAfter(drain.effects())
          if (resumed === undefined) throw new Error(`the drain ended before restart ${k + 1} was over: make it longer`)
          say(
            `restart ${k + 1} (${mode}, ${back - began} ms): work resumed ${Math.max(0, resumed - back)} ms after the server answered`,
          )
          await sleep(1_000)
        }
        return 3
      },
    })
    expect(result.violations).toEqual([])
    expect(await auditViolations(schema)).toEqual([])
  }, 240_000)

  it("survives the server down for 20 s, longer than the lease: no job runs twice at once, none fails, each kind of failure is reported once, and calls fail fast meanwhile", async () => {
    const { url, schema } = await freshSchema()
    const producer = await JobManager.open({
      dataDir: tempDir(),
      databaseUrl: url,
      jobs: [FaultCountJob],
      concurrency: 0,
      onError: () => {},
    })
    let duringOutage: unknown[] = []
    const result = await runUnderFault({
      dataDir: tempDir(),
      databaseUrl: url,
      leaseMs: 2_000,
      inject: async (drain) => {
        const someJob = (await producer.listJobs({ status: "running" }))[0]!.id
        await faultCluster.stop("immediate")
        await sleep(2_000)
        // A dispatch and a command while the server is down: a typed error naming the cause, at
        // once (had they waited for the server, they would have succeeded after it came back).
        duringOutage = await Promise.all([
          producer
            .dispatch(FaultCountJob, { n: 1, delayMs: 0, effectsFile: join(tempDir(), "effects.log") })
            .catch((e) => e),
          producer.pause(someJob).catch((e) => e),
        ])
        await sleep(18_000)
        const from = drain.effects()
        const began = Date.now()
        await faultCluster.start()
        const back = Date.now()
        const resumed = await drain.progressAfter(from)
        if (resumed === undefined) throw new Error("the drain ended during the outage: make it longer")
        say(
          `down 20 s: work resumed ${resumed - began} ms after the start command, ${Math.max(0, resumed - back)} ms after the server answered this test`,
        )
        return 1
      },
    })
    await producer.close()
    for (const error of duringOutage) {
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as PersistenceError).detail).toMatch(/ECONNREFUSED|shutting down|terminat/)
    }
    expect(result.violations).toEqual([])
    expect(await auditViolations(schema)).toEqual([])
    for (const lines of result.reported) {
      say(`a worker reported ${lines.length} lines: ${[...new Set(lines.map((l) => l.slice(0, 80)))].join(" | ")}`)
      // Before: ~10 a second per process (a stack each). Now: each kind of failure once, the
      // jobs it stopped, and one StoreRecovered.
      expect(lines.length).toBeLessThanOrEqual(12)
      expect(lines.some((l) => l.startsWith("StoreRecovered: "))).toBe(true)
    }
  }, 240_000)

  it("survives its backends being terminated three times mid-drain", async () => {
    const { url, schema } = await freshSchema()
    const result = await runUnderFault({
      dataDir: tempDir(),
      databaseUrl: url,
      n: 40,
      inject: async (drain) => {
        for (let k = 0; k < 3; k++) {
          const from = drain.effects()
          const ended = await faultCluster.terminateBackends("postgres")
          const at = Date.now()
          const resumed = await drain.progressAfter(from)
          if (resumed === undefined)
            throw new Error("the drain ended before the backends were terminated: make it longer")
          say(`${ended} backends terminated: work resumed ${Math.max(0, resumed - at)} ms later`)
          await sleep(500)
        }
        return 3
      },
    })
    expect(result.violations).toEqual([])
    expect(await auditViolations(schema)).toEqual([])
  }, 240_000)
})
