import { describe, expect, it } from "vitest"
import { PersistenceError } from "../../src/jobs/errors.js"
import type { ClaimRow, JobStore, JobWrite, NewJob } from "../../src/persistence/JobStore.js"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { usePostgres } from "../fixtures/postgres.js"
import { at, lifecycle, newJob } from "../fixtures/storeRows.js"
import { tempDir } from "../fixtures/tempDir.js"

const db = usePostgres()

const start = () => ({ start: lifecycle("running") })

/** Dispatches `n` jobs of type `name` and claims them all as `owner`. */
const running = async (store: JobStore, owner: string, n = 1, name = "t") => {
  const jobs = Array.from({ length: n }, () => newJob({ name }))
  for (const job of jobs) await store.insertJob(job)
  const { claimed } = await store.commit([], { owner, limit: n, types: [name], decide: start, at: at(1) })
  expect(claimed.map((r) => r.id)).toEqual(jobs.map((j) => j.id))
  return jobs.map((j) => j.id)
}

const failure = async (promise: Promise<unknown>): Promise<PersistenceError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(PersistenceError)
  return error as PersistenceError
}

describe("PostgresJobStore.commit: guarded writes", () => {
  it("applies each write only where its guard holds, and says which did", async () => {
    const store = await db.open()
    const [id] = await running(store, "m1")
    const wrongOwner: JobWrite = {
      kind: "transition",
      id: id!,
      expect: { status: "running", owner: "m2" },
      lifecycle: lifecycle("completed"),
      at: at(2),
    }
    const wrongStatus: JobWrite = {
      kind: "transition",
      id: id!,
      expect: { status: "queued", owner: null },
      lifecycle: lifecycle("cancelled"),
      at: at(2),
    }
    const result = await store.commit([
      wrongOwner,
      wrongStatus,
      {
        kind: "transition",
        id: "missing",
        expect: { status: "running", owner: "m1" },
        lifecycle: lifecycle("completed"),
        at: at(2),
      },
      {
        kind: "checkpoint",
        id: id!,
        owner: "m2",
        data: Buffer.from("x"),
        snapshot: Buffer.from("y"),
        stateVersion: 1,
        at: at(2),
      },
      { kind: "progress", id: id!, owner: "m2", progress: { progress: 0.9, progressData: "{}" }, at: at(2) },
      { kind: "progress", id: id!, owner: "m1", progress: { progress: 0.25, progressData: '{"done":1}' }, at: at(3) },
      { kind: "log", id: id!, level: "warn", message: "hello", at: at(3) },
    ])
    expect(result).toEqual({ applied: [false, false, false, false, false, true, true], claimed: [] })
    expect(await store.getJob(id!)).toMatchObject({
      status: "running",
      owner: "m1",
      state_version: 0,
      progress: 0.25,
      progress_data: '{"done":1}',
      updated_at: at(3),
      completed_at: null,
    })
  })

  it("saves a checkpoint's state and snapshot together, keeping the progress unless it carries one", async () => {
    const store = await db.open()
    const [id] = await running(store, "m1")
    await store.commit([
      { kind: "progress", id: id!, owner: "m1", progress: { progress: 0.5, progressData: "p1" }, at: at(2) },
    ])
    await store.commit([
      {
        kind: "checkpoint",
        id: id!,
        owner: "m1",
        data: Buffer.from("s1"),
        snapshot: Buffer.from("k1"),
        stateVersion: 1,
        at: at(3),
      },
    ])
    expect(await store.getJob(id!)).toMatchObject({
      data: Buffer.from("s1"),
      snapshot: Buffer.from("k1"),
      state_version: 1,
      last_checkpoint: at(3),
      progress: 0.5,
      progress_data: "p1",
    })
    await store.commit([
      {
        kind: "checkpoint",
        id: id!,
        owner: "m1",
        data: Buffer.from("s2"),
        snapshot: Buffer.from("k2"),
        stateVersion: 2,
        progress: { progress: null, progressData: "p2" },
        at: at(4),
      },
    ])
    expect(await store.getJob(id!)).toMatchObject({
      data: Buffer.from("s2"),
      state_version: 2,
      progress: null,
      progress_data: "p2",
      updated_at: at(4),
    })
  })

  it("writes a transition's whole row: a terminal one sets completed_at and frees the owner; leaving a terminal state clears it", async () => {
    const store = await db.open()
    const [id] = await running(store, "m1")
    const failed = lifecycle("failed", { attempts: 1 })
    const first = await store.commit([
      {
        kind: "transition",
        id: id!,
        expect: { status: "running", owner: "m1" },
        lifecycle: failed,
        progress: { progress: 1, progressData: "end" },
        at: at(5),
      },
    ])
    expect(first.applied).toEqual([true])
    expect(await store.getJob(id!)).toMatchObject({
      status: "failed",
      snapshot: failed.snapshot,
      owner: null,
      request: null,
      error: failed.error,
      error_message: "[Boom] it broke",
      completed_at: at(5),
      progress: 1,
      progress_data: "end",
      started_at: at(1),
    })
    // A retry: failed → queued, then started again; started_at keeps the first start.
    const requeued = await store.commit([
      {
        kind: "transition",
        id: id!,
        expect: { status: "failed", owner: null },
        lifecycle: lifecycle("queued", { attempts: 1 }),
        at: at(6),
      },
    ])
    expect(requeued.applied).toEqual([true])
    expect(await store.getJob(id!)).toMatchObject({
      status: "queued",
      error: null,
      error_message: null,
      completed_at: null,
      progress: 1,
    })
    await store.commit([], {
      owner: "m2",
      limit: 1,
      types: ["t"],
      decide: () => ({ start: lifecycle("running", { attempts: 2 }) }),
      at: at(7),
    })
    await store.commit([
      {
        kind: "transition",
        id: id!,
        expect: { status: "running", owner: "m2" },
        lifecycle: lifecycle("completed", { attempts: 2 }),
        output: '{"n":1}',
        at: at(8),
      },
    ])
    expect(await store.getJob(id!)).toMatchObject({
      status: "completed",
      attempts: 2,
      output: '{"n":1}',
      completed_at: at(8),
      started_at: at(1),
      owner: null,
    })
  })

  it("applies several writes to one row in the order given", async () => {
    const store = await db.open()
    const [a, b] = await running(store, "m1", 2)
    const result = await store.commit([
      { kind: "progress", id: a!, owner: "m1", progress: { progress: 0.1, progressData: "a1" }, at: at(2) },
      {
        kind: "checkpoint",
        id: a!,
        owner: "m1",
        data: Buffer.from("a-state"),
        snapshot: Buffer.from("a-snap"),
        stateVersion: 1,
        at: at(3),
      },
      {
        kind: "transition",
        id: a!,
        expect: { status: "running", owner: "m1" },
        lifecycle: lifecycle("paused", { pausedBy: "shutdown" }),
        at: at(4),
      },
      // Guarded by the state the writes before it left: a is no longer running.
      { kind: "progress", id: a!, owner: "m1", progress: { progress: 0.9, progressData: "late" }, at: at(5) },
      {
        kind: "transition",
        id: b!,
        expect: { status: "running", owner: "m1" },
        lifecycle: lifecycle("cancelled"),
        at: at(4),
      },
      {
        kind: "transition",
        id: a!,
        expect: { status: "paused", owner: null },
        lifecycle: lifecycle("queued"),
        at: at(6),
      },
    ])
    expect(result.applied).toEqual([true, true, true, false, true, true])
    expect(await store.getJob(a!)).toMatchObject({
      status: "queued",
      data: Buffer.from("a-state"),
      state_version: 1,
      progress: 0.1,
      paused_by: null,
      updated_at: at(6),
    })
    expect(await store.getJob(b!)).toMatchObject({ status: "cancelled", completed_at: at(4) })
  })
})

describe("PostgresJobStore.commit: the statement fits the writes", () => {
  // The statement holds only the parts its writes need (a job's end alone is one UPDATE); every
  // mix of kinds must still write exactly what the SQLite store writes for the same commit.
  const kinds = ["transition", "loggedTransition", "checkpoint", "progress", "log"] as const
  const write = (kind: (typeof kinds)[number], id: string, events: boolean): JobWrite => {
    const event = events ? { event: { name: "t", writer: "m1" } } : {}
    const progress = { progress: 0.5, progressData: '{"done":5}' }
    switch (kind) {
      case "transition":
        return {
          kind: "transition",
          id,
          expect: { status: "running", owner: "m1" },
          lifecycle: lifecycle("completed"),
          output: '{"n":1}',
          progress,
          at: at(2),
          ...event,
        }
      case "loggedTransition":
        return {
          kind: "transition",
          id,
          expect: { status: "running", owner: "m1" },
          lifecycle: lifecycle("failed"),
          log: { level: "error", message: "failed: it broke" },
          at: at(2),
          ...event,
        }
      case "checkpoint":
        return {
          kind: "checkpoint",
          id,
          owner: "m1",
          data: Buffer.from("state"),
          snapshot: Buffer.from("k"),
          stateVersion: 1,
          progress,
          at: at(2),
          ...event,
        }
      case "progress":
        return { kind: "progress", id, owner: "m1", progress, at: at(2), ...event }
      case "log":
        return { kind: "log", id, level: "info", message: "a line", at: at(2), ...event }
    }
  }
  /** What a store holds about `ids` after the commit, minus what only a store assigns (seq). */
  const stored = async (store: JobStore, ids: ReadonlyArray<string>) => ({
    rows: await Promise.all(
      ids.map(async (id) => {
        const { seq: _seq, awaiting_children, awaiting_events, ...row } = (await store.getJob(id))!
        // SQLite has no booleans: 0 or 1 there, false or true here.
        return { ...row, awaiting_children: Boolean(awaiting_children), awaiting_events: Boolean(awaiting_events) }
      }),
    ),
    logs: (await Promise.all(ids.map((id) => store.logs(id)))).map((lines) =>
      lines.map(({ seq: _seq, ...line }) => line),
    ),
    // Per job, in order: a commit's writes to different jobs commute (on PostgreSQL a job
    // written twice splits the commit into statements), a job's own events never do.
    events: await store
      .eventsAfter(0, [], 1000)
      .then((events) => ids.map((id) => events.filter((e) => e.job_id === id).map(({ seq: _seq, ...e }) => e))),
  })

  /** Commits `writes(ids)` to both stores, after claiming `count` fresh jobs as m1 on each; what each then holds. */
  const onBoth = async (
    postgres: JobStore,
    sqlite: JobStore,
    count: number,
    writes: (ids: ReadonlyArray<string>) => ReadonlyArray<JobWrite>,
  ) => {
    const jobs: NewJob[] = Array.from({ length: count }, () => newJob())
    const ids = jobs.map((j) => j.id)
    const results = []
    for (const store of [sqlite, postgres]) {
      for (const job of jobs) await store.insertJob(job)
      await store.commit([], { owner: "m1", limit: count, types: ["t"], decide: start, at: at(1) })
      results.push({ result: await store.commit(writes(ids)), ...(await stored(store, ids)) })
    }
    return { sqlite: results[0]!, postgres: results[1]! }
  }

  it("writes what the SQLite store writes, for every mix of write kinds, with and without events", async () => {
    const postgres = await db.open()
    const sqlite = await SqliteJobStore.open(tempDir())
    try {
      for (let mask = 1; mask < 1 << kinds.length; mask++) {
        for (const events of [false, true]) {
          const mix = kinds.filter((_, k) => mask & (1 << k))
          const held = await onBoth(postgres, sqlite, mix.length, (ids) =>
            mix.map((kind, k) => write(kind, ids[k]!, events)),
          )
          expect(held.postgres, `${mix.join("+")}${events ? " with events" : ""}`).toEqual(held.sqlite)
          expect(held.postgres.result.applied).toEqual(mix.map(() => true))
        }
      }
    } finally {
      await sqlite.close()
    }
  })

  it("starts one claimed row (its own statement) as it starts several, and as the SQLite store does", async () => {
    const postgres = await db.open()
    const sqlite = await SqliteJobStore.open(tempDir())
    // Every column a start sets or clears: a retry's run_at, a migrated state, attempts.
    const decide = (row: ClaimRow) =>
      row.state_schema_version === 1
        ? {
            start: lifecycle("running", { attempts: 2 }),
            migrated: { data: Buffer.from("migrated"), stateSchemaVersion: 2 },
          }
        : { start: lifecycle("running", { attempts: 2 }) }
    try {
      for (const limit of [1, 3]) {
        const jobs = Array.from({ length: limit }, (_, k) => newJob({ runAt: 1_000, stateSchemaVersion: 1 + (k % 2) }))
        const held = []
        for (const store of [sqlite, postgres]) {
          for (const job of jobs) await store.insertJob(job)
          const { claimed } = await store.commit([], {
            owner: "m1",
            limit,
            types: ["t"],
            decide,
            at: at(1),
            maxStateVersion: 2,
          })
          held.push({
            claimed: claimed.map((r) => r.id),
            ...(await stored(
              store,
              jobs.map((j) => j.id),
            )),
          })
        }
        expect(held[1], `a claim of ${limit}`).toEqual(held[0])
        expect(held[1]!.claimed).toHaveLength(limit)
      }
    } finally {
      await sqlite.close()
    }
  })

  it("writes a job's lines, events and layered writes in commit order, as the SQLite store does", async () => {
    const postgres = await db.open()
    const sqlite = await SqliteJobStore.open(tempDir())
    const scenarios: Record<string, (ids: ReadonlyArray<string>) => ReadonlyArray<JobWrite>> = {
      "a log line, then the same job's lifecycle line": ([a]) => [
        write("log", a!, true),
        write("loggedTransition", a!, true),
      ],
      "a lifecycle line, then a log line of the same job": ([a]) => [
        write("loggedTransition", a!, true),
        write("log", a!, true),
      ],
      "one job written three times (three statements)": ([a, b]) => [
        write("checkpoint", a!, true),
        write("progress", a!, false),
        write("loggedTransition", a!, true),
        write("log", b!, true),
      ],
      "a log line after a job's second write": ([a, b]) => [
        write("checkpoint", a!, true),
        write("log", b!, true),
        write("loggedTransition", a!, true),
        write("log", a!, true),
        write("log", b!, false),
      ],
      "a guard that fails": ([a, b]) => [
        { ...write("loggedTransition", a!, true), expect: { status: "running", owner: "m2" } },
        write("log", a!, true),
        write("loggedTransition", b!, true),
      ],
      "events on some writes only": ([a, b, c]) => [
        write("checkpoint", a!, true),
        write("log", a!, false),
        write("loggedTransition", b!, true),
        write("progress", c!, false),
        write("log", c!, true),
      ],
    }
    try {
      for (const [scenario, writes] of Object.entries(scenarios)) {
        const held = await onBoth(postgres, sqlite, 3, writes)
        expect(held.postgres, scenario).toEqual(held.sqlite)
      }
    } finally {
      await sqlite.close()
    }
  })
})

describe("PostgresJobStore.commit: all or nothing", () => {
  it("rolls back every write when a later statement of the commit fails", async () => {
    const store = await db.open()
    const [a, b] = await running(store, "m1", 2)
    const before = [await store.getJob(a!), await store.getJob(b!)]
    const error = await failure(
      store.commit([
        { kind: "progress", id: a!, owner: "m1", progress: { progress: 0.5, progressData: "half" }, at: at(2) },
        { kind: "log", id: a!, level: "info", message: "lost", at: at(2) },
        {
          kind: "transition",
          id: b!,
          expect: { status: "running", owner: "m1" },
          lifecycle: lifecycle("completed"),
          at: at(2),
        },
        // The second write to a: the second statement, which the database refuses (integer out of range).
        {
          kind: "checkpoint",
          id: a!,
          owner: "m1",
          data: Buffer.from("x"),
          snapshot: Buffer.from("y"),
          stateVersion: 2 ** 40,
          at: at(3),
        },
      ]),
    )
    expect(error.reason).toBe("Write")
    expect([await store.getJob(a!), await store.getJob(b!)]).toEqual(before)
    expect(await store.logs(a!)).toEqual([])
  })

  it("rolls back the writes and the claims when a claim decision throws", async () => {
    const store = await db.open()
    const [a] = await running(store, "m1")
    const queued = [newJob(), newJob(), newJob()]
    for (const job of queued) await store.insertJob(job)
    let decided = 0
    const error = await failure(
      store.commit(
        [
          {
            kind: "transition",
            id: a!,
            expect: { status: "running", owner: "m1" },
            lifecycle: lifecycle("completed"),
            at: at(2),
          },
        ],
        {
          owner: "m1",
          limit: 3,
          types: ["t"],
          decide: () => {
            if (++decided === 2) throw new Error("engine bug")
            return start()
          },
          at: at(2),
        },
      ),
    )
    expect(error.reason).toBe("Write")
    expect(error.message).toContain("engine bug")
    expect((await store.getJob(a!))!.status).toBe("running")
    for (const job of queued)
      expect(await store.getJob(job.id)).toMatchObject({ status: "queued", owner: null, attempts: 0 })
  })
})

describe("PostgresJobStore.commit: claims", () => {
  it("claims the highest priority first, FIFO within, at most `limit`, and reads only the claim columns", async () => {
    const store = await db.open()
    const jobs = [0, 10, -1, 10, 0, 1].map((priority) => newJob({ priority }))
    for (const job of jobs) await store.insertJob(job)
    const seen: ClaimRow[] = []
    const { claimed } = await store.commit([], {
      owner: "m1",
      limit: 5,
      types: ["t"],
      decide: (row) => (seen.push(row), start()),
      at: at(1),
    })
    const order = [1, 3, 5, 0, 4].map((i) => jobs[i]!.id)
    expect(claimed.map((r) => r.id)).toEqual(order)
    expect(Object.keys(seen[0]!).sort()).toEqual([
      "data",
      "id",
      "inbox_applied",
      "name",
      "options",
      "owner",
      "params",
      "parent_id",
      "priority",
      "seq",
      "snapshot",
      "state_schema_version",
      "state_version",
      "status",
      "updated_at",
    ])
    expect(seen[0]).toMatchObject({ status: "queued", owner: null, priority: 10, state_version: 0 })
    for (const id of order)
      expect(await store.getJob(id)).toMatchObject({
        status: "running",
        owner: "m1",
        attempts: 1,
        started_at: at(1),
        snapshot: lifecycle("running").snapshot,
      })
    expect((await store.getJob(jobs[2]!.id))!.status).toBe("queued")
  })

  it("claims only rows of the claimant's types; other types wait", async () => {
    const store = await db.open()
    const t = newJob({ name: "t" })
    const u = newJob({ name: "u" })
    await store.insertJob(u)
    await store.insertJob(t)
    expect(
      (await store.commit([], { owner: "m1", limit: 10, types: ["t", "v"], decide: start, at: at(1) })).claimed.map(
        (r) => r.id,
      ),
    ).toEqual([t.id])
    expect((await store.getJob(u.id))!.status).toBe("queued")
    expect((await store.commit([], { owner: "m1", limit: 10, types: [], decide: start, at: at(1) })).claimed).toEqual(
      [],
    )
  })

  it("fails, in the same commit, a row the engine cannot run, and does not return it", async () => {
    const store = await db.open()
    const bad = newJob({ snapshot: Buffer.from([0xc1]) })
    const good = newJob()
    await store.insertJob(bad)
    await store.insertJob(good)
    const failed = lifecycle("failed", { attempts: 0 })
    const { claimed } = await store.commit([], {
      owner: "m1",
      limit: 10,
      types: ["t"],
      decide: (row) => (row.id === bad.id ? { fail: failed } : start()),
      at: at(9),
    })
    expect(claimed.map((r) => r.id)).toEqual([good.id])
    expect(await store.getJob(bad.id)).toMatchObject({
      status: "failed",
      owner: null,
      error: failed.error,
      error_message: failed.errorMessage,
      completed_at: at(9),
      started_at: null,
    })
  })

  it("never gives one row to two stores claiming at once: 500 rows, two stores claiming 8 at a time", async () => {
    const schema = db.freshSchema()
    const [a, b] = [await db.open(schema), await db.open(schema)]
    const jobs = Array.from({ length: 500 }, (_, i) => newJob({ priority: i % 3 }))
    for (let i = 0; i < jobs.length; i += 50) await Promise.all(jobs.slice(i, i + 50).map((job) => a.insertJob(job)))

    const claimLoop = async (store: JobStore, owner: string) => {
      const mine: string[] = []
      for (;;) {
        const { claimed } = await store.commit([], { owner, limit: 8, types: ["t"], decide: start, at: at(1) })
        if (claimed.length === 0) return mine
        mine.push(...claimed.map((r) => r.id))
      }
    }
    const [byA, byB] = await Promise.all([claimLoop(a, "A"), claimLoop(b, "B")])
    expect(byA.length + byB.length).toBe(500)
    expect(new Set([...byA, ...byB]).size).toBe(500)
    expect(byA.length).toBeGreaterThan(0)
    expect(byB.length).toBeGreaterThan(0)
    const owners = new Map((await a.listJobs({})).map((r) => [r.id, [r.status, r.owner]]))
    for (const id of byA) expect(owners.get(id)).toEqual(["running", "A"])
    for (const id of byB) expect(owners.get(id)).toEqual(["running", "B"])
  })
})
