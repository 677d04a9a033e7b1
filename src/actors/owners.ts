import { hostname } from "node:os"
import type { Lease } from "../persistence/JobStore.js"

export const thisHost = hostname()

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Why a manager no longer owns its running jobs. */
export interface DeadOwner {
  readonly lease: Lease
  readonly reason: "lease expired" | "process gone"
}

/**
 * Who is alive, judged once from the leases as the store read them. The one rule: a manager is
 * dead when its own lease has expired by the store's clock, or, on this host, when its process
 * no longer exists (a SIGKILLed owner is recognised at once, not after its lease runs out).
 * Nothing here deletes anything.
 */
export class Owners {
  private readonly live = new Map<string, Lease>()
  private readonly dead = new Map<string, DeadOwner>()

  constructor(
    leases: ReadonlyArray<Lease>,
    /** The manager asking: alive whatever its lease says. */
    readonly self: string | null,
  ) {
    for (const lease of leases) {
      if (lease.id === self) this.live.set(lease.id, lease)
      else if (lease.expired) this.dead.set(lease.id, { lease, reason: "lease expired" })
      else if (lease.host === thisHost && !pidAlive(lease.pid))
        this.dead.set(lease.id, { lease, reason: "process gone" })
      else this.live.set(lease.id, lease)
    }
  }

  isLive(owner: string | null): boolean {
    return owner !== null && (owner === this.self || this.live.has(owner))
  }

  /** Every lease as read, live and dead. */
  leases(): ReadonlyArray<Lease> {
    return [...this.live.values(), ...[...this.dead.values()].map((d) => d.lease)]
  }

  /** The live managers' ids (the asker's included). */
  liveIds(): ReadonlyArray<string> {
    const ids = [...this.live.keys()]
    if (this.self !== null && !this.live.has(this.self)) ids.push(this.self)
    return ids
  }

  deadOwners(): ReadonlyArray<DeadOwner> {
    return [...this.dead.values()]
  }

  deadOwner(owner: string | null): DeadOwner | undefined {
    return owner === null ? undefined : this.dead.get(owner)
  }

  /** Whether some live manager other than the asker has `manager.events` subscribers. */
  othersListen(): boolean {
    for (const lease of this.live.values()) if (lease.listening && lease.id !== this.self) return true
    return false
  }

  /** Whether some live manager claims jobs of this type. */
  runsType(name: string): boolean {
    for (const lease of this.live.values()) if (lease.types.includes(name)) return true
    return false
  }
}
