import type { ChildSpec } from "../jobs/defineJob.js"
import {
  ChildJobFailed,
  InvalidOptions,
  InvalidTransition,
  JobNotFound,
  UnknownJobType,
  type StoredError,
} from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { isTerminalStatus, isJobStatus } from "../jobs/JobStatus.js"
import { decodeJsonWith } from "../persistence/codec.js"
import type { DbJob, JobStore, NewChild } from "../persistence/JobStore.js"
import { newJob, type NewJobContext } from "./newJob.js"
import { accepts, commandOf, type CommandEvent, type JobCommand } from "../machines/jobLifecycleMachine.js"

/**
 * The rows of `specs`, each made as a dispatch makes its job (`newJob`: a registered type, params
 * valid for its schema, an integer priority) and each with a distinct non-empty key. Throws
 * `UnknownJobType`, `InvalidParams` or `InvalidOptions` naming the child; nothing is stored then.
 */
export const childRows = (
  specs: ReadonlyArray<ChildSpec>,
  registry: JobRegistry,
  context: NewJobContext,
): NewChild[] => {
  if (!Array.isArray(specs))
    throw new InvalidOptions({
      option: "spawnChildren",
      detail: `expected an array of { job, params, key }, got ${typeof specs}`,
    })
  const keys = new Set<string>()
  return specs.map((spec, i) => {
    const where = `spawnChildren[${i}]`
    const definition = spec?.job
    if (registry.get(definition?.name) !== definition) {
      throw new UnknownJobType({ name: String(definition?.name), known: registry.names() })
    }
    const key = spec.key
    if (!(typeof key === "string" && key !== ""))
      throw new InvalidOptions({
        option: `${where}.key`,
        detail: `expected a non-empty string, got ${JSON.stringify(key)}`,
      })
    if (keys.has(key))
      throw new InvalidOptions({
        option: `${where}.key`,
        detail: `"${key}" is given twice; each child needs its own key`,
      })
    keys.add(key)
    // A child starts when its parent spawns it, with its type's policies: a priority is its one option.
    const {
      runAt: _runAt,
      uniqueKey: _uniqueKey,
      options: _options,
      ...job
    } = newJob(definition, spec.params, { priority: spec.priority }, context, `${where}.`)
    return { ...job, childKey: key }
  })
}

/** What `awaitChildren` finds: all ended (their outputs in order), one of them failed, or some still live. */
export type ChildOutcome =
  | { readonly _tag: "Done"; readonly outputs: ReadonlyArray<unknown> }
  | { readonly _tag: "Failed"; readonly error: ChildJobFailed }
  | { readonly _tag: "Waiting" }

/**
 * The outcome of awaiting `ids` among `children` (every child of `parentId`, as stored). An id
 * that is not a child of the parent is an `InvalidOptions`. Outputs are decoded with the child
 * type's output schema; the first awaited child, in the order given, that failed or was
 * cancelled is the parent's `ChildJobFailed`.
 */
export const childOutcome = (
  parentId: string,
  ids: ReadonlyArray<string>,
  children: ReadonlyArray<DbJob>,
  registry: JobRegistry,
): ChildOutcome => {
  if (!Array.isArray(ids))
    throw new InvalidOptions({ option: "awaitChildren", detail: `expected an array of child ids, got ${typeof ids}` })
  const byId = new Map(children.map((c) => [c.id, c]))
  const rows = ids.map((id) => {
    const row = byId.get(id)
    if (row === undefined)
      throw new InvalidOptions({
        option: "awaitChildren",
        detail: `${JSON.stringify(id)} is not a child of job ${parentId}`,
      })
    return row
  })
  if (rows.some((row) => !isJobStatus(row.status) || !isTerminalStatus(row.status))) return { _tag: "Waiting" }
  const outputs: unknown[] = []
  for (const row of rows) {
    if (row.status !== "completed") {
      const status = row.status === "cancelled" ? "cancelled" : "failed"
      const error = row.error === null ? undefined : (JSON.parse(row.error) as StoredError)
      return {
        _tag: "Failed",
        error: new ChildJobFailed({
          parentId,
          childId: row.id,
          jobName: row.name,
          status,
          ...(error === undefined ? {} : { error }),
        }),
      }
    }
    const stored = row.output === null ? undefined : JSON.parse(row.output)
    outputs.push(decodeJsonWith(registry.get(row.name)?.output, stored, `output of job ${row.id}`))
  }
  return { _tag: "Done", outputs }
}

/**
 * Carries a command given to a parent to its children, and theirs: a cancel cancels the live
 * ones, a pause pauses the queued and running ones (paused by "parent"), a resume resumes those
 * its pause paused, a retry retries those that failed or were cancelled (before the parent's
 * own retry: see `withChildren`). `apply` gives one child the command (through a manager, or the
 * store); a child that moved on meanwhile is passed over.
 */
export const cascadeToChildren = async (
  store: JobStore,
  parentId: string,
  event: CommandEvent,
  apply: (id: string, event: CommandEvent) => Promise<unknown>,
): Promise<void> => {
  const childEvent: CommandEvent = event.type === "PAUSE" ? { type: "PAUSE", by: "parent" } : event
  // Only a parent that is itself retried takes its children along (not one a retry refuses).
  const command = commandOf(event) === "pause-by-parent" ? "pause" : (commandOf(event) as JobCommand)
  const applies = (row: DbJob | undefined) =>
    row !== undefined && isJobStatus(row.status) && accepts(row.status, command)
  if (event.type === "RETRY" && !applies(await store.getJob(parentId))) return
  for (const child of await store.listJobs({ parentId })) {
    // A resume takes along only the children their parent's pause paused; a user's pause stays.
    if (applies(child) && (event.type !== "RESUME" || child.paused_by === "parent")) {
      try {
        await apply(child.id, childEvent)
      } catch (error) {
        if (!(error instanceof InvalidTransition || error instanceof JobNotFound)) throw error
      }
    }
    // Its own children too; a child at rest may still have live ones.
    await cascadeToChildren(store, child.id, childEvent, apply)
  }
}

/**
 * A command to a job and its children: the job first, then its children; but a retry retries
 * the children first, so that the parent, claimed at once, does not find them still failed.
 */
export const withChildren = async <A>(
  event: CommandEvent,
  own: () => Promise<A>,
  children: () => Promise<void>,
): Promise<A> => {
  if (event.type !== "RETRY") {
    const result = await own()
    await children()
    return result
  }
  await children()
  return own()
}
