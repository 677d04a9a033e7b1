/**
 * A worker process of the fault suite: a manager running `crash_count` jobs until SIGTERM (a
 * graceful close, then exit 0). Every error the engine reports goes to stderr, one line each,
 * beginning with its tag, so the suite can count what an outage made it say.
 *   node --import tsx test/outages/faultWorker.ts '<json options>'
 * Options: { dataDir, databaseUrl?, concurrency?, leaseMs?, pollIntervalMs? }. Prints "ready" once open.
 */
import { JobManager } from "../../src/index.js"
import { FaultCountJob } from "./faultJobs.js"

const options = JSON.parse(process.argv[2] ?? "{}") as {
  dataDir: string
  databaseUrl?: string
  concurrency?: number
  leaseMs?: number
  pollIntervalMs?: number
}

const report = (error: unknown) => {
  const tag = (error as { _tag?: string })._tag ?? (error as Error).name
  process.stderr.write(`${tag}: ${String((error as Error).message ?? error).replaceAll("\n", " ")}\n`)
}

const manager = await JobManager.open({ ...options, jobs: [FaultCountJob], onError: report })
process.on("SIGTERM", () => {
  manager.close().then(
    () => process.exit(0),
    (error) => {
      report(error)
      process.exit(1)
    },
  )
})
process.stdout.write("ready\n")
setInterval(() => {}, 1_000)
