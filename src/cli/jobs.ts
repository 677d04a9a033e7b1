import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { JobDefinition } from "../jobs/defineJob.js"
import { FileCopyJob } from "../jobs/builtin/fileCopy.js"
import { IndexerJob } from "../jobs/builtin/indexer.js"
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

/**
 * The builtin jobs plus the job definitions exported by `modules` (`--jobs`, TypeScript or
 * JavaScript). An app's data dir needs its own types registered too: a manager that finds a
 * job of a type it does not know fails that job.
 */
export const loadJobs = async (modules: ReadonlyArray<string>): Promise<ReadonlyArray<JobDefinition>> => {
  const jobs = [...builtinJobs]
  // The compiled CLI runs on plain Node, which cannot load TypeScript: tsx can, once registered.
  if (modules.some((m) => /\.[mc]?ts$/.test(m))) {
    const tsx = await optionalImport(() => import("tsx/esm/api"), "tsx", "Loading a TypeScript --jobs module")
    tsx.register()
  }
  for (const module of modules) {
    let exports: Record<string, unknown>
    try {
      exports = (await import(pathToFileURL(resolve(module)).href)) as Record<string, unknown>
    } catch (error) {
      throw new UsageError({ detail: `Cannot load --jobs ${module}: ${(error as Error).message ?? String(error)}` })
    }
    const found = Object.values(exports).filter(isJobDefinition)
    if (found.length === 0) throw new UsageError({ detail: `--jobs ${module} exports no job definitions (made with defineJob)` })
    for (const job of found) if (!jobs.includes(job)) jobs.push(job)
  }
  return jobs
}
