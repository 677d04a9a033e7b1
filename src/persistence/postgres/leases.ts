import type { Lease, LeaseWrite } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"

/*
 * A manager is alive while its lease has not run out by the DATABASE's clock: every process
 * on every machine reads the same clock, so a skewed host clock cannot make a live manager
 * look dead. Expiries are kept to the millisecond, so `expiresAt` (epoch ms) names one
 * stored value exactly and `forgetLease` can compare it.
 */

export const renewLease = async (db: Queryable, t: Tables, lease: LeaseWrite): Promise<void> => {
  await db.query({
    name: "jobstate.renewLease",
    text: /* sql */ `
      INSERT INTO ${t.managers} (id, pid, host, types, expires_at, listening, concurrency, lease_ms)
      VALUES ($1, $2, $3, $4, date_trunc('milliseconds', now() + $5::float8 * interval '1 millisecond'), $6, $7, $5)
      ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, types = excluded.types, expires_at = excluded.expires_at,
        listening = excluded.listening, concurrency = excluded.concurrency, lease_ms = excluded.lease_ms`,
    values: [
      lease.id,
      lease.pid,
      lease.host,
      JSON.stringify(lease.types),
      lease.leaseMs,
      lease.listening === true,
      lease.concurrency ?? 0,
    ],
  })
}

export const dropLease = async (db: Queryable, t: Tables, id: string): Promise<void> => {
  await db.query(/* sql */ `DELETE FROM ${t.managers} WHERE id = $1`, [id])
}

export const leases = async (db: Queryable, t: Tables): Promise<Lease[]> => {
  type Row = {
    id: string
    pid: number
    host: string
    types: string
    expires_at: number
    expired: boolean
    listening: boolean
    concurrency: number
    lease_ms: number
    renewed_ago_ms: number
  }
  const { rows } = await db.query<Row>({
    name: "jobstate.leases",
    text: /* sql */ `
      SELECT id, pid, host, types, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_at, expires_at < now() AS expired, listening,
        concurrency, lease_ms, greatest(0, (extract(epoch FROM now() - expires_at) * 1000)::bigint + lease_ms) AS renewed_ago_ms
      FROM ${t.managers} ORDER BY id`,
  })
  return rows.map((l) => ({
    id: l.id,
    pid: l.pid,
    host: l.host,
    types: JSON.parse(l.types) as string[],
    expiresAt: Number(l.expires_at),
    expired: l.expired,
    listening: l.listening,
    concurrency: l.concurrency,
    leaseMs: l.lease_ms,
    renewedAgoMs: Number(l.renewed_ago_ms),
  }))
}

/** Deletes the lease only if it is still the one found dead: expired, and not renewed since. */
export const forgetLease = async (db: Queryable, t: Tables, id: string, expiresAt: number): Promise<void> => {
  await db.query(
    /* sql */ `
      DELETE FROM ${t.managers}
      WHERE id = $1 AND (extract(epoch FROM expires_at) * 1000)::bigint = $2::bigint AND expires_at < now()`,
    [id, expiresAt],
  )
}
