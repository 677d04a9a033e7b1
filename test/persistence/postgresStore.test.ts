import { describe, expect, it } from "vitest"
import { PersistenceError } from "../../src/jobs/errors.js"
import type { JobStore } from "../../src/persistence/JobStore.js"
import { PostgresJobStore } from "../../src/persistence/PostgresJobStore.js"
import { pgMigrations } from "../../src/persistence/postgres/migrations.js"
import { usePostgres } from "../fixtures/postgres.js"
import { at, lifecycle, newJob } from "../fixtures/storeRows.js"

const db = usePostgres()

const rejectionOf = async (promise: Promise<unknown>): Promise<PersistenceError> => {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(PersistenceError)
    return error as PersistenceError
  }
  throw new Error("expected a rejection")
}

/** Claims up to `limit` queued rows of type `t` as `owner`, starting each. */
const startAll = (store: JobStore, owner: string, limit = 100) =>
  store.commit([], { owner, limit, types: ["t"], decide: () => ({ start: lifecycle("running") }), at: at(1) })

/** Everything a migration or a refusal could change in a schema. */
const stateOf = async (schema: string) => ({
  relations: await db.admin(
    `SELECT relname, relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = $1 ORDER BY 1`,
    [schema],
  ),
  migrations: await db.admin(`SELECT version, applied_at FROM ${schema}.jobstate_migrations ORDER BY version`),
  jobs: await db.admin(`SELECT * FROM ${schema}.jobs ORDER BY seq`),
})

describe("PostgresJobStore: migrations", () => {
  it("migrates a fresh schema exactly once when five stores open it at the same moment", async () => {
    const schema = db.freshSchema()
    const stores = await Promise.all(Array.from({ length: 5 }, () => db.open(schema)))
    expect((await db.admin(`SELECT version FROM ${schema}.jobstate_migrations`)).map((r) => r.version)).toEqual(
      pgMigrations.map((m) => m.version),
    )
    const tables = await db.admin(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      [schema],
    )
    expect(tables.map((r) => r.table_name)).toEqual([
      "job_count_changes",
      "job_counts",
      "job_events",
      "job_inbox",
      "job_logs",
      "jobs",
      "jobstate_migrations",
      "managers",
      "schedules",
    ])
    const job = newJob()
    await stores[0]!.insertJob(job)
    for (const store of stores) expect((await store.getJob(job.id))?.id).toBe(job.id)
  })

  it("opens an up-to-date schema without changing it", async () => {
    const schema = db.freshSchema()
    const first = await db.open(schema)
    await first.insertJob(newJob())
    const before = await stateOf(schema)
    await db.open(schema)
    expect(await stateOf(schema)).toEqual(before)
  })

  it("refuses, untouched, a schema whose recorded version is newer than it knows", async () => {
    const schema = db.freshSchema()
    const store = await db.open(schema)
    await store.insertJob(newJob())
    await store.close()
    await db.admin(
      `UPDATE ${schema}.jobstate_migrations SET version = 99 WHERE version = (SELECT max(version) FROM ${schema}.jobstate_migrations)`,
    )
    const before = await stateOf(schema)

    const error = await rejectionOf(PostgresJobStore.open({ databaseUrl: db.url, schema }))
    expect(error.reason).toBe("NewerSchema")
    expect(error.message).toContain("schema version 99")
    expect(await stateOf(schema)).toEqual(before)
  })

  it("refuses a schema name it would have to quote", async () => {
    const error = await rejectionOf(PostgresJobStore.open({ databaseUrl: db.url, schema: 'Bad"Name' }))
    expect(error.reason).toBe("Open")
  })
})

describe("PostgresJobStore: rows", () => {
  it("stores a dispatched job as queued and reads it back in the DbJob shape, integers as numbers and blobs as Buffers", async () => {
    const store = await db.open()
    const job = newJob({ priority: 10, createdAt: at(0) })
    await store.insertJob(job)
    const row = await store.getJob(job.id)
    expect(row).toEqual({
      seq: expect.any(Number),
      id: job.id,
      name: "t",
      params: job.params,
      data: job.data,
      status: "queued",
      snapshot: job.snapshot,
      priority: 10,
      progress: null,
      progress_data: null,
      output: null,
      error_message: null,
      error: null,
      attempts: 0,
      state_version: 0,
      paused_by: null,
      owner: null,
      request: null,
      created_at: at(0),
      started_at: null,
      completed_at: null,
      last_checkpoint: null,
      updated_at: at(0),
      run_at: null,
      failures: 0,
      last_error: null,
      unique_key: null,
      options: null,
      state_schema_version: 1,
      parent_id: null,
      child_key: null,
      awaiting_children: false,
      awaiting_events: false,
      inbox_applied: 0,
    })
    expect(Buffer.isBuffer(row!.params)).toBe(true)
    expect(await store.getJob("no-such-id")).toBeUndefined()
  })

  it("gives back a garbage snapshot byte for byte: decoding is the engine's business", async () => {
    const store = await db.open()
    const garbage = Buffer.from([0x00, 0xc1, 0xff, 0x5c, 0x78, 0x00, 0x27, 0xde, 0xad])
    const job = newJob({ snapshot: garbage, data: Buffer.alloc(0) })
    await store.insertJob(job)
    expect((await store.getJob(job.id))!.snapshot.equals(garbage)).toBe(true)
    expect((await store.getJob(job.id))!.data.length).toBe(0)
    const seen: Buffer[] = []
    await store.commit([], {
      owner: "m1",
      limit: 1,
      types: ["t"],
      decide: (row) => (seen.push(row.snapshot), { start: lifecycle("running") }),
      at: at(1),
    })
    expect(seen[0]!.equals(garbage)).toBe(true)
  })

  it("rejects a second job with the same id as a Write error", async () => {
    const store = await db.open()
    const job = newJob()
    await store.insertJob(job)
    expect((await rejectionOf(store.insertJob(job))).reason).toBe("Write")
  })

  it("lists jobs oldest or newest first, by status and by name, a page at a time", async () => {
    const store = await db.open()
    const jobs = [
      newJob({ name: "a" }),
      newJob({ name: "b" }),
      newJob({ name: "a" }),
      newJob({ name: "b" }),
      newJob({ name: "a" }),
    ]
    for (const job of jobs) await store.insertJob(job)
    await store.commit([], {
      owner: "m1",
      limit: 1,
      types: ["b"],
      decide: () => ({ start: lifecycle("running") }),
      at: at(1),
    })
    const ids = (rows: ReadonlyArray<{ id: string }>) => rows.map((r) => r.id)
    expect(ids(await store.listJobs({}))).toEqual(jobs.map((j) => j.id))
    expect(ids(await store.listJobs({ order: "newest" }))).toEqual(jobs.map((j) => j.id).reverse())
    expect(ids(await store.listJobs({ name: "a", order: "newest", limit: 2 }))).toEqual([jobs[4]!.id, jobs[2]!.id])
    expect(ids(await store.listJobs({ status: "queued", limit: 2, offset: 1 }))).toEqual([jobs[2]!.id, jobs[3]!.id])
    expect(ids(await store.listJobs({ status: "running" }))).toEqual([jobs[1]!.id])
    expect(ids(await store.listJobs({ status: "queued", name: "b" }))).toEqual([jobs[3]!.id])
    // As in SQLite, a negative limit is no limit.
    expect(await store.listJobs({ limit: -1 })).toHaveLength(5)
  })

  it("finds ids by prefix, taking % and _ literally", async () => {
    const store = await db.open()
    for (const id of ["abc-2", "abc-1", "abd", "a%c", "a_c", "axc"]) await store.insertJob(newJob({ id }))
    expect(await store.idsWithPrefix("abc", 10)).toEqual(["abc-1", "abc-2"])
    expect(await store.idsWithPrefix("abc", 1)).toEqual(["abc-1"])
    expect(await store.idsWithPrefix("a%", 10)).toEqual(["a%c"])
    expect(await store.idsWithPrefix("a_", 10)).toEqual(["a_c"])
    expect(await store.idsWithPrefix("z", 10)).toEqual([])
  })

  it("reads a job's log after a sequence number, a page at a time; a NUL in a line is stored as U+FFFD", async () => {
    const store = await db.open()
    const job = newJob()
    await store.insertJob(job)
    const lines = ["one", "two", "th\0ree", "four"]
    const applied = await store.commit(
      lines.map((message, i) => ({ kind: "log" as const, id: job.id, level: "info" as const, message, at: at(i) })),
    )
    expect(applied).toEqual({ applied: [true, true, true, true], claimed: [] })
    const all = await store.logs(job.id)
    expect(all.map((l) => l.message)).toEqual(["one", "two", "th\uFFFDree", "four"])
    expect(all[0]).toEqual({ seq: expect.any(Number), job_id: job.id, at: at(0), level: "info", message: "one" })
    expect((await store.logs(job.id, all[1]!.seq)).map((l) => l.message)).toEqual(["th\uFFFDree", "four"])
    expect((await store.logs(job.id, 0, 2)).map((l) => l.message)).toEqual(["one", "two"])
    expect(await store.logs("other")).toEqual([])
  })

  it("finds orphans, jobs paused by a shutdown and damaged rows, of the given types only", async () => {
    const store = await db.open()
    const [mine, theirs, nobodys, otherType, pausedShutdown, pausedUser, damaged] = [
      newJob(),
      newJob(),
      newJob(),
      newJob({ name: "u" }),
      newJob(),
      newJob(),
      newJob(),
    ]
    for (const job of [mine, theirs, nobodys, otherType, pausedShutdown, pausedUser, damaged])
      await store.insertJob(job!)
    const t = `${store.schema}.jobs`
    await db.admin(`UPDATE ${t} SET status = 'running', owner = 'live' WHERE id = $1`, [mine!.id])
    await db.admin(`UPDATE ${t} SET status = 'running', owner = 'dead' WHERE id = ANY($1)`, [
      [theirs!.id, otherType!.id],
    ])
    await db.admin(`UPDATE ${t} SET status = 'running', owner = NULL WHERE id = $1`, [nobodys!.id])
    await db.admin(`UPDATE ${t} SET status = 'paused', paused_by = 'shutdown' WHERE id = $1`, [pausedShutdown!.id])
    await db.admin(`UPDATE ${t} SET status = 'paused', paused_by = 'user' WHERE id = $1`, [pausedUser!.id])
    await db.admin(`UPDATE ${t} SET status = 'exploded' WHERE id = $1`, [damaged!.id])

    expect((await store.orphans(["t"], ["live"])).map((r) => r.id)).toEqual([theirs!.id, nobodys!.id])
    expect((await store.orphans(["t", "u"], [])).map((r) => r.id)).toEqual([
      mine!.id,
      theirs!.id,
      nobodys!.id,
      otherType!.id,
    ])
    expect((await store.pausedByShutdown(["t"])).map((r) => r.id)).toEqual([pausedShutdown!.id])
    expect(await store.pausedByShutdown(["u"])).toEqual([])
    const found = await store.damaged()
    expect(found.map((r) => [r.id, r.status])).toEqual([[damaged!.id, "exploded"]])
  })
})

describe("PostgresJobStore: commands left for a job's owner", () => {
  it("leaves a command only on the row it expects, where it stays until the owner's transition clears it", async () => {
    const store = await db.open()
    const job = newJob()
    await store.insertJob(job)
    await startAll(store, "m1")
    expect(await store.requestCommand(job.id, { status: "running", owner: "m2" }, "pause")).toBe(false)
    expect(await store.requestCommand(job.id, { status: "paused", owner: null }, "pause")).toBe(false)
    expect(await store.requestCommand(job.id, { status: "running", owner: "m1" }, "cancel")).toBe(true)
    expect(await store.requestsFor("m2")).toEqual([])
    expect(await store.requestsFor("m1")).toEqual([{ id: job.id, request: "cancel" }])
    // It stays until the transition it causes clears it: a dead owner's command is not lost.
    expect(await store.requestsFor("m1")).toEqual([{ id: job.id, request: "cancel" }])
    // The owner's transition clears it.
    const { applied } = await store.commit([
      {
        kind: "transition",
        id: job.id,
        expect: { status: "running", owner: "m1" },
        lifecycle: lifecycle("cancelled"),
        at: at(2),
      },
    ])
    expect(applied).toEqual([true])
    expect((await store.getJob(job.id))!.request).toBeNull()
    expect(await store.requestsFor("m1")).toEqual([])
  })
})

describe("PostgresJobStore: leases, by the database's clock", () => {
  it("judges a lease expired once its time has passed, keeps a renewed one, and forgets only the dead one it saw", async () => {
    const store = await db.open()
    await store.renewLease({ id: "short", pid: 11, host: "h1", types: ["t", "u"], leaseMs: 200 })
    await store.renewLease({ id: "long", pid: 12, host: "h2", types: [], leaseMs: 600_000 })
    const [long] = await store.leases()
    expect(long).toMatchObject({ id: "long", pid: 12, host: "h2", types: [], expired: false })
    expect(Number.isInteger(long!.expiresAt)).toBe(true)
    // Same machine, so the database's clock is near ours; only a gross mismatch fails this.
    expect(Math.abs(long!.expiresAt - (Date.now() + 600_000))).toBeLessThan(60_000)

    await new Promise((r) => setTimeout(r, 300))
    const short = (await store.leases()).find((l) => l.id === "short")!
    expect(short).toMatchObject({ types: ["t", "u"], expired: true })
    expect((await store.leases()).find((l) => l.id === "long")!.expired).toBe(false)

    // Renewed after it was seen dead: forgetting the stale sighting must not delete it.
    await store.renewLease({ id: "short", pid: 11, host: "h1", types: ["t"], leaseMs: 600_000 })
    await store.forgetLease("short", short.expiresAt)
    const renewed = (await store.leases()).find((l) => l.id === "short")!
    expect(renewed).toMatchObject({ expired: false, types: ["t"] })

    // Not expired: not forgotten, even with the right expiry.
    await store.forgetLease("short", renewed.expiresAt)
    expect((await store.leases()).map((l) => l.id)).toEqual(["long", "short"])

    await store.renewLease({ id: "short", pid: 11, host: "h1", types: ["t"], leaseMs: 1 })
    await new Promise((r) => setTimeout(r, 50))
    const dead = (await store.leases()).find((l) => l.id === "short")!
    expect(dead.expired).toBe(true)
    await store.forgetLease("short", dead.expiresAt)
    expect((await store.leases()).map((l) => l.id)).toEqual(["long"])
    await store.dropLease("long")
    expect(await store.leases()).toEqual([])
  })
})

describe("PostgresJobStore: close", () => {
  it("closes once however often it is asked, and then refuses every call as Closed", async () => {
    const store = await db.open()
    const stop = store.watch(() => {}, 1000)
    await Promise.all([store.close(), store.close()])
    await store.close()
    stop()
    expect((await rejectionOf(store.getJob("x"))).reason).toBe("Closed")
    expect((await rejectionOf(store.commit([]))).reason).toBe("Closed")
    expect((await rejectionOf(store.renewLease({ id: "m", pid: 1, host: "h", types: [], leaseMs: 1 }))).reason).toBe(
      "Closed",
    )
    expect(store.location).not.toContain("password")
  })
})
