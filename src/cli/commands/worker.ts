import type { Command } from "commander"
import type { InspectionEvent } from "xstate"
import { JobManager } from "../../actors/JobManager.js"
import { UnknownJobType, type StoredError } from "../../jobs/errors.js"
import { formatDuration } from "../render.js"
import { integerOption, jobsOf, storeOf, whereOf } from "../options.js"

export const registerWorkerCommand = (program: Command) => {
  program
    .command("worker")
    .description("run the data dir's jobs until SIGINT/SIGTERM, then stop gracefully (interrupted jobs resume on the next start)")
    .option("-c, --concurrency <n>", "jobs run at once", integerOption("--concurrency", 1), 4)
    .option("-t, --types <a,b>", "run only jobs of these types (comma-separated; default: every type it knows)", (v: string) =>
      v.split(",").map((t) => t.trim()).filter((t) => t !== ""),
    )
    .action(async (options: { concurrency: number; types?: string[] }, command: Command) => {
      const where = storeOf(command)
      const dataDir = whereOf(where)
      const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)
      // Recovery inside open() already moves jobs, before there is a manager to ask for their names.
      let opened: (manager: JobManager) => void = () => {}
      const ready = new Promise<JobManager>((resolve) => (opened = resolve))
      const nameOf = (id: string) => ready.then((m) => m.getJobInfo(id)).then((info) => info.name, () => "?")
      const jobs = await jobsOf(command)
      const known = jobs.map((d) => d.name)
      const unknown = (options.types ?? []).filter((t) => !known.includes(t))
      if (unknown.length > 0) throw new UnknownJobType({ name: unknown[0]!, known })
      const manager = await JobManager.open({
        ...where,
        jobs,
        concurrency: options.concurrency,
        ...(options.types === undefined ? {} : { types: options.types }),
        inspect: jobStatusLogger(log, nameOf),
        onRecovered: (line) => log(line),
      })
      opened(manager)
      const types = options.types ?? manager.listJobTypes()
      log(`worker ${manager.id} on ${dataDir}: running up to ${options.concurrency} job(s) of ${types.join(", ")}; Ctrl-C stops`)

      // The manager's timers do not hold the process open (an app decides its own lifetime); a worker must.
      const keepAlive = setInterval(() => {}, 60_000)
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"))
        process.once("SIGTERM", () => resolve("SIGTERM"))
      })
      clearInterval(keepAlive)
      // A second signal means "now": the jobs resume from their last checkpoint either way.
      process.once("SIGINT", () => process.exit(130))
      const left = (await manager.listRunningJobs()).length
      log(`${signal}: stopping; ${left} running job(s) pause at their next checkpoint and resume on the next start`)
      await manager.close()
      log("stopped")
    })
}

interface JobSnapshotLike {
  readonly value: unknown
  readonly context?: { readonly jobId?: unknown; readonly attempt?: number; readonly error?: StoredError | null; readonly pausedBy?: string | null }
}

/**
 * Logs each job's status changes as its lifecycle actor makes them. The inspection stream is
 * the one place that sees every transition of this manager's jobs, however short-lived; polling
 * the store would miss a job that starts and ends between two looks.
 */
const jobStatusLogger = (log: (line: string) => void, nameOf: (id: string) => Promise<string>) => {
  const last = new Map<string, { status: string; since: number; name: Promise<string> }>()
  return (event: InspectionEvent) => {
    if (event.type !== "@xstate.snapshot") return
    const snapshot = event.snapshot as unknown as JobSnapshotLike
    const jobId = snapshot.context?.jobId
    if (typeof jobId !== "string") return
    const status = typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value as object)[0]
    const previous = last.get(jobId)
    if (status === undefined || previous?.status === status) return
    const now = Date.now()
    const ctx = snapshot.context!
    // Looked up once per job; the lines still come out in order, each waiting on its own lookup.
    const name = previous?.name ?? nameOf(jobId)
    let line = `${jobId}`
    if (status === "running") line += ` (attempt ${ctx.attempt ?? "?"})`
    else if (previous?.status === "running") line += ` after ${formatDuration(now - previous.since)}`
    if (status === "paused" && ctx.pausedBy) line += ` by ${ctx.pausedBy}`
    if (status === "failed" && ctx.error) line += `: [${ctx.error._tag}] ${ctx.error.message}`
    void name.then((n) => log(`${status} ${n} ${line}`))
    if (status === "completed" || status === "failed" || status === "cancelled") last.delete(jobId)
    else last.set(jobId, { status, since: now, name })
  }
}
