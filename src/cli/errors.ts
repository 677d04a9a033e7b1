import { Data } from "effect"
import { nearNames } from "../actors/nearNames.js"

/** Exit codes of the `jobstate` command. */
export const ExitCode = {
  Ok: 0,
  /** The job failed or was cancelled, or the engine could not do what was asked (a persistence error). */
  Failed: 1,
  /** Bad input: an unknown type, id or option, invalid params, a transition the job's state does not allow. */
  Usage: 2,
  /** Stopped by Ctrl-C (the job was paused), as shells report SIGINT. */
  Interrupted: 130,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Bad input found by the CLI itself (a malformed option or file), before the engine sees it. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/** A job command ended in a status that is not success; its message is already printed. */
export class JobDidNotComplete extends Data.TaggedError("JobDidNotComplete")<{
  readonly code: ExitCode
  readonly detail: string
}> {
  override get message() {
    return this.detail
  }
}

// The engine's errors that mean "the user asked for something that cannot be": exit 2, not 1.
const userErrorTags = new Set([
  "UsageError",
  "UnknownJobType",
  "InvalidParams",
  "JobNotFound",
  "InvalidTransition",
  "InvalidOptions",
])

const tagOf = (error: unknown): string | undefined => {
  const tag = typeof error === "object" && error !== null ? (error as { _tag?: unknown })._tag : undefined
  return typeof tag === "string" ? tag : undefined
}

/** The exit code for an error that reached the top of a command. */
export const exitCodeOf = (error: unknown): ExitCode => {
  if (error instanceof JobDidNotComplete) return error.code
  const tag = tagOf(error)
  return tag !== undefined && userErrorTags.has(tag) ? ExitCode.Usage : ExitCode.Failed
}

/**
 * One line for the terminal. Tagged errors are expected and have readable messages, so no
 * stack; anything else is a bug, whose stack is shown only with JOBSTATE_DEBUG=1 so that a
 * user still gets one line to report.
 */
export const formatError = (error: unknown, context: { readonly jobsGiven?: boolean } = {}): string => {
  const tag = tagOf(error)
  const message =
    error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
      ? String((error as { message: unknown }).message)
      : String(error)
  const oneLine = message.replace(/\s*\n\s*/g, " ").trim()
  if (tag === "UsageError" || tag === "JobDidNotComplete") return oneLine
  // The CLI knows the built-in types and those of --jobs: an app's own type needs its module.
  if (tag === "UnknownJobType") {
    const { name, known } = error as { name?: unknown; known?: unknown }
    const near =
      typeof name === "string" && Array.isArray(known)
        ? nearNames(
            name,
            known.filter((k): k is string => typeof k === "string"),
          )
        : []
    const hint =
      near.length > 0
        ? `did you mean ${near.map((k) => `"${k}"`).join(" or ")}?`
        : context.jobsGiven
          ? "is it exported by name from your --jobs module?"
          : "a type of your own: add --jobs <the module that exports it>"
    return `${tag}: ${oneLine} (${hint})`
  }
  return tag !== undefined ? `${tag}: ${oneLine}` : `unexpected error: ${oneLine} (set JOBSTATE_DEBUG=1 for the stack)`
}
