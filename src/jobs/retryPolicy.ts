import { InvalidOptions, type StoredError } from "./errors.js"

/** How long to wait before each retry. */
export interface Backoff {
  /** `fixed`: `delayMs` each time; `exponential`: `delayMs`, then twice that, and so on. */
  readonly type: "fixed" | "exponential"
  readonly delayMs: number
  /** The longest wait, however many failures. Default: one hour. */
  readonly maxDelayMs?: number
  /** 0..1: each wait is shortened by a random part of up to this fraction, so retries spread. Default 0. */
  readonly jitter?: number
}

/**
 * When a failed attempt is tried again. Set on `defineJob`, overridden per dispatch. Between
 * attempts the job is `queued` with a `runAt` in the future and holds no slot; the next attempt
 * starts from the last checkpoint.
 */
export interface RetryPolicy {
  /** Attempts after the first. 0: never retried. */
  readonly maxRetries: number
  /** Default: retry at once. */
  readonly backoff?: Backoff
  /**
   * The error tags retried. Default: every typed failure (an Effect's error channel, any
   * rejection of an `async` run, `JobTimeout`), never a defect (`Effect.die`, a throw inside
   * `Effect.sync`). Listed tags are retried whether typed or a defect.
   */
  readonly retryOn?: ReadonlyArray<string>
}

const HOUR_MS = 3_600_000

/**
 * The time the next attempt may start, or `undefined` when the failure is final: the policy's
 * retries are spent, or it does not retry this error. `failures` counts the failed attempts
 * before this one.
 */
export const retryAt = (
  policy: RetryPolicy | undefined,
  failure: { readonly error: StoredError; readonly defect: boolean },
  failures: number,
  now: number,
  random: () => number = Math.random,
): number | undefined => {
  if (policy === undefined || failures >= policy.maxRetries) return undefined
  const retried = policy.retryOn === undefined ? !failure.defect : policy.retryOn.includes(failure.error._tag)
  if (!retried) return undefined
  return now + backoffMs(policy.backoff, failures + 1, random)
}

/** The wait after the `n`-th failure (1-based). */
export const backoffMs = (backoff: Backoff | undefined, n: number, random: () => number = Math.random): number => {
  if (backoff === undefined) return 0
  const base = backoff.type === "fixed" ? backoff.delayMs : backoff.delayMs * 2 ** (n - 1)
  const capped = Math.min(base, backoff.maxDelayMs ?? HOUR_MS)
  return Math.round(capped * (1 - (backoff.jitter ?? 0) * random()))
}

const isNonNegative = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

/** Checks a policy given by a user; throws `InvalidOptions` naming what is wrong (`where` prefixes it). */
export const checkRetryPolicy = (policy: unknown, where: string): RetryPolicy | undefined => {
  if (policy === undefined) return undefined
  const fail = (option: string, detail: string) => {
    throw new InvalidOptions({ option: `${where}.${option}`, detail })
  }
  if (typeof policy !== "object" || policy === null)
    throw new InvalidOptions({ option: where, detail: "expected { maxRetries, backoff?, retryOn? }" })
  const p = policy as Partial<RetryPolicy> & Record<string, unknown>
  for (const key of Object.keys(p))
    if (!["maxRetries", "backoff", "retryOn"].includes(key))
      fail(key, "is not a retry option (maxRetries, backoff, retryOn)")
  if (!(Number.isInteger(p.maxRetries) && isNonNegative(p.maxRetries)))
    fail("maxRetries", `expected an integer ≥ 0, got ${JSON.stringify(p.maxRetries)}`)
  if (
    p.retryOn !== undefined &&
    !(Array.isArray(p.retryOn) && p.retryOn.every((t) => typeof t === "string" && t !== ""))
  ) {
    fail("retryOn", "expected an array of error tags")
  }
  const b = p.backoff as Partial<Backoff> | undefined
  if (b !== undefined) {
    if (typeof b !== "object" || b === null) fail("backoff", "expected { type, delayMs, maxDelayMs?, jitter? }")
    if (b.type !== "fixed" && b.type !== "exponential")
      fail("backoff.type", `expected "fixed" or "exponential", got ${JSON.stringify(b.type)}`)
    if (!isNonNegative(b.delayMs))
      fail("backoff.delayMs", `expected a number of ms ≥ 0, got ${JSON.stringify(b.delayMs)}`)
    if (b.maxDelayMs !== undefined && !isNonNegative(b.maxDelayMs))
      fail("backoff.maxDelayMs", `expected a number of ms ≥ 0, got ${JSON.stringify(b.maxDelayMs)}`)
    if (b.jitter !== undefined && !(isNonNegative(b.jitter) && b.jitter <= 1))
      fail("backoff.jitter", `expected a fraction from 0 to 1, got ${JSON.stringify(b.jitter)}`)
  }
  return p as RetryPolicy
}

/** Checks a per-attempt timeout; throws `InvalidOptions` naming `option`. */
export const checkTimeout = (timeoutMs: unknown, option: string): number | undefined => {
  if (timeoutMs === undefined) return undefined
  // A Node timer holds at most 2^31 - 1 ms (about 24.8 days).
  if (!(typeof timeoutMs === "number" && Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= 2_147_483_647)) {
    throw new InvalidOptions({
      option,
      detail: `expected a number of ms from 1 to 2147483647, got ${JSON.stringify(timeoutMs)}`,
    })
  }
  return timeoutMs
}
