/**
 * The long multi-node crash campaign on PostgreSQL (`test/multinode/harness.ts`): 3 worker
 * processes and a producer on one database, workers SIGKILLed and restarted --kills times.
 *   npm run test:crash:pg -- --kills 300 [--seed n] [--workers 3] [--lease-ms 2000] [--stored n] [--keep]
 * It creates a fresh database on the server of JOBSTATE_TEST_PG_URL (default the local one,
 * trust auth, user postgres) and drops it at the end unless --keep; --database-url <url> uses
 * an existing database instead (a fresh schema in it). `--stored n` first fills the schema with
 * n jobs of a type no worker runs (half queued, half completed; see test/crash/filler.ts),
 * which must be untouched at the end. Exits 1 on any violation.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { runPgCampaign } from "../test/multinode/harness.js"

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "300" },
    seed: { type: "string" },
    workers: { type: "string", default: "3" },
    "lease-ms": { type: "string", default: "2000" },
    stored: { type: "string", default: "0" },
    "database-url": { type: "string" },
    keep: { type: "boolean", default: false },
  },
})
const seed = Number(values.seed ?? Math.floor(Math.random() * 1_000_000))
const serverUrl = process.env.JOBSTATE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const admin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 })
  client.on("error", () => undefined)
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

let databaseUrl = values["database-url"]
let created: string | undefined
if (databaseUrl === undefined) {
  created = `jobstate_crash_${seed}_${randomBytes(3).toString("hex")}`
  await admin((c) => c.query(`CREATE DATABASE ${created}`))
  const url = new URL(serverUrl)
  url.pathname = `/${created}`
  databaseUrl = url.toString()
}
const schema = `crash_${randomBytes(3).toString("hex")}`
const dataDir = mkdtempSync(join(tmpdir(), "jobstate-crash-pg-"))
console.log(
  `seed ${seed}, database ${databaseUrl.replace(/:[^:@/]*@/, ":***@")}, schema ${schema}, data dir ${dataDir}`,
)

let failed = true
try {
  const result = await runPgCampaign({
    databaseUrl,
    schema,
    dataDir,
    seed,
    kills: Number(values.kills),
    workers: Number(values.workers),
    leaseMs: Number(values["lease-ms"]),
    stored: Number(values.stored),
    log: (line) => console.log(line),
  })
  const { engineErrors, ...summary } = result
  if (engineErrors.length > 0)
    console.log(
      `engine errors reported through onError (${engineErrors.length}, not violations):\n  ${engineErrors.slice(0, 30).join("\n  ")}`,
    )
  console.log(JSON.stringify(summary, null, 2))
  console.log(
    `${result.kills} SIGKILLs (${result.killsAt.running} running, ${result.killsAt.close} in close, ${result.killsAt.startup} at start-up, ${result.killsBeforeReady} of them inside open()), ` +
      `${result.midRunKills} mid-run, ${result.takeovers} jobs carried on in another process, ${result.repeatedInFlight} in-flight items redone; ` +
      `${result.jobs} jobs${result.stored > 0 ? ` beside ${result.stored} filler jobs` : ""} (${result.completed} completed, ${result.failed} failed, ${result.cancelled} cancelled), ${result.effects} side effects; ` +
      `${result.violations.length} violations; ${result.seconds} s`,
  )
  failed = result.violations.length > 0
} finally {
  rmSync(dataDir, { recursive: true, force: true })
  if (created !== undefined && !values.keep)
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${created} WITH (FORCE)`))
  else if (created !== undefined) console.log(`kept database ${created}`)
}
process.exit(failed ? 1 : 0)
