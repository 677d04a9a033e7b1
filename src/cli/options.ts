import { readFileSync, statSync } from "node:fs"
import { resolve } from "node:path"
import { InvalidArgumentError, type Command } from "commander"
import type { JobDefinition } from "../jobs/defineJob.js"
import { JobPriority } from "../jobs/JobPriority.js"
import { UsageError } from "./errors.js"
import { loadJobs } from "./jobs.js"
import { looksLikeNdjson } from "./paramsLines.js"

/**
 * The data dir given to the program (`--data-dir` may come before or after the command name).
 * A path that exists but is not a directory is bad input, said at once: otherwise `list` would
 * find no jobs there, `watch` would wait for a database that can never appear, and `run` would
 * fail deep inside with EEXIST. A path that does not exist yet is fine (a manager creates it).
 */
export const dataDirOf = (command: Command): string => {
  const dir = resolve(String(command.optsWithGlobals().dataDir))
  let isDirectory: boolean
  try {
    isDirectory = statSync(dir).isDirectory()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT") return dir
    // ENOTDIR: a parent on the path is a file.
    if (code !== "ENOTDIR")
      throw new UsageError({ detail: `Cannot use the data dir ${dir}: ${(error as Error).message}` })
    isDirectory = false
  }
  if (!isDirectory)
    throw new UsageError({ detail: `The data dir ${dir} is not a directory (--data-dir or JOBSTATE_DATA_DIR)` })
  return dir
}

/** Where the jobs are: the data dir, and the PostgreSQL database when `--database-url` (or `JOBSTATE_DATABASE_URL`) names one. */
export const storeOf = (command: Command): { readonly dataDir: string; readonly databaseUrl?: string } => {
  const url = command.optsWithGlobals().databaseUrl as string | undefined
  if (url === undefined || url === "") return { dataDir: dataDirOf(command) }
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new UsageError({
      detail: `--database-url (or JOBSTATE_DATABASE_URL) must be a postgres:// URL, got ${JSON.stringify(url)}`,
    })
  return { dataDir: dataDirOf(command), databaseUrl: url }
}

/**
 * `npx jobstate` with the options this invocation runs with (a data dir other than the default,
 * each `--jobs`, a `--database-url` given on the command line), so a hint can be pasted as is.
 */
export const invocationOf = (command: Command): string => {
  const opts = command.optsWithGlobals() as { dataDir?: string; jobs?: string[]; databaseUrl?: string }
  const parts = ["npx jobstate"]
  if (opts.dataDir !== undefined && resolve(opts.dataDir) !== resolve("./.jobstate"))
    parts.push(`-d ${quote(resolve(opts.dataDir))}`)
  for (const module of opts.jobs ?? []) parts.push(`--jobs ${quote(module)}`)
  if (opts.databaseUrl && process.env.JOBSTATE_DATABASE_URL !== opts.databaseUrl)
    parts.push(`--database-url ${quote(whereOf({ dataDir: "", databaseUrl: opts.databaseUrl }))}`)
  return parts.join(" ")
}

/**
 * The command that starts a worker for jobs of `type`: this invocation's, when it knows the type
 * (built in, or from its `--jobs`); else with a `--jobs` to fill in, since a worker without the
 * module that defines a type never runs its jobs.
 */
export const workerHint = (command: Command, type: string, known: ReadonlyArray<string>): string =>
  known.includes(type)
    ? `${invocationOf(command)} worker`
    : `${invocationOf(command)} --jobs <the module that exports the "${type}" job> worker`

/** `s` as a shell word: as is when it can be, else in single quotes. */
export const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

/** A data dir or database, for messages. */
export const whereOf = (store: { readonly dataDir: string; readonly databaseUrl?: string }): string =>
  store.databaseUrl === undefined ? store.dataDir : store.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

/** The job types for this invocation: the builtin ones and those of `--jobs <module>` (repeatable). */
export const jobsOf = (command: Command): Promise<ReadonlyArray<JobDefinition>> =>
  loadJobs((command.optsWithGlobals().jobs as ReadonlyArray<string> | undefined) ?? [])

/** A commander option parser for whole numbers; a bad value is a one-line usage error. */
export const integerOption =
  (name: string, min?: number, max?: number) =>
  (value: string): number => {
    const n = Number(value)
    // Commander prints this as one line naming the option, and exits through our usage path.
    if (!Number.isInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
      const range =
        min !== undefined && max !== undefined
          ? ` from ${min} to ${max}`
          : min !== undefined
            ? ` >= ${min}`
            : max !== undefined
              ? ` <= ${max}`
              : ""
      throw new InvalidArgumentError(`${name} must be an integer${range}.`)
    }
    return n
  }

/** A TCP port (0: any free one). */
export const portOption = integerOption("--port", 0, 65_535)

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

/** A commander option parser for durations: `30s`, `15m`, `2h`, `7d`, `2w`, `500ms`, `1.5h`; a bare `0` is zero. Gives ms. */
export const durationOption =
  (name: string) =>
  (value: string): number => {
    const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/.exec(value.trim())
    if (match === null || (match[2] === undefined && Number(match[1]) !== 0)) {
      throw new InvalidArgumentError(
        `${name} must be a duration such as 30s, 15m, 2h, 7d or 2w (or 0), got ${JSON.stringify(value)}.`,
      )
    }
    return Math.round(Number(match[1]) * durationUnits[match[2] ?? "ms"]!)
  }

const priorityNames: Record<string, number> = {
  low: JobPriority.LOW,
  normal: JobPriority.NORMAL,
  high: JobPriority.HIGH,
  critical: JobPriority.CRITICAL,
}

/** `--priority`: a name of `JobPriority` (any case) or any integer. */
export const priorityOption = (value: string): number => {
  const named = priorityNames[value.trim().toLowerCase()]
  if (named !== undefined) return named
  const n = Number(value)
  if (value.trim() === "" || !Number.isInteger(n)) {
    throw new InvalidArgumentError(`--priority must be an integer or one of ${Object.keys(priorityNames).join(", ")}.`)
  }
  return n
}

/** The params of `run`, from `--params '<json>'` or `--params-file <file>`; `{}` when neither is given. */
export const readParams = (
  options: { readonly params?: string; readonly paramsFile?: string },
  hints: { readonly ndjson?: boolean } = {},
): unknown => {
  if (options.params !== undefined && options.paramsFile !== undefined) {
    throw new UsageError({ detail: "Give either --params or --params-file, not both" })
  }
  let text = options.params
  let source = "--params"
  if (options.paramsFile !== undefined) {
    source = options.paramsFile
    try {
      text = readFileSync(options.paramsFile, "utf8")
    } catch (error) {
      throw new UsageError({ detail: `Cannot read the params file: ${(error as Error).message}` })
    }
  }
  if (text === undefined) return {}
  try {
    return JSON.parse(text)
  } catch (error) {
    // A file of many objects, one a line, named .json: say how to give it as many (where the command takes many).
    const hint =
      hints.ndjson && options.paramsFile !== undefined && looksLikeNdjson(text)
        ? `; it looks like NDJSON (one object a line): for one job each, name it .ndjson or .jsonl, or give it on stdin with --params-file -`
        : ""
    throw new UsageError({ detail: `${source} is not valid JSON: ${(error as Error).message}${hint}` })
  }
}

/** `workerHint` with the types this invocation knows (its built-in jobs and `--jobs`). */
export const workerHintOf = async (command: Command, type: string): Promise<string> =>
  workerHint(
    command,
    type,
    (await jobsOf(command)).map((d) => d.name),
  )
