import { describe, expect, it } from "vitest"
import { ClaimTry, decide } from "../../src/actors/claim.js"
import { newJob } from "../../src/actors/newJob.js"
import { JobRegistry } from "../../src/jobs/JobRegistry.js"
import type { ClaimRow } from "../../src/persistence/JobStore.js"
import { NoopJob } from "../fixtures/jobs.js"

let ids = 0
/** A queued row as the store would hand it to a claim. */
const queuedRow = (overrides: Partial<ClaimRow> = {}): ClaimRow => {
  const job = newJob(
    NoopJob,
    { tag: "x" },
    {},
    { now: Date.now(), iso: new Date().toISOString(), generateId: () => `job-${++ids}`, event: () => undefined },
  )
  return {
    seq: ids,
    id: job.id,
    name: job.name,
    status: "queued",
    params: job.params,
    data: job.data,
    snapshot: job.snapshot,
    priority: job.priority,
    state_version: 0,
    owner: null,
    options: job.options ?? null,
    state_schema_version: job.stateSchemaVersion ?? 1,
    inbox_applied: 0,
    updated_at: job.createdAt,
    parent_id: null,
    ...overrides,
  }
}

const registry = new JobRegistry([NoopJob])

describe("the claim's decision (actors/claim.ts)", () => {
  it("starts a readable row in the machine's running snapshot, without touching the room it is given", () => {
    const room = new Map([["noop", 1]])
    const decided = decide(queuedRow(), registry, room)
    expect(decided._tag).toBe("Start")
    if (decided._tag !== "Start") return
    expect("start" in decided.decision && decided.decision.start.status).toBe("running")
    expect(decided.carry.params).toEqual({ tag: "x" })
    expect(room.get("noop")).toBe(1)
  })

  it("passes over a row whose type has no room left, or whose state is newer than this code", () => {
    expect(decide(queuedRow(), registry, new Map([["noop", 0]])).decision).toEqual({ skip: true })
    expect(decide(queuedRow({ state_schema_version: 2 }), registry, new Map()).decision).toEqual({ skip: true })
  })

  it("fails a row it cannot read (unknown type, bad options) rather than throwing", () => {
    expect(decide(queuedRow({ name: "nobody-runs-this" }), registry, new Map())._tag).toBe("Fail")
    expect(decide(queuedRow({ options: "{not json" }), registry, new Map())._tag).toBe("Fail")
  })

  it("a try takes room only for the rows it starts, and a new try after a failed commit starts afresh", () => {
    const room = () => new Map([["noop", 1]])
    const first = new ClaimTry(registry, room())
    const bad = queuedRow({ options: "{not json" })
    expect("fail" in first.decide(bad)).toBe(true)
    expect("start" in first.decide(queuedRow())).toBe(true)
    expect(first.decide(queuedRow())).toEqual({ skip: true })
    expect([first.started.size, first.failed.length, first.skipped]).toEqual([1, 1, 1])
    const retry = new ClaimTry(registry, room())
    expect([retry.started.size, retry.failed.length, retry.skipped]).toEqual([0, 0, 0])
    expect("start" in retry.decide(queuedRow())).toBe(true)
  })
})
