import type { Command } from "commander"
import { JobManager, type DispatchOptions } from "../../actors/JobManager.js"
import { InvalidParams } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { UsageError } from "../errors.js"
import { followJob } from "../followJob.js"
import {
  durationOption,
  integerOption,
  invocationOf,
  jobsOf,
  priorityOption,
  readParams,
  storeOf,
  workerHintOf,
} from "../options.js"
import { reportOutcome } from "../outcome.js"
import { formatCount } from "../render.js"
import { isManyParamsFile, paramsSourceOf, readParamsLines, type ParamsLine } from "../paramsLines.js"

interface RunOptions {
  readonly params?: string
  readonly paramsFile?: string
  readonly priority?: number
  readonly delay?: number
  readonly uniqueKey?: string
  readonly timeout?: number
  readonly detach?: boolean
  readonly batchSize: number
}

/** Many jobs' params (NDJSON) are dispatched this many to a `dispatchManyByName` call: one transaction each. */
export const RUN_BATCH = 10_000

export const registerRunCommand = (program: Command) => {
  program
    .command("run")
    .description(
      "dispatch a job by type name and follow it until it ends; Ctrl-C pauses it (many jobs, one a line: --params-file -)",
    )
    .argument("<type>", "the job type (see `jobstate types`)")
    .option("-p, --params <json>", "the job's params as JSON")
    .option(
      "-f, --params-file <file>",
      "read the params from a JSON file; from `-` (stdin) or a .ndjson/.jsonl file, many jobs' params, one JSON object a line: each line a job, dispatched (not followed), their ids printed one a line",
    )
    .option(
      "--priority <p>",
      "higher runs first: low (-1), normal (0), high (1), critical (10), or any integer",
      priorityOption,
    )
    .option("--delay <duration>", "start it no sooner than this from now: 30s, 15m, 2h, 7d", durationOption("--delay"))
    .option(
      "--unique-key <key>",
      "while a job with this key is not finished, give its id instead of dispatching another (one job only)",
    )
    .option(
      "--timeout <duration>",
      "fail an attempt that runs longer than this (JobTimeout, retried as the type's policy says)",
      durationOption("--timeout"),
    )
    .option("--detach", "only dispatch: print the id and leave the job to a `jobstate worker`")
    .option(
      "--batch-size <n>",
      `with many params: store this many jobs per transaction, each batch all or nothing (every line is checked before the first is stored)`,
      integerOption("--batch-size", 1),
      RUN_BATCH,
    )
    .addHelpText(
      "after",
      `
Many jobs at once: \`jobstate run <type> --params-file - < jobs.ndjson\` (or a .ndjson/.jsonl file)
dispatches a job per line, in order, ${formatCount(RUN_BATCH)} per transaction (--batch-size), and prints
their ids one a line, as --detach does; a worker runs them. --priority, --delay and --timeout
apply to each. A line that is not JSON, or params a job would refuse, is an error naming the
line, and nothing is dispatched.`,
    )
    .action(async (type: string, options: RunOptions, command: Command) => {
      if (isManyParamsFile(options.paramsFile)) return runMany(type, options.paramsFile, options, command)
      const where = storeOf(command)
      const params = readParams(options, { ndjson: true })
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
        const handle = await manager.dispatchByName(type, params, dispatchOptionsOf(options))
        if (options.detach) {
          process.stdout.write(`${handle.id}\n`)
          const workers = await workersOf(manager, type)
          process.stderr.write(
            workers > 0
              ? `Dispatched ${type} job ${handle.id}; a worker runs it (${workers} of type "${type}" running)\n`
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

const dispatchOptionsOf = (options: RunOptions): DispatchOptions => ({
  priority: options.priority ?? 0,
  ...(options.delay === undefined ? {} : { delayMs: options.delay }),
  ...(options.uniqueKey === undefined ? {} : { uniqueKey: options.uniqueKey }),
  ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
})

/** Live managers other than `manager` that run `type`. */
const workersOf = async (manager: JobManager, type: string): Promise<number> =>
  (await manager.listManagers()).filter((m) => m.id !== manager.id && m.state === "live" && m.types.includes(type))
    .length

/** `InvalidParams` of one line, told by its line number rather than its index. */
const invalidLine = (error: InvalidParams, line: number, source: string): UsageError => {
  const issues = error.issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")
  return new UsageError({
    detail: `Invalid params for "${error.jobName}" on line ${line} of ${source}: ${issues}; nothing was dispatched`,
  })
}

/**
 * `run` with many params (NDJSON): every line read and checked first, so a bad one dispatches
 * nothing; then `dispatchManyByName` a batch at a time, each batch's ids printed once it is
 * stored. The jobs are left to a worker: following thousands of bars makes no sense.
 */
const runMany = async (type: string, file: string, options: RunOptions, command: Command) => {
  const source = paramsSourceOf(file)
  if (options.params !== undefined) throw new UsageError({ detail: "Give either --params or --params-file, not both" })
  if (options.uniqueKey !== undefined)
    throw new UsageError({
      detail: `--unique-key names one job: it cannot be given with many params (${source}), where every job would have it and all but the first would be the first one's id`,
    })
  const where = storeOf(command)
  const lines = await readParamsLines(file)
  // Checked before a manager opens: bad input must leave the data dir untouched.
  const jobs = await jobsOf(command)
  const registry = new JobRegistry(jobs)
  for (const { line, params } of lines) {
    try {
      registry.decodeParams(type, params)
    } catch (error) {
      if (error instanceof InvalidParams) throw invalidLine(error, line, source)
      throw error
    }
  }
  const manager = await JobManager.open({ ...where, jobs, concurrency: 0 })
  let dispatched = 0
  try {
    const dispatchOptions = dispatchOptionsOf(options)
    for (let start = 0; start < lines.length; start += options.batchSize) {
      const batch: ReadonlyArray<ParamsLine> = lines.slice(start, start + options.batchSize)
      let handles: ReadonlyArray<{ readonly id: string }>
      try {
        handles = await manager.dispatchManyByName(
          type,
          batch.map((l) => l.params),
          dispatchOptions,
        )
      } catch (error) {
        if (dispatched > 0)
          process.stderr.write(
            `Dispatched ${formatCount(dispatched)} of ${formatCount(lines.length)} ${type} jobs (their ids are above); from line ${batch[0]!.line} on, none:\n`,
          )
        if (error instanceof InvalidParams && error.index !== undefined && batch[error.index] !== undefined)
          throw invalidLine(error, batch[error.index]!.line, source)
        throw error
      }
      process.stdout.write(`${handles.map((h) => h.id).join("\n")}\n`)
      dispatched += handles.length
    }
    const workers = await workersOf(manager, type)
    const jobsWord = `${formatCount(dispatched)} ${type} job${dispatched === 1 ? "" : "s"}`
    process.stderr.write(
      workers > 0
        ? `Dispatched ${jobsWord} from ${source}; a worker runs them (${workers} of type "${type}" running)\n`
        : `Dispatched ${jobsWord} from ${source}; no worker of type "${type}" is running: start one with \`${await workerHintOf(command, type)}\`\n`,
    )
  } finally {
    await manager.close()
  }
}
