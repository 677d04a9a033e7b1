import type Database from "better-sqlite3"
import type { Lease, LeaseWrite } from "../JobStore.js"
import { json } from "./connection.js"

/*
 * A manager is alive while its lease has not run out by the store's clock (`now`): one file on
 * one host, so the host's clock is everyone's. Expiries are epoch ms.
 */
export const prepareLeases = (db: Database.Database, now: () => number) => {
  const upsert = db.prepare(/* sql */ `
    INSERT INTO managers (id, pid, host, types, expires_at, listening, concurrency, lease_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, types = excluded.types, listening = excluded.listening,
      concurrency = excluded.concurrency, lease_ms = excluded.lease_ms`)
  const remove = db.prepare(/* sql */ `DELETE FROM managers WHERE id = ?`)
  // Only the lease found dead, and only if it is still expired (as PostgreSQL's forgetLease).
  const forget = db.prepare(/* sql */ `DELETE FROM managers WHERE id = ? AND expires_at = ? AND expires_at < ?`)
  const all = db.prepare(/* sql */ `SELECT * FROM managers`)
  return {
    renewLease: (lease: LeaseWrite): void =>
      void upsert.run(
        lease.id,
        lease.pid,
        lease.host,
        json(lease.types),
        now() + lease.leaseMs,
        lease.listening ? 1 : 0,
        lease.concurrency ?? 0,
        lease.leaseMs,
      ),
    dropLease: (id: string): void => void remove.run(id),
    leases: (): Lease[] => {
      const at = now()
      type Row = {
        id: string
        pid: number
        host: string
        types: string
        expires_at: number
        listening: number
        concurrency: number
        lease_ms: number
      }
      return (all.all() as Row[]).map((l) => ({
        id: l.id,
        pid: l.pid,
        host: l.host,
        types: JSON.parse(l.types) as string[],
        expiresAt: l.expires_at,
        // As PostgreSQL judges it: a lease that runs out this millisecond still holds.
        expired: l.expires_at < at,
        listening: l.listening === 1,
        concurrency: l.concurrency,
        leaseMs: l.lease_ms,
        renewedAgoMs: Math.max(0, at - (l.expires_at - l.lease_ms)),
      }))
    },
    /** Deletes the lease only if it is still the one found dead: expired, and not renewed since. */
    forgetLease: (id: string, expiresAt: number): void => void forget.run(id, expiresAt, now()),
  }
}
