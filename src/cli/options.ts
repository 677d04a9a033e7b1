import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { InvalidArgumentError, type Command } from "commander"
import type { JobDefinition } from "../jobs/defineJob.js"
import { UsageError } from "./errors.js"
import { loadJobs } from "./jobs.js"

/** The data dir given to the program (`--data-dir` may come before or after the command name). */
export const dataDirOf = (command: Command): string => resolve(String(command.optsWithGlobals().dataDir))

/** Where the jobs are: the data dir, and the PostgreSQL database when `--database-url` (or `JOBSTATE_DATABASE_URL`) names one. */
export const storeOf = (command: Command): { readonly dataDir: string; readonly databaseUrl?: string } => {
  const url = command.optsWithGlobals().databaseUrl as string | undefined
  return url === undefined || url === "" ? { dataDir: dataDirOf(command) } : { dataDir: dataDirOf(command), databaseUrl: url }
}

/** A data dir or database, for messages. */
export const whereOf = (store: { readonly dataDir: string; readonly databaseUrl?: string }): string =>
  store.databaseUrl === undefined ? store.dataDir : store.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

/** The job types for this invocation: the builtin ones and those of `--jobs <module>` (repeatable). */
export const jobsOf = (command: Command): Promise<ReadonlyArray<JobDefinition>> =>
  loadJobs((command.optsWithGlobals().jobs as ReadonlyArray<string> | undefined) ?? [])

/** A commander option parser for whole numbers; a bad value is a one-line usage error. */
export const integerOption =
  (name: string, min?: number) =>
  (value: string): number => {
    const n = Number(value)
    // Commander prints this as one line naming the option, and exits through our usage path.
    if (!Number.isInteger(n) || (min !== undefined && n < min)) {
      throw new InvalidArgumentError(`${name} must be an integer${min === undefined ? "" : ` >= ${min}`}.`)
    }
    return n
  }

/** The params of `run`, from `--params '<json>'` or `--params-file <file>`; `{}` when neither is given. */
export const readParams = (options: { readonly params?: string; readonly paramsFile?: string }): unknown => {
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
    throw new UsageError({ detail: `${source} is not valid JSON: ${(error as Error).message}` })
  }
}
