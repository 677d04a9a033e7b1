import type { Clock, ClockTimer } from "../actors/clock.js"

/**
 * A clock that moves only when told: give it to `JobManager.open({ clock })` or
 * `runJob(Job, params, { clock })`, and a delay, a retry's backoff, a schedule's tick, an
 * attempt's timeout or an `Effect.sleep` inside a job waits for `advance` instead of real time.
 */
export interface TestClock extends Clock {
  /**
   * Moves the clock `ms` forward. Each timer that falls due on the way runs at its own time, in
   * order; after each, and before the first, this waits until the managers on this clock have
   * written what it set off (a job claimed, a failed attempt put back in line, a schedule's job
   * stored), so that one timer's consequences are in the store before the next runs.
   */
  advance(ms: number): Promise<void>
  /** Moves the clock forward to `time` (a `Date` or ms since the epoch), as `advance` does. */
  setTime(time: Date | number): Promise<void>
  /**
   * Waits until the managers on this clock have nothing left to write, and any timer already due
   * has run. `advance` does this itself; call it to let work started without a move of the
   * clock (a dispatch, a job that fails at once) settle.
   */
  settle(): Promise<void>
  /** How many timers are waiting. */
  readonly pending: number
}

interface Timer {
  readonly at: number
  readonly callback: () => void
}

/**
 * Turns of the event loop in a row with nothing in hand that count as settled. A timer's
 * consequences reach the engine through a few hops (Effect's scheduler resumes a fiber on the
 * next turn, a job's report reaches its actor, its write asks for a commit): a handful of quiet
 * turns covers them.
 */
const QUIET_TURNS = 5

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * A test clock, starting at `start` (a `Date` or ms since the epoch; default: the real time now).
 * Time moves only by `advance` and `setTime`.
 *
 * What `advance` waits for is the engine's own work: commits, claims, schedules' fires. A job's
 * own I/O (reading a file, a request) is real and is not waited for; `await handle.result()` for
 * the job's end.
 *
 * @example
 * const clock = testClock()
 * const manager = await JobManager.open({ dataDir, jobs: [Report], clock })
 * const handle = await manager.dispatch(Report, {}, { delayMs: 60 * 60_000 })
 * await clock.advance(60 * 60_000)            // the hour passes at once; the job is claimed
 * expect(await handle.result()).toEqual(…)
 */
export const testClock = (start: Date | number = Date.now()): TestClock =>
  new ManualClock(typeof start === "number" ? start : start.getTime())

/**
 * When the first of a test clock's waiting timers is due (ms since the epoch), or undefined
 * when none waits. Internal to `jobstate/testing` (`checkMachineJob` moves the clock to a
 * machine's next timer, not past it).
 */
export const nextTimerAt = (clock: TestClock): number | undefined =>
  clock instanceof ManualClock ? clock.nextAt : undefined

class ManualClock implements TestClock {
  /** Waiting timers, by due time; timers due at the same time in the order they were set. */
  private readonly timers: Timer[] = []
  private readonly probes = new Set<() => boolean>()
  /** A turn is scheduled to run the timers set with no wait (`setTimeout(f, 0)`). */
  private flushScheduled = false

  constructor(private time: number) {}

  now(): number {
    return this.time
  }

  get pending(): number {
    return this.timers.length
  }

  get nextAt(): number | undefined {
    return this.timers[0]?.at
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    // As Node's: a wait that is not a number ≥ 0 is none.
    const timer: Timer = { at: this.time + (ms > 0 ? ms : 0), callback }
    // After those due at the same time.
    const i = this.timers.findIndex((t) => t.at > timer.at)
    this.timers.splice(i === -1 ? this.timers.length : i, 0, timer)
    // Due already: it runs on a turn of its own, as a real timer would, without a move of the clock.
    if (timer.at <= this.time) this.scheduleFlush()
    return timer
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    const i = this.timers.indexOf(timer as Timer)
    if (i !== -1) this.timers.splice(i, 1)
  }

  attach(busy: () => boolean): () => void {
    this.probes.add(busy)
    return () => this.probes.delete(busy)
  }

  async advance(ms: number): Promise<void> {
    if (!(Number.isFinite(ms) && ms >= 0))
      throw new RangeError(`testClock.advance: expected a number of ms ≥ 0, got ${ms}`)
    await this.moveTo(this.time + ms)
  }

  async setTime(time: Date | number): Promise<void> {
    const to = typeof time === "number" ? time : time.getTime()
    if (!Number.isFinite(to))
      throw new RangeError(`testClock.setTime: expected a Date or ms since the epoch, got ${String(time)}`)
    if (to < this.time)
      throw new RangeError(
        `testClock.setTime: ${new Date(to).toISOString()} is before the clock's time (${new Date(this.time).toISOString()}); a test clock only moves forward`,
      )
    await this.moveTo(to)
  }

  async settle(): Promise<void> {
    for (let quiet = 0; quiet < QUIET_TURNS; ) {
      await turn()
      const ran = this.runDue()
      quiet = ran || this.busy() ? 0 : quiet + 1
    }
  }

  private async moveTo(target: number) {
    // What is under way first (a dispatch's claim, a job on its way to a sleep): its timers count.
    await this.settle()
    for (let next = this.timers[0]; next !== undefined && next.at <= target; next = this.timers[0]) {
      this.time = Math.max(this.time, next.at)
      this.runDue()
      await this.settle()
    }
    this.time = target
    await this.settle()
  }

  /** Runs the timers due by now, in order; says whether any ran. */
  private runDue(): boolean {
    let ran = false
    while (this.timers[0] !== undefined && this.timers[0].at <= this.time) {
      const timer = this.timers.shift()!
      ran = true
      timer.callback()
    }
    return ran
  }

  private scheduleFlush() {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      this.runDue()
    })
  }

  private busy(): boolean {
    for (const probe of this.probes) if (probe()) return true
    return false
  }
}
