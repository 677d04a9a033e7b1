import { describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { runCrashCampaign } from "./harness.js"

// Reproducible: CRASH_SEED=<n> npx vitest run test/crash reruns a failing campaign.
const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1_000_000))

describe("crash injection", () => {
  it(`loses no job and redoes nothing before a checkpoint across 20 SIGKILLs (seed ${seed})`, async () => {
    const result = await runCrashCampaign({ dataDir: tempDir(), seed, kills: 20 })
    expect(result.jobs).toBeGreaterThan(20)
    expect(result.violations, `seed ${seed}`).toEqual([])
  }, 600_000)
})
