import { describe, expect, it } from "vitest"
import { ManagerPresence } from "../../src/actors/ManagerPresence.js"
import { PersistenceError } from "../../src/jobs/errors.js"
import type { JobStore, LeaseWrite } from "../../src/persistence/JobStore.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/**
 * A store whose lease writes take as long as `delays` says, in the order they are sent (then
 * none), as writes on separate pooled connections can: it keeps what each says as it lands.
 */
const slowLeaseStore = (delays: number[]) => {
  const landed: boolean[] = []
  let sent = 0
  const store = {
    renewLease: (lease: LeaseWrite) => {
      const ms = delays[sent++] ?? 0
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          landed.push(lease.listening === true)
          resolve()
        }, ms),
      )
    },
  } as unknown as JobStore
  return { store, landed, sent: () => sent }
}

const presenceOn = (store: JobStore, leaseMs: number) =>
  new ManagerPresence(
    store,
    { managerId: "m", types: [], leaseMs, pollIntervalMs: 10 },
    {
      onNews: () => {},
      onLeases: () => {},
      onSweep: async () => {},
      onLeaseLost: () => {},
      onRenewed: () => {},
      onError: () => {},
    },
  )

describe("a manager's lease, as it says whether the manager listens", () => {
  it("lands its writes in the order they were made: a slow 'not listening' never overwrites the 'listening' after it", async () => {
    const leaseMs = 20
    // The first write ("listening") is quick, the second ("not listening", after the linger)
    // slow, the third ("listening" again) quick: unordered, the third would land first.
    const { store, landed, sent } = slowLeaseStore([0, 200, 0])
    const presence = presenceOn(store, leaseMs)
    presence.setListening(true)
    presence.setListening(false)
    await waitUntil(() => landed.length === 1, 5_000, "the first write")
    // After the linger, the 'not listening' write is on its way (sent, not landed).
    await waitUntil(() => sent() === 2, 5_000, "the 'not listening' write to be sent")
    expect(landed).toEqual([true])
    presence.setListening(true)
    await presence.othersRecording()
    await waitUntil(() => landed.length === 3, 5_000, "every write")
    expect(landed).toEqual([true, false, true])
    await presence.stop()
  })

  it("writes nothing after stop(), and stop() resolves once the writes in flight have landed", async () => {
    const { store, landed } = slowLeaseStore([100])
    const presence = presenceOn(store, 20)
    presence.setListening(true)
    await presence.stop()
    expect(landed).toEqual([true])
    presence.setListening(false)
    presence.setListening(true)
    await new Promise((r) => setTimeout(r, 60))
    expect(landed).toEqual([true])
  })
})

describe("a manager's lease, when the store fails", () => {
  const refused = () =>
    new PersistenceError({
      operation: "lease",
      reason: "Write",
      detail: "connect ECONNREFUSED",
      cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    })

  /** A store whose lease writes fail while `down.now` is true; its leases say another manager's expired. */
  const failingStore = () => {
    const down = { now: false }
    const store = {
      renewLease: () => (down.now ? Promise.reject(refused()) : Promise.resolve()),
      leases: () =>
        Promise.resolve([
          { id: "other", pid: 1, host: "elsewhere", types: ["t"], expiresAt: 0, expired: true, listening: false },
        ]),
      forgetLease: () => Promise.resolve(),
      watch: () => () => {},
    } as unknown as JobStore
    return { store, down }
  }

  it("gives up a lease whose renewal hangs (a network cut off, no answer at all) as it gives up one that fails", async () => {
    const store = {
      renewLease: () => new Promise<void>(() => {}),
      leases: () => Promise.resolve([]),
      forgetLease: () => Promise.resolve(),
      watch: () => () => {},
    } as unknown as JobStore
    const lost: number[] = []
    const presence = new ManagerPresence(
      store,
      { managerId: "m", types: ["t"], leaseMs: 80, pollIntervalMs: 10 },
      {
        onNews: () => {},
        onLeases: () => {},
        onSweep: async () => {},
        onLeaseLost: () => lost.push(Date.now()),
        onRenewed: () => {},
        onError: () => {},
      },
    )
    presence.start()
    await waitUntil(() => lost.length > 0, 5_000, "the lease given up")
    expect(lost).toHaveLength(1)
    void presence.stop()
  })

  it("judges other managers' leases only after renewing its own: cut off, it finds nobody dead", async () => {
    const { store, down } = failingStore()
    const sweeps: string[][] = []
    const lost: number[] = []
    const presence = new ManagerPresence(
      store,
      { managerId: "m", types: ["t"], leaseMs: 80, pollIntervalMs: 10 },
      {
        onNews: () => {},
        onLeases: () => {},
        onSweep: async (owners) => void sweeps.push(owners.deadOwners().map((d) => d.lease.id)),
        onLeaseLost: () => lost.push(Date.now()),
        onRenewed: () => {},
        onError: () => {},
      },
    )
    down.now = true
    presence.start()
    // Several sweep periods (40 ms) and more than a lease: its own renewal fails each time.
    await new Promise((r) => setTimeout(r, 400))
    expect(sweeps).toEqual([])
    // It could not renew for three quarters of a lease: it says so, once.
    expect(lost).toHaveLength(1)
    down.now = false
    await waitUntil(() => sweeps.length > 0, 5_000, "a sweep once it renews")
    expect(sweeps[0]).toEqual(["other"])
    await presence.stop()
  })
})
