import { StoreRecovered } from "../jobs/errors.js"
import { isStoreFailure } from "../persistence/storeFailure.js"

/**
 * How long calls must have gone through, with no failure, before an outage counts as over: longer
 * than the engine's longest wait between two tries of a commit, so that a call that goes through
 * while another kind still fails (a read while writes meet a full disk) does not end it.
 */
const QUIET_MS = 2_000

/** The part of a failure's text that names its kind: numbers (ports, pids, ms) left out. */
const kindOf = (detail: string): string => detail.replace(/\d+/g, "#").slice(0, 200)

interface Outage {
  readonly since: number
  failures: number
  unreported: number
  readonly kinds: Set<string>
  last: unknown
  lastAt: number
  /** When the first call went through after the last failure; undefined while none has. */
  answeredAt: number | undefined
}

/**
 * Whether the store answers, as this manager's calls find it, and what `onError` hears of it.
 * During an outage (a server restart, a database down for a minute, a full disk, a file locked
 * by another process) every timer of the manager meets the same failure several times a second:
 * the first failure of each kind is reported as it comes, the rest are counted, and once calls
 * have gone through for `QUIET_MS` with none failing, one `StoreRecovered` says how long it
 * lasted and how many calls failed. Any other error passes through at once.
 */
export class StoreHealth {
  private outage: Outage | undefined

  constructor(
    private readonly report: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** An error from a background call: reported unless it is one more of a store failure already reported. */
  readonly error = (error: unknown): void => {
    if (!isStoreFailure(error)) {
      this.report(error)
      return
    }
    const now = this.now()
    const o = (this.outage ??= {
      since: now,
      failures: 0,
      unreported: 0,
      kinds: new Set(),
      last: error,
      lastAt: now,
      answeredAt: undefined,
    })
    o.failures++
    o.last = error
    o.lastAt = now
    o.answeredAt = undefined
    const kind = kindOf(error.detail)
    if (o.kinds.has(kind)) o.unreported++
    else {
      o.kinds.add(kind)
      this.report(error)
    }
  }

  /** A call to the store went through. */
  readonly ok = (): void => {
    const o = this.outage
    if (o === undefined) return
    o.answeredAt ??= this.now()
    if (this.now() - o.lastAt >= QUIET_MS) this.end(o)
  }

  /** The manager is closing: an outage that calls have come through says so now, not never. */
  settle() {
    const o = this.outage
    if (o?.answeredAt !== undefined) this.end(o)
  }

  private end(o: Outage) {
    this.outage = undefined
    this.report(new StoreRecovered({ downMs: o.answeredAt! - o.since, failures: o.failures, unreported: o.unreported }))
  }

  /** The last failure, while the store fails (no call has gone through since it). */
  get failing(): unknown {
    return this.outage === undefined || this.outage.answeredAt !== undefined ? undefined : this.outage.last
  }
}
