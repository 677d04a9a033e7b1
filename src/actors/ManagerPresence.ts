import type { JobStore } from "../persistence/JobStore.js"
import { Owners, thisHost } from "./owners.js"

export interface PresenceOptions {
  readonly managerId: string
  /** The job types this manager claims; empty for a producer. */
  readonly types: ReadonlyArray<string>
  readonly leaseMs: number
  /** How often to look for what other processes did (a safety net where the store is told). */
  readonly pollIntervalMs: number
}

export interface PresenceHandlers {
  /** Another process may have changed the store. */
  readonly onNews: () => Promise<void> | void
  /** Time to look for managers that died, and recover their jobs. */
  readonly onSweep: (owners: Owners) => Promise<void>
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

  constructor(
    private readonly store: JobStore,
    private readonly options: PresenceOptions,
    private readonly handlers: PresenceHandlers,
  ) {}

  renewLease(): Promise<void> {
    const o = this.options
    return this.store.renewLease({ id: o.managerId, pid: process.pid, host: thisHost, types: o.types, leaseMs: o.leaseMs, listening: this.listening })
  }

  /**
   * Says in the lease, at once, whether this manager has `manager.events` subscribers: while
   * one does, the others record their events in `job_events` for it.
   */
  setListening(listening: boolean) {
    if (this.listening === listening) return
    this.listening = listening
    this.renewLease().catch(this.handlers.onError)
  }

  /** The leases as the store has them now, judged by the one liveness rule. */
  async owners(): Promise<Owners> {
    return new Owners(await this.store.leases(), this.options.managerId)
  }

  start() {
    const { leaseMs, pollIntervalMs } = this.options
    // A few renewals per lease period: often enough to stay alive through a slow turn.
    this.every(Math.max(10, Math.floor(leaseMs / 4)), () => {
      if (this.renewing) return
      this.renewing = true
      this.renewLease()
        .catch(this.handlers.onError)
        .finally(() => (this.renewing = false))
    })
    this.stops.push(
      this.store.watch(() => {
        Promise.resolve()
          .then(this.handlers.onNews)
          .catch(this.handlers.onError)
      }, pollIntervalMs),
    )
    this.every(Math.max(50, Math.floor(leaseMs / 2)), () => this.sweep())
  }

  private sweep() {
    if (this.sweeping) return
    this.sweeping = true
    this.owners()
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

  stop() {
    for (const stop of this.stops.splice(0)) stop()
  }
}
