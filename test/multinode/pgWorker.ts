/**
 * A manager in its own process on a PostgreSQL store, running the `pg_count`, `pg_noop` and
 * `pg_fail` jobs of `pgJobs.ts`, until killed or stopped with SIGTERM (a graceful close, then
 * exit 0; exit 1 if the close failed).
 *   node --import tsx test/multinode/pgWorker.ts <databaseUrl> <dataDir> '<json options>'
 * `databaseUrl` may carry `?schema=name`. Options: { concurrency?, leaseMs?, pollIntervalMs?,
 * interruptGraceMs?, types?: string[], life?: number (tags its side effects) }.
 * Prints "opening" before it opens the manager and "ready <managerId>" once open. Errors the
 * engine reports in the background go to stderr, one line each, starting "[worker <pid>]".
 */
import { JobManager } from "../../src/index.js"
import { configureEffects, pgJobs } from "./pgJobs.js"

const [databaseUrl, dataDir, json] = process.argv.slice(2)
if (databaseUrl === undefined || dataDir === undefined) {
  process.stderr.write("usage: pgWorker.ts <databaseUrl> <dataDir> '<json options>'\n")
  process.exit(2)
}
const options = JSON.parse(json ?? "{}") as {
  concurrency?: number
  leaseMs?: number
  pollIntervalMs?: number
  interruptGraceMs?: number
  types?: string[]
  life?: number
}
configureEffects(databaseUrl, options.life ?? -1)

const report = (error: unknown) => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  process.stderr.write(`[worker ${process.pid}] ${text.replaceAll("\n", " ")}\n`)
}

let opened: Promise<JobManager> | undefined
// Installed before the manager opens: a SIGTERM during open() closes it once it is open.
process.on("SIGTERM", () => {
  void (opened ?? Promise.reject(new Error("SIGTERM before open")))
    .then((manager) => manager.close())
    .then(
      () => process.exit(0),
      (error) => {
        report(error)
        process.exit(1)
      },
    )
})

process.stdout.write("opening\n")
opened = JobManager.open({
  dataDir,
  databaseUrl,
  jobs: pgJobs,
  ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
  ...(options.interruptGraceMs === undefined ? {} : { interruptGraceMs: options.interruptGraceMs }),
  ...(options.types === undefined ? {} : { types: options.types }),
  onError: report,
})
const manager = await opened
process.stdout.write(`ready ${manager.id}\n`)
setInterval(() => {}, 1_000)
