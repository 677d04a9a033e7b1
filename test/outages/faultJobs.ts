/**
 * The side effects of the fault suite's jobs: `crash_count` (test/crash/crashJobs.ts) appends a
 * line per item, `jobId item attempt pid epochMs`, to a file outside the store, so that it
 * survives whatever the store goes through, before it checkpoints.
 */
import { readFileSync } from "node:fs"

export { CrashCountJob as FaultCountJob } from "../crash/crashJobs.js"

export interface EffectLine {
  readonly id: string
  readonly item: number
  readonly attempt: number
  readonly pid: number
  readonly at: number
}

/** The effects recorded so far (none while the file does not exist yet). Worker processes import this module too: it loads no test runner. */
export const readEffects = (effectsFile: string): EffectLine[] => {
  let text: string
  try {
    text = readFileSync(effectsFile, "utf8")
  } catch {
    return []
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [id, item, attempt, pid, at] = l.split(" ")
      return { id: id!, item: Number(item), attempt: Number(attempt), pid: Number(pid), at: Number(at) }
    })
}

/**
 * What is wrong with the side effects of jobs that each had to count to `n`, given how many
 * faults the run went through: an item never done (a side effect lost), an item done more often
 * than once plus once per fault (work redone beyond the item in flight at each fault), and two
 * attempts of one job running at the same time (an earlier attempt's effect after a later one's).
 */
export const effectViolations = (
  effects: ReadonlyArray<EffectLine>,
  ids: ReadonlyArray<string>,
  n: number,
  faults: number,
): string[] => {
  const violations: string[] = []
  for (const id of ids) {
    const mine = effects.filter((e) => e.id === id)
    const redone = mine.length - new Set(mine.map((e) => e.item)).size
    for (let item = 0; item < n; item++)
      if (!mine.some((e) => e.item === item)) violations.push(`job ${id}: item ${item} never done`)
    if (redone > faults)
      violations.push(`job ${id}: ${redone} items redone, more than one per fault (${faults} faults)`)
    let attempt = 0
    for (const e of mine) {
      if (e.attempt < attempt)
        violations.push(
          `job ${id}: attempt ${e.attempt} did item ${e.item} after attempt ${attempt} had begun (two attempts at once)`,
        )
      attempt = Math.max(attempt, e.attempt)
    }
  }
  return violations
}
