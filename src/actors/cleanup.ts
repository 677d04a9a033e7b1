import { decodeState } from "../jobs/stateVersions.js"
import { readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { Cause, Effect, Exit } from "effect"
import type { JobDefinition } from "../jobs/defineJob.js"
import { JobCleanupFailed } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { unpackWith } from "../persistence/codec.js"
import type { DbJob } from "../persistence/JobStore.js"

/** A job's private directory (`ctx.dataDir`). */
export const privateDirOf = (dataDir: string, id: string): string => join(dataDir, "jobs", id)

/** Whether a status is one a job's resources are released in: cancelled, or failed for good. */
export const releasesResources = (status: string): status is "cancelled" | "failed" =>
  status === "cancelled" || status === "failed"

/** What a cleanup knows about the job: decoded values, or a row to decode them from. */
export type EndedJob =
  | { readonly id: string; readonly definition: JobDefinition; readonly params: unknown; readonly state: unknown }
  | {
      readonly row: Pick<DbJob, "id" | "name" | "params" | "data" | "state_schema_version">
      readonly registry: JobRegistry
    }

/**
 * The resource cleanup of jobs that end for good: a job cancelled, or failed with no retry left,
 * has its type's `cleanup` hook run (when this process knows the type and can decode the job's
 * params and last checkpoint), then its private directory removed. A pruned job has its
 * directory removed. Nothing here rejects: errors go to `onError`, and a job's status is never
 * changed by its cleanup.
 *
 * Cleanups in flight are tracked by job id, so a caller can wait for one (`pending`) and
 * `close()` can wait for all (`idle`).
 */
export class Cleanups {
  private readonly running = new Map<string, Promise<void>>()

  constructor(
    private readonly dataDir: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Cleans up a job that just reached `status`; nothing (undefined) unless it is cancelled or failed. */
  ended(status: string, job: EndedJob): Promise<void> | undefined {
    if (!releasesResources(status)) return undefined
    const id = "row" in job ? job.row.id : job.id
    const previous = this.running.get(id) ?? Promise.resolve()
    const done = previous
      .then(() => this.cleanUp(status, job))
      .finally(() => {
        if (this.running.get(id) === done) this.running.delete(id)
      })
    this.running.set(id, done)
    return done
  }

  /** The cleanup in flight for this job, if any: a retry waits for it before the job runs again. */
  pending(id: string): Promise<void> | undefined {
    return this.running.get(id)
  }

  /** Resolves once every cleanup started so far has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values())
  }

  /**
   * Removes the private directories of jobs that no longer exist (pruned). Most jobs never make
   * one: the jobs directory is listed once, and only the directories there are removed (an
   * `rm` per id cost a prune of a million jobs 19 s of `lstat`).
   */
  async removeDirs(ids: ReadonlyArray<string>): Promise<void> {
    let present: Set<string>
    try {
      present = new Set(await readdir(join(this.dataDir, "jobs")))
    } catch (cause) {
      if ((cause as { code?: string }).code === "ENOENT") return
      present = new Set(ids) // cannot list it: try each
    }
    await Promise.all(ids.filter((id) => present.has(id)).map((id) => this.removeDir(id)))
  }

  private async cleanUp(status: "cancelled" | "failed", job: EndedJob) {
    const decoded = "row" in job ? decode(job.row, job.registry) : job
    if (decoded !== undefined && decoded.definition.cleanup !== undefined) {
      const { id, definition } = decoded
      try {
        await runHook(definition, {
          id,
          params: decoded.params,
          state: decoded.state,
          dataDir: privateDirOf(this.dataDir, id),
          status,
        })
      } catch (cause) {
        this.onError(
          new JobCleanupFailed({
            id,
            name: definition.name,
            detail: String((cause as Error)?.message ?? cause),
            cause,
          }),
        )
      }
    }
    await this.removeDir("row" in job ? job.row.id : job.id)
  }

  private async removeDir(id: string) {
    try {
      await rm(privateDirOf(this.dataDir, id), { recursive: true, force: true })
    } catch (cause) {
      this.onError(
        new JobCleanupFailed({
          id,
          name: "(job)",
          detail: `could not remove ${privateDirOf(this.dataDir, id)}: ${(cause as Error).message}`,
          cause,
        }),
      )
    }
  }
}

/**
 * The job's type, params and last checkpoint from its row; undefined when this process does not
 * know the type or cannot decode them (such a row has failed saying why; the hook is skipped).
 */
const decode = (
  row: Pick<DbJob, "id" | "name" | "params" | "data" | "state_schema_version">,
  registry: JobRegistry,
) => {
  const definition = registry.get(row.name)
  if (definition?.cleanup === undefined)
    return definition === undefined ? undefined : { id: row.id, definition, params: undefined, state: undefined }
  try {
    const params = unpackWith(definition.params, row.params, `params of job ${row.id}`)
    if (row.state_schema_version > definition.stateVersion) return undefined
    const state = decodeState(definition, row.data, row.state_schema_version, row.id)
    return { id: row.id, definition, params, state }
  } catch {
    return undefined
  }
}

const runHook = async (definition: JobDefinition, info: Parameters<NonNullable<JobDefinition["cleanup"]>>[0]) => {
  const result = definition.cleanup!(info)
  if (Effect.isEffect(result)) {
    const exit = await Effect.runPromiseExit(result as Effect.Effect<void, unknown>)
    if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
  } else {
    await result
  }
}
