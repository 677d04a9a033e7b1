import { InvalidArgumentError, type Command } from "commander"
import { Cleanups } from "../../actors/cleanup.js"
import { restingStatuses, type RestingStatus } from "../../jobs/JobStatus.js"
import { durationOption, integerOption, storeOf, whereOf } from "../options.js"
import { withStore } from "../readStore.js"
import { createCountLine, formatCount } from "../render.js"

interface PruneCliOptions {
  readonly status: ReadonlyArray<RestingStatus>
  readonly olderThan: number
  readonly json?: boolean
  readonly batchSize?: number
}

/** `--status completed,failed`: statuses jobs rest in, and only those. */
const statusesOption = (value: string): ReadonlyArray<RestingStatus> => {
  const statuses = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
  if (statuses.length === 0)
    throw new InvalidArgumentError(`--status needs one or more of ${restingStatuses.join(", ")}.`)
  for (const s of statuses) {
    if (!(restingStatuses as ReadonlyArray<string>).includes(s)) {
      throw new InvalidArgumentError(
        `"${s}" is not a status jobs rest in: prune deletes only ${restingStatuses.join(", ")} jobs.`,
      )
    }
  }
  return [...new Set(statuses)] as RestingStatus[]
}

/**
 * `jobstate prune`: what `manager.prune` does, on the store directly (opening a manager would
 * recover and start jobs): deletes jobs at rest, with their logs, events and private directories.
 */
export const registerPruneCommand = (program: Command) => {
  program
    .command("prune")
    .description(
      "delete completed, failed or cancelled jobs that ended long enough ago, with their logs and private directories",
    )
    .requiredOption("--status <statuses>", `which jobs, comma-separated: ${restingStatuses.join(", ")}`, statusesOption)
    .requiredOption(
      "--older-than <duration>",
      "only jobs that ended at least this long ago: 30s, 15m, 2h, 7d, 2w (0: any age)",
      durationOption("--older-than"),
    )
    .option(
      "--batch-size <n>",
      "at most this many jobs deleted per transaction (default 500; fewer when a batch would hold the write lock long)",
      integerOption("--batch-size", 1),
    )
    .option("--json", "print JSON: { deleted, byStatus }")
    .action(async (options: PruneCliOptions, command: Command) => {
      const where = storeOf(command)
      const cleanups = new Cleanups(where.dataDir, (error) =>
        process.stderr.write(`jobstate: ${(error as Error).message}\n`),
      )
      const completedBefore = options.olderThan > 0 ? new Date(Date.now() - options.olderThan).toISOString() : undefined
      const byStatus: Partial<Record<RestingStatus, number>> = {}
      // A big prune takes a while: a running count on a terminal's stderr (nothing on a pipe, nor with --json).
      let current: RestingStatus = options.status[0]!
      const progress = options.json
        ? createCountLine(process.stderr, () => "", { interactive: false })
        : createCountLine(process.stderr, (n) => `Pruning: ${formatCount(n)} jobs deleted (${current})…`)
      try {
        await withStore(
          where,
          async (store) => {
            for (const status of options.status) {
              current = status
              byStatus[status] = await store.pruneJobs(
                {
                  status,
                  ...(completedBefore === undefined ? {} : { completedBefore }),
                  ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
                },
                async (ids) => {
                  progress.add(ids.length)
                  await cleanups.removeDirs(ids)
                },
              )
            }
          },
          () => undefined,
          { readOnly: false },
        )
      } finally {
        progress.done()
      }
      const deleted = Object.values(byStatus).reduce((a, b) => a + b, 0)
      if (options.json) return void process.stdout.write(`${JSON.stringify({ deleted, byStatus })}\n`)
      const parts = options.status.map((s) => `${formatCount(byStatus[s] ?? 0)} ${s}`).join(", ")
      const age = completedBefore === undefined ? "of any age" : `that ended before ${completedBefore}`
      process.stdout.write(
        `Deleted ${formatCount(deleted)} job${deleted === 1 ? "" : "s"} ${age} from ${whereOf(where)}: ${parts}\n`,
      )
    })
}
