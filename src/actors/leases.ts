import { hostname } from "node:os"
import type { SqliteJobStore } from "../persistence/SqliteJobStore.js"

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

export const thisHost = hostname()

/**
 * The managers that still own their running jobs: a lease renewed within `leaseMs`, and, on
 * this host, a process that still exists (so a SIGKILLed owner is recognised at once instead
 * of after its lease runs out).
 */
export const liveOwners = (store: SqliteJobStore, self: string, now: number, leaseMs: number): Set<string> => {
  const alive = new Set<string>([self])
  for (const lease of store.leases()) {
    if (lease.id === self) continue
    const fresh = now - lease.heartbeat_at < leaseMs
    const processGone = lease.host === thisHost && !pidAlive(lease.pid)
    if (fresh && !processGone) alive.add(lease.id)
    else store.dropLease(lease.id)
  }
  return alive
}
