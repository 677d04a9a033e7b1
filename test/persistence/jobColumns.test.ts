import { describe, expect, it } from "vitest"
import {
  CLAIM_SELECT,
  checkpointSet,
  checkpointValues,
  expectGuard,
  JOB_SELECT,
  NEW_JOB_COLUMNS,
  newJobValues,
  progressSet,
  progressWriteValues,
  startSet,
  startValues,
  START_VALUES,
  transitionSet,
  transitionValues,
  type Refs,
} from "../../src/persistence/jobColumns.js"
import type { LifecycleRow } from "../../src/persistence/lifecycleRow.js"
import { Params } from "../../src/persistence/postgres/params.js"

const lifecycle: LifecycleRow = {
  status: "failed",
  snapshot: Buffer.from([1]),
  attempts: 2,
  pausedBy: null,
  error: "{}",
  errorMessage: "[E] no",
  terminal: true,
  failures: 1,
  lastError: "{}",
  runAt: null,
  awaitingChildren: false,
  awaitingEvents: false,
}

/** Refs that note every value a statement names. */
const recording = () => {
  const named = new Set<string>()
  const refs: Refs = {
    value: (name) => (named.add(name), `@${name}`),
    column: (name) => name,
    same: (a, b) => `${a} IS ${b}`,
  }
  return { named, refs }
}

describe("the jobs column table", () => {
  it("gives each write the values its SET list and guard name, in both dialects (one generator each)", () => {
    const at = "2026-01-01T00:00:00.000Z"
    const cases: Array<[string, (r: Refs) => string, Record<string, unknown>]> = [
      [
        "transition",
        (r) => `${transitionSet(r)} ${expectGuard(r)}`,
        transitionValues({ kind: "transition", id: "a", expect: { status: "running", owner: "m" }, lifecycle, at }),
      ],
      [
        "checkpoint",
        checkpointSet,
        checkpointValues({
          kind: "checkpoint",
          id: "a",
          owner: "m",
          data: Buffer.from([2]),
          snapshot: Buffer.from([3]),
          stateVersion: 4,
          at,
        }),
      ],
      [
        "progress",
        progressSet,
        progressWriteValues({
          kind: "progress",
          id: "a",
          owner: "m",
          progress: { progress: 0.5, progressData: "{}" },
          at,
        }),
      ],
      ["start", startSet, startValues(lifecycle, undefined, "m", at)],
    ]
    for (const [kind, set, values] of cases) {
      const { named, refs } = recording()
      set(refs)
      for (const name of named) expect(values, `${kind} names @${name}`).toHaveProperty(name)
    }
    const { named, refs } = recording()
    startSet(refs)
    expect([...named].sort()).toEqual([...START_VALUES].sort())
  })

  it("makes a new row's values for every column the INSERT lists, a child's with its parent and key", () => {
    const job = {
      id: "a",
      name: "t",
      params: Buffer.from([]),
      data: Buffer.from([]),
      snapshot: Buffer.from([]),
      priority: 0,
      createdAt: "x",
    }
    expect(Object.keys(newJobValues(job))).toEqual([...NEW_JOB_COLUMNS])
    expect(newJobValues(job, { parentId: "p", childKey: "k" })).toMatchObject({
      status: "queued",
      parent_id: "p",
      child_key: "k",
      updated_at: "x",
      state_schema_version: 1,
    })
  })

  it("selects the claim's columns among a row's, in the row's order", () => {
    const all = JOB_SELECT.split(", ")
    const claim = CLAIM_SELECT.split(", ")
    expect(claim.every((c) => all.includes(c))).toBe(true)
    expect(claim).toEqual(all.filter((c) => claim.includes(c)))
  })
})

describe("PostgreSQL parameters", () => {
  it("are numbered as the text names them: a value named again keeps its number, each unnest column is an array", () => {
    const p = new Params()
    const text = `${p.value("id")} ${p.unnest("s", ["id", "attempts"], true)} ${p.value("at", "text")} ${p.value("id")}`
    expect(text).toBe("$1 unnest($2::text[], $3::integer[]) WITH ORDINALITY AS s(id, attempts, n) $4::text $1")
    expect(p.bind({ id: "x", at: "t" }, { s: [{ id: "a", attempts: 1 }, { id: "b" }] })).toEqual([
      "x",
      ["a", "b"],
      [1, null],
      "t",
    ])
    expect(() => p.bind({ id: "x" }, { s: [] })).toThrow(/no value for at/)
  })
})
