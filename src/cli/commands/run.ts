import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { followJob } from "../followJob.js"
import { durationOption, invocationOf, jobsOf, priorityOption, readParams, storeOf, workerHintOf } from "../options.js"
import { reportOutcome } from "../outcome.js"

interface RunOptions {
  readonly params?: string
  readonly paramsFile?: string
  readonly priority?: number
  readonly delay?: number
  readonly uniqueKey?: string
  readonly timeout?: number
  readonly detach?: boolean
}

export const registerRunCommand = (program: Command) => {
  program
    .command("run")
    .description("dispatch a job by type name and follow it until it ends; Ctrl-C pauses it")
    .argument("<type>", "the job type (see `jobstate types`)")
    .option("-p, --params <json>", "the job's params as JSON")
    .option("-f, --params-file <file>", "read the params from a JSON file")
    .option(
      "--priority <p>",
      "higher runs first: low (-1), normal (0), high (1), critical (10), or any integer",
      priorityOption,
    )
    .option("--delay <duration>", "start it no sooner than this from now: 30s, 15m, 2h, 7d", durationOption("--delay"))
    .option(
      "--unique-key <key>",
      "while a job with this key is not finished, give its id instead of dispatching another",
    )
    .option(
      "--timeout <duration>",
      "fail an attempt that runs longer than this (JobTimeout, retried as the type's policy says)",
      durationOption("--timeout"),
    )
    .option("--detach", "only dispatch: print the id and leave the job to a `jobstate worker`")
    .action(async (type: string, options: RunOptions, command: Command) => {
      const where = storeOf(command)
      const params = readParams(options)
      // Checked before a manager opens: bad input must leave the data dir untouched.
      const jobs = await jobsOf(command)
      new JobRegistry(jobs).decodeParams(type, params)
      // It runs the job it dispatches and nothing else: other queued jobs are a worker's. A
      // detached dispatch runs nothing at all.
      const manager = await JobManager.open({
        ...where,
        jobs,
        ...(options.detach ? { concurrency: 0 } : { runOnlyOwn: true }),
      })
      try {
        const handle = await manager.dispatchByName(type, params, {
          priority: options.priority ?? 0,
          ...(options.delay === undefined ? {} : { delayMs: options.delay }),
          ...(options.uniqueKey === undefined ? {} : { uniqueKey: options.uniqueKey }),
          ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
        })
        if (options.detach) {
          process.stdout.write(`${handle.id}\n`)
          // The hint carries this command's -d, --jobs and --database-url, so it can be pasted as it is.
          const workers = (await manager.listManagers()).filter(
            (m) => m.id !== manager.id && m.state === "live" && m.types.includes(type),
          )
          process.stderr.write(
            workers.length > 0
              ? `Dispatched ${type} job ${handle.id}; a worker runs it (${workers.length} of type "${type}" running)\n`
              : `Dispatched ${type} job ${handle.id}; no worker of type "${type}" is running: start one with \`${await workerHintOf(command, type)}\`\n`,
          )
          return
        }
        process.stderr.write(`Dispatched ${type} job ${handle.id}\n`)
        const info = await followJob(manager, handle.id, type, invocationOf(command))
        reportOutcome(info)
      } finally {
        await manager.close()
      }
    })
}
