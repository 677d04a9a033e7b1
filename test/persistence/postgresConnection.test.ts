import { describe, expect, it } from "vitest"
import { PersistenceError } from "../../src/jobs/errors.js"
import type { JobStore } from "../../src/persistence/JobStore.js"
import { PostgresJobStore } from "../../src/persistence/PostgresJobStore.js"
import { inTransaction, makePool } from "../../src/persistence/postgres/connection.js"
import { usePostgres } from "../fixtures/postgres.js"
import { at, lifecycle, newJob } from "../fixtures/storeRows.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const db = usePostgres()

/** A watch callback that counts its calls. The safety-net interval is long, so calls here come from NOTIFY. */
const counter = (store: JobStore) => {
  const seen = { calls: 0 }
  const stop = store.watch(() => void seen.calls++, 600_000)
  return { seen, stop }
}

/** The first call comes once the LISTEN is in place: from then on no notification is missed. */
const listening = async (store: JobStore) => {
  const watch = counter(store)
  await waitUntil(() => watch.seen.calls > 0, 20_000, "the first call, once listening")
  watch.seen.calls = 0
  return watch
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Terminates this database's backends of the store connections named `applicationName`; returns how many. */
const terminate = async (applicationName: string) => {
  const rows = await db.admin<{ pid: number }>(
    `SELECT pg_terminate_backend(pid, 10000) AS done, pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  )
  return rows.length
}

describe("PostgresJobStore.watch", () => {
  it("is told by another store's dispatch, command and status change", async () => {
    const schema = db.freshSchema()
    const [watcher, other] = [await db.open(schema), await db.open(schema)]
    const { seen } = await listening(watcher)

    const job = newJob()
    await other.insertJob(job)
    await waitUntil(() => seen.calls > 0, 20_000, "a call after a dispatch")

    await other.commit([], {
      owner: "m1",
      limit: 1,
      types: ["t"],
      decide: () => ({ start: lifecycle("running") }),
      at: at(1),
    })
    seen.calls = 0
    expect(await other.requestCommand(job.id, { status: "running", owner: "m1" }, "pause")).toBe(true)
    await waitUntil(() => seen.calls > 0, 20_000, "a call after a command")

    seen.calls = 0
    await other.commit([
      {
        kind: "transition",
        id: job.id,
        expect: { status: "running", owner: "m1" },
        lifecycle: lifecycle("completed"),
        at: at(2),
      },
    ])
    await waitUntil(() => seen.calls > 0, 20_000, "a call after a job's end")
  })

  it("is not told of its own store's writes, and stops when unsubscribed", async () => {
    const schema = db.freshSchema()
    const [store, other] = [await db.open(schema), await db.open(schema)]
    const { seen, stop } = await listening(store)
    await store.insertJob(newJob())
    // A negative, so a wait: on a slow machine this may pass when it should not, never the reverse.
    await sleep(300)
    expect(seen.calls).toBe(0)
    stop()
    await other.insertJob(newJob())
    await sleep(300)
    expect(seen.calls).toBe(0)
  })

  it("calls at most once per turn of the event loop however many notifications arrive", async () => {
    const store = await db.open()
    const { seen } = await listening(store)
    // Fifty distinct notifications of one transaction arrive together at its commit.
    await db.admin(`SELECT pg_notify('jobstate_${store.schema}', n::text) FROM generate_series(1, 50) AS n`)
    await waitUntil(() => seen.calls > 0, 20_000, "a call after a burst of notifications")
    await sleep(200)
    expect(seen.calls).toBeLessThan(10)
  })

  it("looks every intervalMs as a safety net", async () => {
    const store = await db.open()
    let calls = 0
    store.watch(() => void calls++, 50)
    await waitUntil(() => calls >= 3, 20_000, "three calls from the interval")
  })
})

describe("PostgresJobStore: lost connections", () => {
  it("survives its backends being terminated: the calls work again and the watcher hears again", async () => {
    const schema = db.freshSchema()
    const [store, other] = [await db.open(schema), await db.open(schema)]
    const { seen } = await listening(store)
    const job = newJob()
    await store.insertJob(job)
    await Promise.all([store.getJob(job.id), store.listJobs({}), store.leases()])

    expect(await terminate("jobstate listen")).toBe(1)
    expect(await terminate("jobstate")).toBeGreaterThan(0)

    // A call may meet a connection that died under it: that is a PersistenceError, not a
    // crash, and a later call gets a new connection.
    const errors: PersistenceError[] = []
    await waitUntil(
      async () => {
        try {
          return (await store.getJob(job.id))?.id === job.id
        } catch (error) {
          expect(error).toBeInstanceOf(PersistenceError)
          errors.push(error as PersistenceError)
          return false
        }
      },
      20_000,
      "a read after the pool's connections were terminated",
    )
    for (const error of errors) expect(["Read", "Write"]).toContain(error.reason)
    expect(
      (
        await store.commit([], {
          owner: "m1",
          limit: 1,
          types: ["t"],
          decide: () => ({ start: lifecycle("running") }),
          at: at(1),
        })
      ).claimed,
    ).toHaveLength(1)

    // Listening again, it says so once (whatever was sent meanwhile is lost), then hears as before.
    await waitUntil(() => seen.calls > 0, 30_000, "a call once listening again")
    seen.calls = 0
    await other.insertJob(newJob())
    await waitUntil(() => seen.calls > 0, 20_000, "a call after a dispatch, on the new connection")
  })

  it("turns a connection killed inside a transaction into a PersistenceError, with nothing of it applied", async () => {
    const schema = db.freshSchema()
    const store = await db.open(schema)
    const [a, b, queued] = [newJob(), newJob(), newJob()]
    for (const job of [a, b]) await store.insertJob(job)
    await store.commit([], {
      owner: "m1",
      limit: 2,
      types: ["t"],
      decide: () => ({ start: lifecycle("running") }),
      at: at(1),
    })
    await store.insertJob(queued)

    // Hold b's row so the commit's transaction waits inside, then kill its backend there.
    await db.admin("BEGIN")
    try {
      await db.admin(`SELECT 1 FROM ${schema}.jobs WHERE id = $1 FOR UPDATE`, [b.id])
      const commit = store.commit(
        [
          { kind: "progress", id: a.id, owner: "m1", progress: { progress: 0.5, progressData: "half" }, at: at(2) },
          {
            kind: "transition",
            id: b.id,
            expect: { status: "running", owner: "m1" },
            lifecycle: lifecycle("completed"),
            at: at(2),
          },
        ],
        { owner: "m1", limit: 1, types: ["t"], decide: () => ({ start: lifecycle("running") }), at: at(2) },
      )
      const outcome = commit.then(
        () => undefined,
        (e: unknown) => e,
      )
      const [waiting] = await waitUntil(
        () =>
          db
            .admin<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jobstate' AND wait_event_type = 'Lock'`,
            )
            .then((rows) => (rows.length > 0 ? rows : undefined)),
        20_000,
        "the commit to wait for the row lock",
      )
      await db.admin(`SELECT pg_terminate_backend($1, 10000)`, [waiting!.pid])
      const error = await outcome
      expect(error).toBeInstanceOf(PersistenceError)
      expect(error).toMatchObject({ operation: "commit", reason: "Write" })
    } finally {
      await db.admin("ROLLBACK")
    }
    expect(await store.getJob(a.id)).toMatchObject({ status: "running", progress: null })
    expect(await store.getJob(b.id)).toMatchObject({ status: "running", owner: "m1" })
    expect(await store.getJob(queued.id)).toMatchObject({ status: "queued", owner: null })
  })
})

describe("inTransaction", () => {
  it("throws the body's failure and leaves no rejection unheard when BEGIN failed first", async () => {
    // BEGIN is sent without waiting, with the body's first statements. When the connection dies
    // it fails first, while the body is still awaited: its rejection must be heard too.
    const unheard: unknown[] = []
    const listen = (reason: unknown) => void unheard.push(reason)
    process.on("unhandledRejection", listen)
    const pool = makePool(db.url, () => {})
    try {
      const outcome = await inTransaction(
        pool,
        async () => {
          await sleep(100)
          throw new Error("the body failed")
        },
        "NOT A STATEMENT",
      ).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(outcome).toMatchObject({ message: "the body failed" })
      await sleep(100)
      expect(unheard).toEqual([])
    } finally {
      process.off("unhandledRejection", listen)
      await pool.end()
    }
  })
})

describe("PostgresJobStore.open", () => {
  it("reports a server it cannot reach as an Open error naming it, without the password", async () => {
    const error = await PostgresJobStore.open({ databaseUrl: "postgres://someone:secret@127.0.0.1:1/nowhere" }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PersistenceError)
    expect(error).toMatchObject({ reason: "Open" })
    expect((error as PersistenceError).message).toContain("127.0.0.1:1/nowhere")
    expect((error as PersistenceError).message).not.toContain("secret")
  })
})

describe("PostgresJobStore.open, read-only", () => {
  it("creates nothing for a tool that only looks: a schema jobstate never made is an error naming it", async () => {
    const schema = db.freshSchema()
    const error = await PostgresJobStore.open({ databaseUrl: db.url, schema, readOnly: true }).catch((e) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect(error.message).toContain(`(schema ${schema}) has no jobstate tables: check the schema in ?schema=`)
    expect(await db.admin("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [schema])).toEqual([])
    // Made by a store that writes, it opens read-only.
    await (await PostgresJobStore.open({ databaseUrl: db.url, schema })).close()
    const readOnly = await PostgresJobStore.open({ databaseUrl: db.url, schema, readOnly: true })
    expect((await readOnly.check()).schemaVersion).toBeGreaterThan(0)
    await readOnly.close()
  })
})
