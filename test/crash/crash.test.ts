import { describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { runCrashCampaign } from "./harness.js"

// Reproducible: CRASH_SEED=<n> npx vitest run test/crash reruns a failing campaign.
const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1_000_000))

describe("crash injection", () => {
  it(`loses no job and redoes nothing before a checkpoint across 20 SIGKILLs (seed ${seed})`, async () => {
    const result = await runCrashCampaign({ dataDir: tempDir(), seed, kills: 20 })
    console.log(
      `crash campaign, seed ${seed}: ${result.kills} kills, ${result.midRunKills} of them mid-run; ` +
        `${result.pausesKept} user pauses kept across a restart; ${result.jobs} jobs, ${result.completed} completed`,
    )
    expect(result.jobs).toBeGreaterThan(20)
    expect(result.violations, `seed ${seed}`).toEqual([])
    // Otherwise the campaign would prove nothing about resuming from a checkpoint, or about
    // pauses surviving a restart.
    expect(
      result.midRunKills,
      `kills that landed while a job ran, checkpointed and unfinished (seed ${seed})`,
    ).toBeGreaterThanOrEqual(1)
    expect(result.pausesKept, `user pauses checked across a restart (seed ${seed})`).toBeGreaterThanOrEqual(1)
  }, 600_000)
})
