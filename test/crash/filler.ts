import { Effect, Schema } from "effect"
import { defineJob, JobManager } from "../../src/index.js"

/**
 * The crash campaigns' `--stored n`: n jobs put in the store before the campaign, of a type the
 * campaign's workers are not registered for, so that they never claim, run or change them;
 * every claim, recovery and read of the campaign then happens in a big store.
 *
 * How the filler is made: a manager that knows only this type (concurrency 0, so it runs
 * nothing) dispatches the n jobs with `dispatchMany` in chunks of 10,000 and closes; then one
 * direct SQL UPDATE marks the jobs of even `seq` completed (status, completed_at, updated_at;
 * the count triggers keep `job_counts` right). So about half stay queued, half are completed.
 * The jobs take the seqs up to the store's largest when the campaign starts: every campaign job
 * has a larger seq, which is how the harnesses tell the two apart.
 */
export const FILLER_NAME = "crash_stored"

export const CrashStoredJob = defineJob({
  name: FILLER_NAME,
  params: Schema.Struct({ i: Schema.Number }),
  run: () => Effect.void,
})

const CHUNK = 10_000

/** Dispatches `n` filler jobs through the engine (`dispatchMany`, chunks of 10,000). */
export const dispatchFiller = async (
  open: { readonly dataDir: string; readonly databaseUrl?: string },
  n: number,
  log?: (line: string) => void,
): Promise<void> => {
  const manager = await JobManager.open({ ...open, jobs: [CrashStoredJob], concurrency: 0, onError: () => {} })
  try {
    const started = Date.now()
    for (let from = 0; from < n; from += CHUNK) {
      const size = Math.min(CHUNK, n - from)
      await manager.dispatchMany(
        CrashStoredJob,
        Array.from({ length: size }, (_, k) => ({ i: from + k })),
      )
      if ((from / CHUNK) % 10 === 9 || from + size === n)
        log?.(`filler: ${from + size}/${n} dispatched (${Math.round((Date.now() - started) / 1000)} s)`)
    }
  } finally {
    await manager.close()
  }
}

/** The filler's shape: its largest seq and how many of its jobs have each status. */
export interface FillerSnapshot {
  readonly maxSeq: number
  readonly count: number
  readonly byStatus: Readonly<Record<string, number>>
}

/** What differs between the filler as made and as found (empty: untouched). */
export const fillerDifferences = (made: FillerSnapshot, found: FillerSnapshot): string[] => {
  const out: string[] = []
  if (found.count !== made.count) out.push(`filler: ${made.count} jobs stored before the campaign, ${found.count} now`)
  for (const status of new Set([...Object.keys(made.byStatus), ...Object.keys(found.byStatus)])) {
    const before = made.byStatus[status] ?? 0
    const after = found.byStatus[status] ?? 0
    if (before !== after) out.push(`filler: ${before} jobs ${status} before the campaign, ${after} now`)
  }
  return out
}
