import type { JobInfo } from "../actors/JobInfo.js"
import type { JobManager } from "../actors/JobManager.js"
import { InvalidTransition } from "../jobs/errors.js"
import { ExitCode, JobDidNotComplete } from "./errors.js"
import { followJobs } from "./followJobs.js"
import { createProgressView } from "./render.js"

/**
 * Follows one job of this manager's data dir with a progress bar until it ends, and returns its
 * info. Ctrl-C (or SIGTERM) pauses the job (exit 130, with how to resume it); a second exits at once.
 */
export const followJob = async (
  manager: JobManager,
  id: string,
  label: string,
  cli = "npx jobstate",
): Promise<JobInfo> => {
  const view = createProgressView(process.stderr)
  const following = followJobs(manager, [{ id, label }], view, {
    onStatus: (info, previous) => {
      if (previous !== undefined && info.status === "paused")
        view.log(`Job ${id} was paused (from another process); waiting for \`jobstate resume ${id}\``)
    },
  })
  let interrupted = false
  const onSigint = () => {
    if (interrupted) process.exit(ExitCode.Interrupted) // a second Ctrl-C does not wait for the job
    interrupted = true
    following.stop()
  }
  // SIGTERM (timeout, systemd, a container's stop) as Ctrl-C: the job is paused, not left running.
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigint)
  try {
    const infos = await following.done
    view.stop()
    if (interrupted) await pauseOnInterrupt(manager, id, cli)
    return infos.get(id)!
  } finally {
    view.stop()
    process.off("SIGINT", onSigint)
    process.off("SIGTERM", onSigint)
  }
}

const pauseOnInterrupt = async (manager: JobManager, id: string, cli: string): Promise<never> => {
  process.stderr.write(`\nPausing job ${id} at its next interrupt point (a checkpoint or checkInterrupt)...\n`)
  // A job another process's manager claimed is paused through its row: the manager knows how.
  const status = await manager.pause(id).catch(async (error: unknown) => {
    if (error instanceof InvalidTransition) return (await manager.getJobInfo(id)).status // it ended first
    throw error
  })
  const message =
    status === "paused"
      ? `Paused job ${id}. It stays paused: \`${cli} resume --wait ${id}\` finishes it in this terminal, ` +
        `or \`${cli} resume ${id}\` leaves it to a \`${cli} worker\` (\`${cli} watch ${id}\` follows it).`
      : `Job ${id} ended as ${status} before it could be paused.`
  throw new JobDidNotComplete({ code: ExitCode.Interrupted, detail: message })
}
