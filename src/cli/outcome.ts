import type { JobInfo } from "../actors/JobInfo.js"
import { ExitCode, JobDidNotComplete } from "./errors.js"
import { elapsedBetween } from "./render.js"

/**
 * The end of `run` and `watch <id>`: the output JSON on stdout (so it can be piped), the rest on
 * stderr; a job that did not complete makes the command fail with one line saying why.
 */
export const reportOutcome = (info: JobInfo): void => {
  const took = elapsedBetween(info.startedAt, info.completedAt)
  if (info.status === "completed") {
    process.stdout.write(`${JSON.stringify(info.output, null, 2)}\n`)
    process.stderr.write(`Job ${info.id} completed${took ? ` in ${took}` : ""}\n`)
    return
  }
  const why = info.status === "failed" && info.error ? `: [${info.error._tag}] ${info.error.message}` : ""
  throw new JobDidNotComplete({ code: ExitCode.Failed, detail: `Job ${info.id} ${info.status}${why}` })
}
