import { InvalidOptions, ManagerClosed } from "../jobs/errors.js"
import type { JobStore } from "../persistence/JobStore.js"
import { isRestingStatus, restingStatuses, type RestingStatus } from "../jobs/JobStatus.js"

export type { RestingStatus } from "../jobs/JobStatus.js"

/** What `manager.prune` deletes. */
export interface PruneOptions {
  /** Only statuses jobs rest in: `completed`, `failed`, `cancelled`. */
  readonly statuses: ReadonlyArray<RestingStatus>
  /** Only jobs that ended at least this long ago; 0: all of them. */
  readonly olderThanMs: number
}

/** How long jobs at rest are kept, per status: at most `maxAgeMs` old and/or the newest `maxCount`. */
export type RetentionPolicy = {
  readonly [S in RestingStatus]?: { readonly maxAgeMs?: number; readonly maxCount?: number }
}

const restingList = restingStatuses.join(", ")

const notResting = (option: string, status: unknown) =>
  new InvalidOptions({
    option,
    detail: `${JSON.stringify(status)} is not a status jobs rest in: only ${restingList} jobs can be pruned (queued, running and paused jobs are never deleted)`,
  })

/** The statuses of a valid `prune` call; `InvalidOptions` naming what is wrong, before anything is deleted. */
export const validatePrune = (options: PruneOptions): ReadonlyArray<RestingStatus> => {
  if (typeof options !== "object" || options === null)
    throw new InvalidOptions({ option: "prune", detail: "expected { statuses, olderThanMs }" })
  const { statuses, olderThanMs } = options
  if (!Array.isArray(statuses) || statuses.length === 0) {
    throw new InvalidOptions({ option: "statuses", detail: `expected a non-empty array of ${restingList}` })
  }
  for (const s of statuses) if (!isRestingStatus(s)) throw notResting("statuses", s)
  if (typeof olderThanMs !== "number" || !Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new InvalidOptions({
      option: "olderThanMs",
      detail: `expected a number of ms ≥ 0 (0: of any age), got ${String(olderThanMs)}`,
    })
  }
  return [...new Set(statuses)]
}

/** Checks `retention` and `retentionIntervalMs` of `JobManager.open`. */
export const validateRetention = (retention: unknown, intervalMs: unknown) => {
  if (intervalMs !== undefined && !(typeof intervalMs === "number" && Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new InvalidOptions({
      option: "retentionIntervalMs",
      detail: `expected a number of ms > 0, got ${String(intervalMs)}`,
    })
  }
  if (retention === undefined) return
  if (typeof retention !== "object" || retention === null || Array.isArray(retention)) {
    throw new InvalidOptions({
      option: "retention",
      detail: `expected an object keyed by ${restingList}, e.g. { completed: { maxAgeMs: 604800000 } }`,
    })
  }
  for (const [status, rule] of Object.entries(retention)) {
    if (!isRestingStatus(status)) throw notResting(`retention.${status}`, status)
    if (rule === undefined) continue
    const option = `retention.${status}`
    if (typeof rule !== "object" || rule === null)
      throw new InvalidOptions({ option, detail: "expected { maxAgeMs?, maxCount? }" })
    const keys = Object.keys(rule)
    const unknown = keys.find((k) => k !== "maxAgeMs" && k !== "maxCount")
    if (unknown !== undefined)
      throw new InvalidOptions({ option: `${option}.${unknown}`, detail: "not an option (maxAgeMs, maxCount)" })
    const { maxAgeMs, maxCount } = rule as { maxAgeMs?: unknown; maxCount?: unknown }
    if (maxAgeMs === undefined && maxCount === undefined)
      throw new InvalidOptions({ option, detail: "give maxAgeMs, maxCount or both" })
    if (maxAgeMs !== undefined && !(typeof maxAgeMs === "number" && Number.isFinite(maxAgeMs) && maxAgeMs >= 0)) {
      throw new InvalidOptions({
        option: `${option}.maxAgeMs`,
        detail: `expected a number of ms ≥ 0 (0: as soon as it is at rest), got ${JSON.stringify(maxAgeMs)}`,
      })
    }
    if (maxCount !== undefined && !(Number.isInteger(maxCount) && (maxCount as number) >= 0)) {
      throw new InvalidOptions({
        option: `${option}.maxCount`,
        detail: `expected an integer ≥ 0, got ${String(maxCount)}`,
      })
    }
  }
}

const isoBefore = (now: number, ms: number) => new Date(now - ms).toISOString()

/** Deletes what `prune` asks for, status by status; `removeDirs` gets each batch's ids. */
export const pruneJobs = async (
  store: JobStore,
  options: PruneOptions,
  now: number,
  removeDirs: (ids: ReadonlyArray<string>) => Promise<void>,
): Promise<number> => {
  const statuses = validatePrune(options)
  const completedBefore = options.olderThanMs > 0 ? isoBefore(now, options.olderThanMs) : undefined
  let deleted = 0
  for (const status of statuses)
    deleted += await store.pruneJobs(
      { status, ...(completedBefore === undefined ? {} : { completedBefore }) },
      removeDirs,
    )
  return deleted
}

/**
 * The `retention` option: one pass right after open, then one every `intervalMs` (an unref'd
 * timer: it never holds the process open), never two at once. A pass stops between batches
 * once the manager closes. Several managers on one store may each run it: deleting is idempotent.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly store: JobStore,
    private readonly policy: RetentionPolicy,
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly removeDirs: (ids: ReadonlyArray<string>) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start() {
    void this.pass()
    this.timer = setInterval(() => void this.pass(), this.intervalMs)
    this.timer.unref()
  }

  /** Stops the timer; resolves once a pass in flight has stopped. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.running
  }

  /** One pass, unless one is in flight; resolves when it is done (for tests). */
  pass(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    this.running ??= this.apply()
      .catch((error) => {
        if (!(error instanceof ManagerClosed)) this.onError(error)
      })
      .finally(() => (this.running = undefined))
    return this.running
  }

  private async apply() {
    const now = this.now()
    for (const status of restingStatuses) {
      const rule = this.policy[status]
      if (rule === undefined || this.stopped) continue
      await this.store.pruneJobs(
        {
          status,
          ...(rule.maxAgeMs === undefined ? {} : { completedBefore: isoBefore(now, rule.maxAgeMs) }),
          ...(rule.maxCount === undefined ? {} : { keepNewest: rule.maxCount }),
        },
        async (ids) => {
          await this.removeDirs(ids)
          if (this.stopped) throw new ManagerClosed()
        },
      )
    }
  }
}
