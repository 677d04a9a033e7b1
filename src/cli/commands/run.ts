import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import type { JobInfo } from "../../actors/JobInfo.js"
import { sendCommand } from "../../actors/remoteCommand.js"
import { InvalidTransition } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { ExitCode, JobDidNotComplete } from "../errors.js"
import { followJobs } from "../followJobs.js"
import { dataDirOf, jobsOf, priorityOption, readParams } from "../options.js"
import { reportOutcome } from "../outcome.js"
import { createProgressView } from "../render.js"

interface RunOptions {
  readonly params?: string
  readonly paramsFile?: string
  readonly priority?: number
  readonly detach?: boolean
}

export const registerRunCommand = (program: Command) => {
  program
    .command("run")
    .description("dispatch a job by type name and follow it until it ends; Ctrl-C pauses it")
    .argument("<type>", "the job type (see `jobstate types`)")
    .option("-p, --params <json>", "the job's params as JSON")
    .option("-f, --params-file <file>", "read the params from a JSON file")
    .option("--priority <p>", "higher runs first: low (-1), normal (0), high (1), critical (10), or any integer", priorityOption)
    .option("--detach", "only dispatch: print the id and leave the job to a `jobstate worker`")
    .action(async (type: string, options: RunOptions, command: Command) => {
      const dataDir = dataDirOf(command)
      const params = readParams(options)
      // Checked before a manager opens: bad input must leave the data dir untouched.
      const jobs = await jobsOf(command)
      new JobRegistry(jobs).decodeParams(type, params)
      const manager = await JobManager.open({ dataDir, jobs })
      try {
        const handle = await manager.dispatchByName(type, params, { priority: options.priority ?? 0 })
        if (options.detach) {
          process.stdout.write(`${handle.id}\n`)
          process.stderr.write(`Dispatched ${type} job ${handle.id}; a \`jobstate worker\` on ${dataDir} runs it.\n`)
          return
        }
        process.stderr.write(`Dispatched ${type} job ${handle.id}\n`)
        const info = await follow(manager, dataDir, handle.id, type)
        reportOutcome(info)
      } finally {
        await manager.close()
      }
    })
}

const follow = async (manager: JobManager, dataDir: string, id: string, label: string): Promise<JobInfo> => {
  const view = createProgressView(process.stderr)
  const following = followJobs(manager, [{ id, label }], view, {
    onStatus: (info, previous) => {
      if (previous !== undefined && info.status === "paused") view.log(`Job ${id} was paused (from another process); waiting for \`jobstate resume ${id}\``)
    },
  })
  let interrupted = false
  const onSigint = () => {
    if (interrupted) process.exit(ExitCode.Interrupted) // a second Ctrl-C does not wait for the job
    interrupted = true
    following.stop()
  }
  process.on("SIGINT", onSigint)
  try {
    const infos = await following.done
    view.stop()
    if (interrupted) await pauseOnInterrupt(manager, dataDir, id)
    return infos.get(id)!
  } finally {
    view.stop()
    process.off("SIGINT", onSigint)
  }
}

const pauseOnInterrupt = async (manager: JobManager, dataDir: string, id: string): Promise<never> => {
  process.stderr.write(`\nPausing job ${id} at its next checkpoint...\n`)
  const live = (await manager.listRunningJobs()).some((job) => job.id === id)
  // A job another process's manager claimed is paused through its row, not by this manager.
  const status = await (live ? manager.pause(id) : sendCommand({ dataDir, id, command: "pause" })).catch(async (error) => {
    if (error instanceof InvalidTransition) return (await manager.getJobInfo(id)).status // it ended first
    throw error
  })
  const message =
    status === "paused"
      ? `Paused job ${id}. It stays paused: run \`jobstate resume ${id}\`, then \`jobstate worker\` to run it (and \`jobstate watch ${id}\` to follow it).`
      : `Job ${id} ended as ${status} before it could be paused.`
  throw new JobDidNotComplete({ code: ExitCode.Interrupted, detail: message })
}
