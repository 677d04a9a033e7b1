import { InvalidArgumentError, type Command } from "commander"
import { Cleanups } from "../../actors/cleanup.js"
import { restingStatuses, type RestingStatus } from "../../jobs/JobStatus.js"
import { durationOption, storeOf, whereOf } from "../options.js"
import { withStore } from "../readStore.js"

interface PruneCliOptions {
  readonly status: ReadonlyArray<RestingStatus>
  readonly olderThan: number
  readonly json?: boolean
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
    .option("--json", "print JSON: { deleted, byStatus }")
    .action(async (options: PruneCliOptions, command: Command) => {
      const where = storeOf(command)
      const cleanups = new Cleanups(where.dataDir, (error) =>
        process.stderr.write(`jobstate: ${(error as Error).message}\n`),
      )
      const completedBefore = options.olderThan > 0 ? new Date(Date.now() - options.olderThan).toISOString() : undefined
      const byStatus: Partial<Record<RestingStatus, number>> = {}
      await withStore(
        where,
        async (store) => {
          for (const status of options.status) {
            byStatus[status] = await store.pruneJobs(
              { status, ...(completedBefore === undefined ? {} : { completedBefore }) },
              (ids) => cleanups.removeDirs(ids),
            )
          }
        },
        () => undefined,
        { readOnly: false },
      )
      const deleted = Object.values(byStatus).reduce((a, b) => a + b, 0)
      if (options.json) return void process.stdout.write(`${JSON.stringify({ deleted, byStatus })}\n`)
      const parts = options.status.map((s) => `${byStatus[s] ?? 0} ${s}`).join(", ")
      const age = completedBefore === undefined ? "of any age" : `that ended before ${completedBefore}`
      process.stdout.write(
        `Deleted ${deleted} job${deleted === 1 ? "" : "s"} ${age} from ${whereOf(where)}: ${parts}\n`,
      )
    })
}
