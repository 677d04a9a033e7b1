import type { JobDefinition } from "../jobs/defineJob.js"
import { InvalidOptions } from "../jobs/errors.js"
import { checkPriority } from "../jobs/JobPriority.js"
import { encodeParams } from "../jobs/JobRegistry.js"
import { checkRetryPolicy, checkTimeout, type RetryPolicy } from "../jobs/retryPolicy.js"
import { pack, packWith } from "../persistence/codec.js"
import type { EventMeta, NewJob } from "../persistence/JobStore.js"
import { encodeLifecycle, initialLifecycle } from "./snapshots.js"

export interface DispatchOptions {
  /** Higher runs first; see `JobPriority`. Default 0. */
  readonly priority?: number
  /** Wait this long before the job may start (it waits `queued`, holding no slot; the wait survives restarts). */
  readonly delayMs?: number
  /** Do not start before this time (a `Date` or ms since the epoch). */
  readonly runAt?: Date | number
  /**
   * While a queued, running or paused job has this key, dispatching again stores nothing and
   * returns that job's handle (the store enforces it, across processes).
   */
  readonly uniqueKey?: string
  /** Overrides the type's retry policy for this job. */
  readonly retry?: RetryPolicy
  /** Overrides the type's per-attempt timeout for this job. */
  readonly timeoutMs?: number
}

/** What `retry` may change for the attempts it starts: the dispatch's own overrides, replaced where given. */
export interface RetryOverrides {
  readonly retry?: RetryPolicy
  readonly timeoutMs?: number
}

/** What making a job needs of the manager that makes it. */
export interface NewJobContext {
  readonly generateId: () => string
  /** The manager's clock, ms since the epoch: the job's `createdAt`, and where a delay counts from. */
  readonly now: number
  /** `now` as ISO 8601 (the engine formats it once per millisecond). */
  readonly iso: string
  /** Whether (and how) the store records the job's `queued` in `job_events`, for other processes' `manager.events`. */
  readonly event: (name: string) => EventMeta | undefined
}

/**
 * A new job's row, as `dispatch`, `spawnChildren` and a schedule's tick store it: its options
 * checked (`InvalidOptions` naming the one, prefixed with `where`: `spawnChildren[2].priority`),
 * its params encoded by its schema (strict both ways: an undeclared key is refused, as a JSON
 * one is), its initial state packed, its lifecycle's first snapshot. Nothing is stored here; a
 * throw means nothing will be.
 */
export const newJob = (
  definition: JobDefinition,
  params: unknown,
  options: DispatchOptions,
  context: NewJobContext,
  where = "",
): NewJob => {
  const priority = checkPriority(options.priority, `${where}priority`)
  const runAt = runAtOf(options, context.now, where)
  const key = options.uniqueKey
  if (key !== undefined && !(typeof key === "string" && key !== "")) {
    throw new InvalidOptions({
      option: `${where}uniqueKey`,
      detail: `expected a non-empty string, got ${JSON.stringify(key)}`,
    })
  }
  const id = context.generateId()
  const event = context.event(definition.name)
  return {
    id,
    name: definition.name,
    params: pack(encodeParams(definition, params), `params of job ${id}`),
    data: packWith(definition.state, definition.initialState(params), `initial state of job ${id}`),
    snapshot: encodeLifecycle(initialLifecycle(id, runAt)),
    priority,
    createdAt: context.iso,
    runAt,
    uniqueKey: key ?? null,
    options: overridesJson(options, where),
    stateSchemaVersion: definition.stateVersion,
    ...(event === undefined ? {} : { event }),
  }
}

/** When the job may start: `delayMs` from now, or `runAt`; null for now (a time already past is no wait). */
const runAtOf = (options: DispatchOptions, now: number, where: string): number | null => {
  let runAt: number | null = null
  if (options.delayMs !== undefined) {
    const d = options.delayMs
    if (!(typeof d === "number" && Number.isFinite(d) && d >= 0))
      throw new InvalidOptions({
        option: `${where}delayMs`,
        detail: `expected a number of ms ≥ 0, got ${JSON.stringify(d)}`,
      })
    if (options.runAt !== undefined)
      throw new InvalidOptions({ option: `${where}runAt`, detail: "give delayMs or runAt, not both" })
    runAt = now + d
  }
  if (options.runAt !== undefined) {
    const at = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt
    if (!(typeof at === "number" && Number.isFinite(at)))
      throw new InvalidOptions({
        option: `${where}runAt`,
        detail: `expected a Date or ms since the epoch, got ${String(options.runAt)}`,
      })
    runAt = at
  }
  return runAt !== null && runAt <= now ? null : runAt
}

/** A dispatch's (or a retry's) overrides of the type's retry policy and timeout, checked, as stored: JSON, or null for none. */
export const overridesJson = (options: RetryOverrides, where = ""): string | null => {
  const retry = checkRetryPolicy(options.retry, `${where}retry`)
  const timeoutMs = checkTimeout(options.timeoutMs, `${where}timeoutMs`)
  if (retry === undefined && timeoutMs === undefined) return null
  return JSON.stringify({
    ...(retry === undefined ? {} : { retry }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  })
}
