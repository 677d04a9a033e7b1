import type { JobStore } from "../persistence/JobStore.js"
import { Owners, thisHost } from "./owners.js"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * How often, at most, a manager reads the leases on news to learn whether another one listens
 * to events (see `JobManager.onNews`).
 */
const EVENT_GATE_MS = 250
/** Time for another manager's look at the leases itself (its query, its event loop's lag). */
const LOOK_MS = 150

export interface PresenceOptions {
  readonly managerId: string
  /** The job types this manager claims; empty for a producer. */
  readonly types: ReadonlyArray<string>
  readonly leaseMs: number
  /** How many jobs it runs at once at most, for whoever looks at the leases (default 0). */
  readonly concurrency?: number
  /** How often to look for what other processes did (a safety net where the store is told). */
  readonly pollIntervalMs: number
}

export interface PresenceHandlers {
  /** Another process may have changed the store. */
  readonly onNews: () => Promise<void> | void
  /** The leases as read on news (at most every `EVENT_GATE_MS`): who listens to events now. */
  readonly onLeases: (owners: Owners) => void
  /** Time to look for managers that died, and recover their jobs. */
  readonly onSweep: (owners: Owners) => Promise<void>
  /**
   * The lease could not be renewed for three quarters of a lease period (the store fails): soon
   * another manager may find it expired and take this one's jobs over. Stop running them.
   */
  readonly onLeaseLost: () => void
  /** A lease write went through: the store answers. */
  readonly onRenewed: () => void
  readonly onError: (error: unknown) => void
}

/**
 * A manager's presence in a shared store: it keeps its lease (with its own expiry, written by
 * the store's clock), hears about other processes' changes, and sweeps for dead managers.
 */
export class ManagerPresence {
  private readonly stops: Array<() => void> = []
  private sweeping = false
  private renewing = false
  /** Whether the lease says this manager has `manager.events` subscribers. */
  private listening = false
  /** Says "not listening" in the lease, a lease period after the last subscriber left. */
  private quiet: NodeJS.Timeout | undefined
  /** When the leases were last read for `onLeases`, and the read due after news came too soon. */
  private leasesReadAt = 0
  private leasesDue: NodeJS.Timeout | undefined
  /** Settles once the others have had time to read that this manager listens. */
  private heard: Promise<void> = Promise.resolve()
  /** The lease writes, one after another: each says `listening` as it is when it is sent. */
  private leaseWrites: Promise<void> = Promise.resolve()
  private stopped = false
  /** When the last lease write that went through was sent: the lease holds until at least a lease period after it. */
  private renewedAt = Date.now()
  /** Since when lease writes have failed; undefined while they go through. */
  private failingSince: number | undefined
  /** When the lease write in flight was sent; undefined when none is (one that hangs counts as failing). */
  private inFlightSince: number | undefined
  /** `onLeaseLost` was called, and no lease write has gone through since. */
  private fenced = false

  constructor(
    private readonly store: JobStore,
    private readonly options: PresenceOptions,
    private readonly handlers: PresenceHandlers,
  ) {}

  renewLease(): Promise<void> {
    const o = this.options
    // In order: a renewal sent before a change must not land after it (PostgreSQL sends each
    // on its own pooled connection).
    const write = this.leaseWrites.then(async () => {
      const sentAt = Date.now()
      this.inFlightSince = sentAt
      try {
        await this.store.renewLease({
          id: o.managerId,
          pid: process.pid,
          host: thisHost,
          types: o.types,
          leaseMs: o.leaseMs,
          concurrency: o.concurrency,
          listening: this.listening,
        })
      } catch (error) {
        this.failingSince ??= sentAt
        throw error
      } finally {
        this.inFlightSince = undefined
      }
      this.renewedAt = sentAt
      this.failingSince = undefined
      this.fenced = false
      this.handlers.onRenewed()
    })
    this.leaseWrites = write.catch(() => undefined)
    return write
  }

  /**
   * Called eight times per lease period: when lease writes have been failing (or one has hung)
   * and the last one that went through was sent three quarters of a lease period ago, the lease
   * may expire before the next one lands. (A slow event loop alone never fences: a write must
   * have failed, or be on its way for that long.)
   */
  private checkLease() {
    if (this.fenced) return
    const now = Date.now()
    if (now - this.renewedAt < (this.options.leaseMs * 3) / 4) return
    const hung = this.inFlightSince !== undefined && now - this.inFlightSince >= this.options.leaseMs / 4
    if (this.failingSince === undefined && !hung) return
    this.fenced = true
    this.handlers.onLeaseLost()
  }

  /**
   * Says in the lease whether this manager has `manager.events` subscribers: while one does,
   * the others record their events in `job_events` for it. A start is said at once; an end a
   * lease period later, so a subscriber that comes straight back (a page reloaded, a stream
   * reconnected) finds the others still recording.
   */
  setListening(listening: boolean) {
    if (this.stopped) return
    clearTimeout(this.quiet)
    this.quiet = undefined
    if (!listening) {
      if (this.listening) {
        this.quiet = setTimeout(() => this.announce(false), this.options.leaseMs)
        this.quiet.unref()
      }
      return
    }
    if (!this.listening) this.announce(true)
  }

  /**
   * Settles once the other managers record their events for this one's subscribers: at once
   * while its lease says it listens (a subscriber, or one that left less than a lease period
   * ago); after a first subscriber, once its lease says so and the others have had their next
   * look: their poll (taken to be no longer than this manager's), then at most `EVENT_GATE_MS`.
   * A lease write that fails is reported to `onError`, and this settles all the same.
   */
  othersRecording(): Promise<void> {
    return this.heard
  }

  private announce(listening: boolean) {
    if (this.stopped) return
    this.listening = listening
    const written = this.renewLease()
    written.catch(this.handlers.onError)
    if (listening)
      this.heard = written.then(
        () => sleep(this.options.pollIntervalMs + EVENT_GATE_MS + LOOK_MS),
        () => undefined,
      )
  }

  /**
   * News: reads the leases for `onLeases`, at once if the last read is `EVENT_GATE_MS` old,
   * else when it will be, so a lease changed between two reads is never left unread.
   */
  readLeases(): Promise<void> | undefined {
    if (this.stopped) return undefined
    const wait = this.leasesReadAt + EVENT_GATE_MS - Date.now()
    if (wait <= 0) {
      this.leasesReadAt = Date.now()
      return this.owners().then(this.handlers.onLeases)
    }
    if (this.leasesDue === undefined) {
      this.leasesDue = setTimeout(() => {
        this.leasesDue = undefined
        this.readLeases()?.catch(this.handlers.onError)
      }, wait)
      this.leasesDue.unref()
    }
    return undefined
  }

  /** The leases as the store has them now, judged by the one liveness rule. */
  async owners(): Promise<Owners> {
    return new Owners(await this.store.leases(), this.options.managerId)
  }

  start() {
    const { leaseMs, pollIntervalMs } = this.options
    // A few renewals per lease period: often enough to stay alive through a slow turn.
    // Often enough that a lease that cannot be renewed is given up soon after ¾ of its period.
    this.every(Math.max(10, Math.floor(leaseMs / 8)), () => this.checkLease())
    this.every(Math.max(10, Math.floor(leaseMs / 4)), () => {
      if (this.renewing) return
      this.renewing = true
      this.renewLease()
        .catch(this.handlers.onError)
        .finally(() => (this.renewing = false))
    })
    this.stops.push(
      this.store.watch(() => {
        Promise.resolve().then(this.handlers.onNews).catch(this.handlers.onError)
      }, pollIntervalMs),
    )
    this.every(Math.max(50, Math.floor(leaseMs / 2)), () => this.sweep())
  }

  /**
   * Renews this manager's own lease, then judges the others': after an outage that let every
   * lease expire, a manager that could not renew its own judges nobody (it may be the one cut
   * off), and one that did, judges with the leases as they are after its renewal.
   */
  private sweep() {
    if (this.sweeping) return
    this.sweeping = true
    this.renewLease()
      .then(() => this.owners())
      .then(async (owners) => {
        await this.handlers.onSweep(owners)
        // Forget leases long dead, so the table does not grow with every killed process.
        const longAgo = Date.now() - Math.max(60_000, 10 * this.options.leaseMs)
        for (const dead of owners.deadOwners()) {
          if (dead.lease.expiresAt < longAgo) await this.store.forgetLease(dead.lease.id, dead.lease.expiresAt)
        }
      })
      .catch(this.handlers.onError)
      .finally(() => (this.sweeping = false))
  }

  private every(ms: number, f: () => void) {
    const timer = setInterval(f, ms)
    timer.unref()
    this.stops.push(() => clearInterval(timer))
  }

  /** Stops every timer; resolves once the lease writes in flight have landed. */
  stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.quiet)
    clearTimeout(this.leasesDue)
    for (const stop of this.stops.splice(0)) stop()
    return this.leaseWrites
  }
}
