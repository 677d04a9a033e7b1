import { Clock as EffectClock, Duration, Effect } from "effect"

/** A timer set by a `Clock`, to hand back to its `clearTimeout`. */
export type ClockTimer = object

/**
 * Where the engine reads the time and waits: a delayed job's start, a retry's backoff, a
 * schedule's next tick, an attempt's timeout, the progress throttle, and (for a clock other than
 * the real one) an Effect job's `Clock` service. The real clock unless `JobManager.open` is given
 * one; `testClock()` from `jobstate/testing` is the one for tests.
 *
 * Not on it: leases, the sweep for dead managers and the poll for other processes' changes, which
 * other processes judge by their own clocks; the grace a pause or cancel gives a job before it is
 * interrupted; retention's interval (its ages are read on the clock); retries of a commit the
 * store refused.
 */
export interface Clock {
  /** Ms since the epoch. */
  now(): number
  /** Calls `callback` once `ms` have passed on this clock. The timer does not hold the process open. */
  setTimeout(callback: () => void, ms: number): ClockTimer
  clearTimeout(timer: ClockTimer | undefined): void
  /**
   * For a test clock: a manager on it reports whether it has work in hand (a commit, a schedule's
   * fire), so that moving the clock can wait until what its timers set off is written. Returns
   * the call that stops reporting (on close).
   */
  attach?(busy: () => boolean): () => void
}

/** The clock of `Date.now` and Node's timers, at no cost over using them directly. */
export const realClock: Clock = {
  now: Date.now,
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
}

/**
 * Effect's `Clock` service read from a clock: what a job's Effect `run` is given when the
 * manager runs on a clock other than the real one, so that its `Effect.sleep`, `Effect.timeout`,
 * schedules and `Clock.currentTimeMillis` follow that clock too.
 */
export const toEffectClock = (clock: Clock): EffectClock.Clock => {
  const millis = () => clock.now()
  const nanos = () => BigInt(Math.floor(clock.now())) * 1_000_000n
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: nanos,
    monotonicTimeNanos: Effect.sync(nanos),
    sleep: (duration) => {
      const ms = Duration.toMillis(duration)
      if (ms <= 0) return Effect.void
      if (!Number.isFinite(ms)) return Effect.never
      return Effect.callback<void>((resume) => {
        const timer = clock.setTimeout(() => resume(Effect.void), ms)
        return Effect.sync(() => clock.clearTimeout(timer))
      })
    },
  }
}
