/**
 * One life of the crash harness's worker: open the manager (recovering what the last life
 * left), dispatch a few seeded jobs, pause and resume some, until killed. Some pauses are for
 * good: those jobs (listed in held.log) are never resumed before the end, so the harness can
 * check that they stay paused across every restart. Every resume is logged (resumes.log)
 * before it is asked for. With "finish", resume every paused job and run until every job has
 * ended, then close and exit 0.
 *   node --import tsx test/crash/worker.ts <dataDir> <seed> <life> [finish]
 */
import { appendFileSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { isTerminalStatus, JobManager } from "../../src/index.js"
import { CrashCountJob, CrashFailJob, CrashNoopJob, crashJobs } from "./crashJobs.js"
import { prng } from "./prng.js"

const [dataDir, seedArg, lifeArg, mode] = process.argv.slice(2) as [string, string, string, string?]
const random = prng(Number(seedArg) * 1000 + Number(lifeArg))
const effectsFile = join(dataDir, "effects.log")
const dispatchedFile = join(dataDir, "dispatched.log")
const heldFile = join(dataDir, "held.log")
const resumesFile = join(dataDir, "resumes.log")
const readLines = (file: string) => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}
const held = new Set(readLines(heldFile))
/** Logged first, so the harness knows of every resume that may have happened in this life. */
const resume = (id: string) => {
  appendFileSync(resumesFile, `${lifeArg} ${id}\n`)
  return manager.resume(id)
}

const manager = await JobManager.open({
  dataDir,
  jobs: crashJobs,
  concurrency: 4,
  interruptGraceMs: 300,
  onError: () => {},
})
process.stdout.write("ready\n")
process.on("SIGTERM", () => {
  void manager.close().then(() => process.exit(0))
})

if (mode === "finish") {
  for (const job of await manager.listJobs({ status: "paused" })) await resume(job.id).catch(() => {})
  for (;;) {
    // Its own types' jobs only: a store filled with `--stored` (filler.ts) holds jobs of another type it never runs.
    const jobs = (await Promise.all(crashJobs.map((job) => manager.listJobs({ name: job.name })))).flat()
    if (jobs.every((j) => isTerminalStatus(j.status))) break
    await new Promise((r) => setTimeout(r, 20))
  }
  await manager.close()
  process.stdout.write("finished\n")
  process.exit(0)
}

for (let i = 0, count = random.int(2, 6); i < count; i++) {
  const kind = random.next()
  const handle =
    kind < 0.6
      ? await manager.dispatch(
          CrashCountJob,
          { n: random.int(5, 40), effectsFile, delayMs: random.int(0, 8) },
          { priority: random.int(-1, 1) },
        )
      : kind < 0.85
        ? await manager.dispatch(CrashNoopJob, {})
        : await manager.dispatch(CrashFailJob, { afterMs: random.int(0, 30) })
  appendFileSync(dispatchedFile, `${handle.id} ${handle.name}\n`)
}

// Users pause and resume jobs while all this goes on.
setInterval(async () => {
  try {
    const running = await manager.listRunningJobs()
    if (running.length > 0 && random.next() < 0.3) {
      const { id } = random.pick(running)
      if (random.next() < 0.25) {
        held.add(id)
        appendFileSync(heldFile, `${id}\n`)
      }
      await manager.pause(id)
    }
    const paused = (await manager.listJobs({ status: "paused" })).filter((j) => !held.has(j.id))
    if (paused.length > 0 && random.next() < 0.5) await resume(random.pick(paused).id)
  } catch {
    // A job that moved on between the listing and the command: an InvalidTransition, fine.
  }
}, 15)
