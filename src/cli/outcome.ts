import type { JobInfo } from "../actors/JobInfo.js"
import { errorLine } from "../jobs/errors.js"
import { ExitCode, JobDidNotComplete } from "./errors.js"
import { elapsedBetween } from "./render.js"

/**
 * How many items a completed job could not process, when its output says so with a
 * `failedCount` (file_copy does: a file it could not copy does not fail the whole copy).
 */
export const failedItemsOf = (output: unknown): { readonly count: number; readonly first: string | null } => {
  const o =
    typeof output === "object" && output !== null ? (output as { failedCount?: unknown; failedCopies?: unknown }) : {}
  const count = typeof o.failedCount === "number" ? o.failedCount : 0
  const first = Array.isArray(o.failedCopies)
    ? (o.failedCopies[0] as { source?: unknown; reason?: unknown } | undefined)
    : undefined
  return { count, first: first === undefined ? null : `${String(first.source)}: ${String(first.reason)}` }
}

/**
 * The end of `run`, `resume --wait` and `watch <id>`: the output JSON on stdout (so it can be
 * piped), the rest on stderr; a job that did not complete, or completed with items that failed
 * (as `cp` exits 1 when a file could not be copied), makes the command fail with one line saying why.
 */
export const reportOutcome = (info: JobInfo): void => {
  const took = elapsedBetween(info.startedAt, info.completedAt)
  if (info.status === "completed") {
    process.stdout.write(`${JSON.stringify(info.output, null, 2)}\n`)
    const failed = failedItemsOf(info.output)
    if (failed.count > 0) {
      const example = failed.first === null ? "" : ` (first: ${failed.first})`
      throw new JobDidNotComplete({
        code: ExitCode.Failed,
        detail: `Job ${info.id} completed${took ? ` in ${took}` : ""}, but ${failed.count} item(s) failed${example}; see its output`,
      })
    }
    process.stderr.write(`Job ${info.id} completed${took ? ` in ${took}` : ""}\n`)
    return
  }
  const why = info.status === "failed" && info.error ? `: ${errorLine(info.error)}` : ""
  throw new JobDidNotComplete({ code: ExitCode.Failed, detail: `Job ${info.id} ${info.status}${why}` })
}
