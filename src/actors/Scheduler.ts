import { Cron } from "croner"
import type { JobDefinition } from "../jobs/defineJob.js"
import { InvalidOptions, UnknownJobType } from "../jobs/errors.js"
import { checkPriority } from "../jobs/JobPriority.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { unpack, unpackWith } from "../persistence/codec.js"
import type { DbSchedule, JobStore, NewJob } from "../persistence/JobStore.js"
import { newJob, type NewJobContext } from "./newJob.js"
import type { Clock, ClockTimer } from "./clock.js"

export interface ScheduleOptions {
  /**
   * When it fires: 5 fields (`minute hour day month weekday`), 6 with seconds first, 7 with a
   * year last, or a nickname (`@daily`, `@hourly`, …). Parsed by croner.
   */
  readonly cron: string
  /** The IANA time zone the cron expression is read in (`Europe/Stockholm`). Default `UTC`, whatever the host's zone. */
  readonly timezone?: string
  /** The priority of each job it dispatches (see `JobPriority`). Default 0. */
  readonly priority?: number
}

/** A schedule as `listSchedules` returns it. */
export interface ScheduleInfo {
  readonly name: string
  /** The job type it dispatches. */
  readonly jobName: string
  /** The params of each job it dispatches, in their schema-encoded (JSON) form. */
  readonly params: unknown
  readonly cron: string
  readonly timezone: string
  readonly priority: number
  /** ISO 8601 of the next tick; null when the cron expression has no tick left (a past year). */
  readonly nextRunAt: string | null
  /** ISO 8601 of when it last fired, and the job that fire dispatched. */
  readonly lastRunAt: string | null
  readonly lastJobId: string | null
  readonly createdAt: string
  readonly updatedAt: string
}

/** Cron expressions are read in UTC unless a schedule names a zone: every host then agrees on each tick. */
export const DEFAULT_TIMEZONE = "UTC"

/** `next_run_at` of a schedule with no tick left: the last date a `Date` can hold. */
const NEVER = 8.64e15

/** The longest wait `setTimeout` takes (about 24.8 days); a later tick is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** After a store error, the scheduler looks again this much later. */
const RETRY_MS = 1_000

/** The time zone, checked: an IANA name `Intl` knows, or `InvalidOptions`. */
const checkTimezone = (timezone: unknown): string => {
  if (timezone === undefined) return DEFAULT_TIMEZONE
  if (typeof timezone !== "string" || timezone === "") {
    throw new InvalidOptions({
      option: "timezone",
      detail: `expected an IANA time zone name such as "Europe/Stockholm", got ${JSON.stringify(timezone)}`,
    })
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone })
  } catch {
    throw new InvalidOptions({
      option: "timezone",
      detail: `"${timezone}" is not a time zone this Node.js knows (an IANA name such as "Europe/Stockholm", or "UTC")`,
    })
  }
  return timezone
}

/** A cron expression parsed in a zone, or `InvalidOptions` naming `cron` with croner's reason. */
const parseCron = (cron: unknown, timezone: string): Cron => {
  if (typeof cron !== "string" || cron.trim() === "") {
    throw new InvalidOptions({
      option: "cron",
      detail: `a cron expression is required, such as "0 3 * * *" (03:00 every day), got ${JSON.stringify(cron)}`,
    })
  }
  let parsed: Cron
  try {
    // No function: croner only computes times, it starts no timer.
    parsed = new Cron(cron, { timezone })
  } catch (error) {
    throw new InvalidOptions({
      option: "cron",
      detail: `"${cron}" is not a cron expression: ${String((error as Error).message ?? error).replace(/^CronPattern: /, "")}`,
    })
  }
  // croner also takes an ISO date for a one-off run; a schedule repeats.
  if (parsed.getPattern() === undefined)
    throw new InvalidOptions({ option: "cron", detail: `"${cron}" is a date, not a cron expression` })
  return parsed
}

/** The first tick strictly after `afterMs`, or `NEVER`. */
const nextTick = (cron: Cron, afterMs: number): number => cron.nextRun(new Date(afterMs))?.getTime() ?? NEVER

/**
 * A schedule's name and options, checked as `schedule` checks them (`InvalidOptions` naming
 * the one that is wrong), with the zone it is read in, its priority and its next tick after
 * `now`. Exported so that a caller (the CLI) can refuse bad input before it opens a store.
 */
export const checkSchedule = (
  name: unknown,
  options: ScheduleOptions,
  now: number,
): { readonly timezone: string; readonly priority: number; readonly nextRunAt: number } => {
  if (typeof name !== "string" || name === "" || name.includes("\0")) {
    throw new InvalidOptions({
      option: "name",
      detail: `a schedule needs a non-empty name, got ${JSON.stringify(name)}`,
    })
  }
  if (typeof options !== "object" || options === null)
    throw new InvalidOptions({
      option: "cron",
      detail: 'schedule needs options with a cron expression, e.g. { cron: "0 3 * * *" }',
    })
  const timezone = checkTimezone(options.timezone)
  const cron = parseCron(options.cron, timezone)
  const priority = checkPriority(options.priority)
  const nextRunAt = nextTick(cron, now)
  if (nextRunAt >= NEVER)
    throw new InvalidOptions({ option: "cron", detail: `"${options.cron}" has no tick after now` })
  return { timezone, priority, nextRunAt }
}

const isoOrNull = (ms: number | null): string | null => (ms === null || ms >= NEVER ? null : new Date(ms).toISOString())

/** A stored schedule as the API shows it; params that cannot be decoded are shown as `{ undecodable }`. */
export const toScheduleInfo = (row: DbSchedule): ScheduleInfo => {
  let params: unknown
  try {
    params = unpack(row.params, `params of schedule "${row.name}"`)
  } catch (error) {
    params = { undecodable: (error as Error).message }
  }
  return {
    name: row.name,
    jobName: row.job_name,
    params,
    cron: row.cron,
    timezone: row.timezone ?? DEFAULT_TIMEZONE,
    priority: row.priority,
    nextRunAt: isoOrNull(row.next_run_at),
    lastRunAt: isoOrNull(row.last_run_at),
    lastJobId: row.last_job_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export interface SchedulerOptions {
  readonly now: () => number
  /** The timer for the next tick. */
  readonly clock: Clock
  /** What `newJob` needs, as the manager gives it for a dispatch (the same ids, clock and event rule). */
  readonly newJobContext: () => NewJobContext
  /** A fire stored this job: the manager announces it as a dispatch's, and may claim it at once. */
  readonly onFired: (job: NewJob) => void
  readonly onError: (error: unknown) => void
}

/**
 * A manager's schedules: stores them, and fires those of the job types it knows. One timer,
 * for the earliest `next_run_at`, set again whenever the store reports news (another manager
 * fired or changed a schedule) and after each change made here; no poll per schedule.
 *
 * A tick is fired by compare-and-set (`JobStore.fireSchedule`): of all managers that find it
 * due, exactly one moves `next_run_at` on and stores the job. The next tick is the first one
 * after *now*, so a schedule that was due long ago (every manager was down) fires once, not
 * once per missed tick.
 */
export class Scheduler {
  private timer: ClockTimer | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = true
  /** Schedules whose tick cannot fire here (params this type's schema no longer accepts): the tick, so it is not retried in a loop. */
  private readonly stuck = new Map<string, number>()

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
    private readonly options: SchedulerOptions,
  ) {}

  // ---------------------------------------------------------------- the API's side

  /** Validates like `dispatch` (and the cron expression and zone), then stores the schedule or replaces its definition. */
  async schedule(
    name: string,
    definition: JobDefinition,
    params: unknown,
    options: ScheduleOptions,
  ): Promise<ScheduleInfo> {
    const now = this.options.now()
    const { timezone, priority, nextRunAt } = checkSchedule(name, options, now)
    if (this.registry.get(definition?.name) !== definition)
      throw new UnknownJobType({ name: String(definition?.name), known: this.registry.names() })
    // Each tick makes its job as a dispatch does: one that could not be made is refused now, not at 3 a.m.
    const probe = newJob(
      definition,
      params,
      { priority },
      { ...this.options.newJobContext(), generateId: () => `(schedule "${name}")`, event: () => undefined },
    )
    const row = await this.store.upsertSchedule({
      name,
      jobName: definition.name,
      params: probe.params,
      priority,
      options: null,
      cron: options.cron,
      timezone,
      nextRunAt,
      at: new Date(now).toISOString(),
    })
    this.refresh()
    return toScheduleInfo(row)
  }

  /** Deletes a schedule; false when there was none by that name. */
  async unschedule(name: string): Promise<boolean> {
    const deleted = await this.store.deleteSchedule(name)
    this.refresh()
    return deleted
  }

  async list(): Promise<ReadonlyArray<ScheduleInfo>> {
    return (await this.store.listSchedules()).map(toScheduleInfo)
  }

  // ---------------------------------------------------------------- firing

  /** Starts firing (after recovery). */
  start(): void {
    this.stopped = false
    this.refresh()
  }

  /** Stops firing; resolves once a fire in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true
    this.options.clock.clearTimeout(this.timer)
    await this.running
  }

  /** A look at the schedules (and the fires it found due) is in progress. */
  get busy(): boolean {
    return this.running !== undefined
  }

  /** Fires what is due and sets the timer for the next tick. A call while that runs runs it once more after it. */
  refresh(): void {
    if (this.stopped) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.running = this.run()
      .catch((error) => {
        this.options.onError(error)
        // A store error: look again a little later rather than never.
        if (!this.stopped) this.arm(this.options.now() + RETRY_MS)
      })
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.refresh()
        }
      })
  }

  private async run() {
    this.options.clock.clearTimeout(this.timer)
    let rows = await this.store.listSchedules()
    const now = this.options.now()
    const due = rows.filter((row) => this.firesHere(row) && row.next_run_at <= now)
    for (const row of due) {
      if (this.stopped) return
      await this.fire(row, now)
    }
    // Read again after firing: whoever won each tick has moved it on.
    if (due.length > 0) rows = await this.store.listSchedules()
    if (this.stopped) return
    const next = Math.min(...rows.filter((row) => this.firesHere(row)).map((row) => row.next_run_at))
    if (next < NEVER) this.arm(next)
  }

  /** This manager knows the job type (it computes the job's initial state), and the tick is not one it failed to fire. */
  private firesHere(row: DbSchedule): boolean {
    return this.registry.has(row.job_name) && this.stuck.get(row.name) !== row.next_run_at
  }

  private arm(at: number) {
    this.options.clock.clearTimeout(this.timer)
    // Like the manager's other timers, it does not keep the process alive by itself.
    this.timer = this.options.clock.setTimeout(
      () => this.refresh(),
      Math.min(MAX_TIMER_MS, Math.max(0, at - this.options.now())),
    )
  }

  /** Fires one due tick, as a `dispatch` would store the job; another manager may win it, and then nothing is stored here. */
  private async fire(row: DbSchedule, now: number) {
    let job: NewJob
    let nextRunAt: number
    try {
      const definition = this.registry.require(row.job_name)
      nextRunAt = nextTick(parseCron(row.cron, checkTimezone(row.timezone ?? undefined)), now)
      const params = unpackWith(definition.params, row.params, `params of schedule "${row.name}"`)
      job = newJob(definition, params, { priority: row.priority }, { ...this.options.newJobContext(), now })
    } catch (error) {
      // Not the store's fault, and the same next time: report it once for this tick.
      this.stuck.set(row.name, row.next_run_at)
      this.options.onError(error)
      return
    }
    const tick = new Date(row.next_run_at).toISOString()
    const fired = await this.store.fireSchedule({
      name: row.name,
      due: row.next_run_at,
      nextRunAt,
      firedAt: now,
      job,
      log: `dispatched by schedule "${row.name}" for its tick at ${tick}`,
    })
    if (fired) this.options.onFired(job)
  }
}
