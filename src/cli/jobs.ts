import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { JobDefinition } from "../jobs/defineJob.js"
import { FileCopyJob } from "../builtin/fileCopy.js"
import { IndexerJob } from "../builtin/indexer.js"
import { UsageError } from "./errors.js"
import { optionalImport } from "./optionalImport.js"

/** The job types every manager the CLI opens registers. */
export const builtinJobs: ReadonlyArray<JobDefinition> = [FileCopyJob, IndexerJob]

const isJobDefinition = (value: unknown): value is JobDefinition =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as JobDefinition).name === "string" &&
  typeof (value as JobDefinition).run === "function" &&
  (value as JobDefinition).params !== undefined

/** A job whose type this invocation does not know (built in, or from `--jobs`): it can neither run it nor check what it takes. */
export const typeNotKnown = (id: string, type: string): UsageError =>
  new UsageError({
    detail: `Job ${id} is of type "${type}", which this command does not know: add --jobs <module that exports it>`,
  })

/**
 * The file a `--jobs` module names: as given, or (as TypeScript and tsx resolve `./jobs.js` in
 * an app written in TypeScript) the `.ts` file beside it; a usage error when neither exists.
 */
export const jobsModuleFile = (module: string): string => {
  const given = resolve(module)
  if (existsSync(given)) return given
  const ts = given.replace(/\.(m|c)?js$/, ".$1ts")
  if (ts !== given && existsSync(ts)) return ts
  throw new UsageError({
    detail: `Cannot load --jobs ${module}: no such file${ts !== given ? ` (nor ${module.replace(/\.(m|c)?js$/, ".$1ts")})` : ""}`,
  })
}

/**
 * The builtin jobs plus the job definitions exported by `modules` (`--jobs`, TypeScript or
 * JavaScript). An app's data dir needs its own types registered too: a manager that finds a
 * job of a type it does not know fails that job.
 */
export const loadJobs = async (modules: ReadonlyArray<string>): Promise<ReadonlyArray<JobDefinition>> => {
  const jobs = [...builtinJobs]
  // The compiled CLI runs on plain Node, which cannot load TypeScript: tsx can, once registered.
  const files = modules.map(jobsModuleFile)
  if (files.some((m) => /\.[mc]?ts$/.test(m))) {
    const tsx = await optionalImport(() => import("tsx/esm/api"), "tsx", "Loading a TypeScript --jobs module")
    tsx.register()
  }
  for (const [i, module] of modules.entries()) {
    let exports: Record<string, unknown>
    try {
      exports = (await import(pathToFileURL(files[i]!).href)) as Record<string, unknown>
    } catch (error) {
      throw new UsageError({ detail: `Cannot load --jobs ${module}: ${(error as Error).message ?? String(error)}` })
    }
    const found = Object.values(exports).filter(isJobDefinition)
    if (found.length === 0) {
      const inDefault =
        "default" in exports
          ? " (a default export of a list or object is not read: export each job by name, `export const MyJob = defineJob(…)`)"
          : ""
      throw new UsageError({
        detail: `--jobs ${module} exports no job definitions by name (made with defineJob)${inDefault}`,
      })
    }
    for (const job of found) if (!jobs.includes(job)) jobs.push(job)
  }
  return jobs
}
