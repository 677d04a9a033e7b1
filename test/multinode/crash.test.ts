import { describe, expect, it } from "vitest"
import { usePostgres } from "../fixtures/postgres.js"
import { tempDir } from "../fixtures/tempDir.js"
import { runPgCampaign } from "./harness.js"

// Reproducible: PG_CRASH_SEED=<n> npx vitest run test/multinode/crash.test.ts reruns a campaign's decisions.
const seed = Number(process.env.PG_CRASH_SEED ?? Math.floor(Math.random() * 1_000_000))
const db = usePostgres()

describe("many nodes on one PostgreSQL database, killed", () => {
  it(`3 workers and a producer: every job ends once, nothing checkpointed is redone, no job runs in two processes, across 20 SIGKILLs (seed ${seed})`, async () => {
    const result = await runPgCampaign({
      databaseUrl: db.url,
      schema: db.freshSchema(),
      dataDir: tempDir(),
      seed,
      kills: 20,
      workers: 3,
      leaseMs: 2_000,
    })
    const { violations, commandErrors, engineErrors, ...summary } = result
    console.log(`PostgreSQL crash campaign, seed ${seed}: ${JSON.stringify(summary)}`)
    if (engineErrors.length > 0)
      console.log(
        `engine errors reported through onError (${engineErrors.length}):\n  ${engineErrors.slice(0, 20).join("\n  ")}`,
      )
    expect(violations, `seed ${seed}`).toEqual([])
    expect(result.kills).toBe(20)
    expect(result.jobs).toBeGreaterThan(20)
    expect(result.completed).toBeGreaterThan(10)
    // Otherwise the campaign would prove nothing about resuming from a checkpoint in another process.
    expect(
      result.midRunKills,
      `kills that cut a running job short, which another process carried on (seed ${seed})`,
    ).toBeGreaterThanOrEqual(1)
  }, 600_000)
})
