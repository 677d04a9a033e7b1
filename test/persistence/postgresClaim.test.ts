import { describe, expect, it } from "vitest"
import { claimStatements } from "../../src/persistence/postgres/claim.js"
import { tablesOf } from "../../src/persistence/postgres/connection.js"
import { usePostgres } from "../fixtures/postgres.js"
import { newJob } from "../fixtures/storeRows.js"

const db = usePostgres()

interface PlanNode {
  readonly "Index Name"?: string
  readonly "Actual Rows"?: number
  readonly "Actual Loops"?: number
  readonly "Rows Removed by Filter"?: number
  readonly Plans?: ReadonlyArray<PlanNode>
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)]

describe("the PostgreSQL claim", () => {
  it("reads its own types' queue only: 3,000 jobs of another type queued ahead are not read", async () => {
    const schema = db.freshSchema()
    const store = await db.open(schema)
    const other = Array.from({ length: 3_000 }, () => newJob({ name: "other" }))
    await store.insertJobs([...other, ...Array.from({ length: 5 }, () => newJob({ name: "mine" }))])
    await db.admin(`ANALYZE ${schema}.jobs`)
    // The store's own statement, as a claim of up to 8 jobs of "mine" (and of a type with none) binds it.
    const { text, params } = claimStatements(tablesOf(schema)).claim
    const values = params.bind({ types: ["mine", "none"], now: Date.now(), max_version: 2 ** 31 - 1, limit: 8 })
    const [row] = await db.admin<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
      values,
    )
    const plan = row!["QUERY PLAN"][0].Plan
    const scans = nodes(plan).filter((n) => n["Index Name"] === "jobs_queued")
    expect(scans.length).toBeGreaterThan(0)
    // Every row the index gave was one of the claimant's types: none read and thrown away.
    for (const node of nodes(plan)) expect(node["Rows Removed by Filter"] ?? 0).toBe(0)
    expect(plan["Actual Rows"]).toBe(5)
  })
})
