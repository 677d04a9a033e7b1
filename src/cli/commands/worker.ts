import type { Command } from "commander"
import type { InspectionEvent } from "xstate"
import { JobManager } from "../../actors/JobManager.js"
import { errorLine, UnknownJobType, type StoredError } from "../../jobs/errors.js"
import { ExitCode, JobDidNotComplete } from "../errors.js"
import { formatDuration } from "../render.js"
import { integerOption, jobsOf, storeOf, whereOf } from "../options.js"

interface WorkerOptions {
  readonly concurrency: number
  readonly drain?: boolean
  readonly types?: string[]
  readonly quiet?: boolean
}

export const registerWorkerCommand = (program: Command) => {
  program
    .command("worker")
    .description(
      "run the data dir's jobs until SIGINT/SIGTERM (or, with --drain, until none is left), then stop gracefully",
    )
    .option("-c, --concurrency <n>", "jobs run at once", integerOption("--concurrency", 1), 4)
    .option(
      "-t, --types <a,b>",
      "run only jobs of these types (comma-separated; default: every type it knows)",
      (v: string) =>
        v
          .split(",")
          .map((t) => t.trim())
          .filter((t) => t !== ""),
    )
    .option(
      "--drain",
      "exit once no job of the known types is queued or running; exit 1 if a job this worker ran failed",
    )
    .option("-q, --quiet", "log failed jobs and the worker's own lines only, not every job's start and end")
    .action(async (options: WorkerOptions, command: Command) => {
      const where = storeOf(command)
      const dataDir = whereOf(where)
      const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)
      const ended = { completed: 0, failed: 0, cancelled: 0 }
      // Recovery inside open() already moves jobs, before there is a manager to ask for their names.
      let opened: (manager: JobManager) => void = () => {}
      const ready = new Promise<JobManager>((resolve) => (opened = resolve))
      const nameOf = (id: string) =>
        ready
          .then((m) => m.getJobInfo(id))
          .then(
            (info) => info.name,
            () => "?",
          )
      const jobs = await jobsOf(command)
      const known = jobs.map((d) => d.name)
      const unknown = (options.types ?? []).filter((t) => !known.includes(t))
      if (unknown.length > 0) throw new UnknownJobType({ name: unknown[0]!, known })
      const manager = await JobManager.open({
        ...where,
        jobs,
        concurrency: options.concurrency,
        ...(options.types === undefined ? {} : { types: options.types }),
        inspect: jobStatusLogger(
          log,
          nameOf,
          (status) => ended[status]++,
          options.quiet ? (status) => status === "failed" : () => true,
        ),
        onRecovered: (line) => log(line),
      })
      opened(manager)
      const types = options.types ?? manager.listJobTypes()
      const until = options.drain ? "until no job of these types is queued or running" : "Ctrl-C stops"
      log(
        `worker ${manager.id} on ${dataDir}: running up to ${options.concurrency} job(s) of ${types.join(", ")}; ${until}`,
      )
      // Jobs waiting for a type this worker does not know never run here: say so, and how.
      const others = new Map<string, number>()
      for (const c of await manager.countJobs()) {
        if ((c.status === "queued" || c.status === "running") && !types.includes(c.name))
          others.set(c.name, (others.get(c.name) ?? 0) + c.count)
      }
      for (const [name, n] of others) {
        const how = known.includes(name) ? `--types ${name}` : `--jobs <the module that exports the "${name}" job>`
        log(
          `note: ${n} queued or running ${name} job(s) on this store are not this worker's; a worker with ${how} runs them`,
        )
      }

      // The manager's timers do not hold the process open (an app decides its own lifetime); a worker must.
      const keepAlive = setInterval(() => {}, 60_000)
      let stopDraining = () => {}
      const signalled = new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"))
        process.once("SIGTERM", () => resolve("SIGTERM"))
      })
      const drained = options.drain
        ? untilDrained(manager, types, (stop) => (stopDraining = stop))
        : new Promise<never>(() => {})
      const reason = await Promise.race([signalled, drained.then(() => "drained" as const)])
      stopDraining()
      clearInterval(keepAlive)
      // A second signal means "now": the jobs resume from their last checkpoint either way.
      process.once("SIGINT", () => process.exit(130))
      if (reason === "drained") {
        log(`drained: no job of ${types.join(", ")} is queued or running; stopping`)
      } else {
        const left = (await manager.listRunningJobs()).length
        log(
          `${reason}: stopping; ${left} running job(s) pause at their next interrupt point and resume on the next start`,
        )
      }
      await manager.close()
      log(`this worker saw ${ended.completed} job(s) complete, ${ended.failed} fail, ${ended.cancelled} cancelled`)
      log("stopped")
      if (options.drain && ended.failed > 0) {
        throw new JobDidNotComplete({
          code: ExitCode.Failed,
          detail: `${ended.failed} job(s) failed; see \`npx jobstate list --status failed\``,
        })
      }
    })
}

const DRAIN_POLL_MS = 250

/**
 * Resolves once the store holds no queued or running job of `types`, wherever it runs: a job
 * another worker runs is waited for too, since it may yet be paused back into the queue. A
 * claim moves a row from queued to running in one write, so a job is never between the two.
 */
const untilDrained = (
  manager: JobManager,
  types: ReadonlyArray<string>,
  onStop: (stop: () => void) => void,
): Promise<void> => {
  const anyLeft = async () => {
    for (const status of ["queued", "running"] as const) {
      for (const name of types) if ((await manager.listJobs({ status, name, limit: 1 })).length > 0) return true
    }
    return false
  }
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    let stopped = false
    onStop(() => {
      stopped = true
      clearTimeout(timer)
    })
    const check = () =>
      anyLeft().then((left) => {
        if (stopped) return
        if (left) timer = setTimeout(check, DRAIN_POLL_MS)
        else resolve()
      }, reject)
    void check()
  })
}

interface JobSnapshotLike {
  readonly value: unknown
  readonly status?: string
  readonly context?: {
    readonly jobId?: unknown
    readonly attempt?: number
    readonly error?: StoredError | null
    readonly pausedBy?: string | null
  }
}

/**
 * Logs each job's status changes as its lifecycle actor makes them (those `shown`). The
 * inspection stream is the one place that sees every transition of this manager's jobs, however
 * short-lived; polling the store would miss a job that starts and ends between two looks.
 */
const jobStatusLogger = (
  log: (line: string) => void,
  nameOf: (id: string) => Promise<string>,
  onEnd: (status: "completed" | "failed" | "cancelled") => void,
  shown: (status: string) => boolean,
) => {
  const last = new Map<string, { status: string; since: number; name?: Promise<string> }>()
  return (event: InspectionEvent) => {
    if (event.type !== "@xstate.snapshot") return
    const snapshot = event.snapshot as unknown as JobSnapshotLike
    // The engine stops a job's actor once its end is written: not a transition.
    if (snapshot.status === "stopped") return
    const jobId = snapshot.context?.jobId
    if (typeof jobId !== "string") return
    const status = typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value as object)[0]
    const previous = last.get(jobId)
    if (status === undefined || previous?.status === status) return
    const now = Date.now()
    const ctx = snapshot.context!
    // Looked up once per job, when a line needs it; the lines still come out in order, each
    // waiting on its own lookup.
    let name = previous?.name
    if (shown(status)) {
      name ??= nameOf(jobId)
      let line = `${jobId}`
      if (status === "running") line += ` (attempt ${ctx.attempt ?? "?"})`
      else if (previous?.status === "running") line += ` after ${formatDuration(now - previous.since)}`
      if (status === "paused" && ctx.pausedBy) line += ` by ${ctx.pausedBy}`
      if (status === "failed" && ctx.error) line += `: ${errorLine(ctx.error)}`
      void name.then((n) => log(`${status} ${n} ${line}`))
    }
    if (status === "completed" || status === "failed" || status === "cancelled") {
      last.delete(jobId)
      onEnd(status)
    } else last.set(jobId, name === undefined ? { status, since: now } : { status, since: now, name })
  }
}
