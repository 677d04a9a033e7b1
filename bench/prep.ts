/**
 * Child: stores `n` queued noop jobs in a fresh data dir, for the drain and memory workloads.
 *   jobstate: dispatched through a manager whose only slot is held by a blocking job (that one
 *             is paused by close() and re-queued by the next open), so nothing runs.
 *   floor:    the floor's INSERTs, in one transaction (preparation is not timed).
 */
import { childMain, runChild, tempDir } from "./lib.js"

interface Args {
  readonly kind: "jobstate" | "floor"
  readonly dir: string
  readonly n: number
}

const prepJobstate = async ({ dir, n }: Args) => {
  const { JobManager } = await import("jobstate")
  const { NoopBlocker } = await import("./jobs.js")
  const { jobstateCounts } = await import("./floor.js")
  const manager = await JobManager.open({ dataDir: dir, jobs: [NoopBlocker], concurrency: 1 })
  for (let i = 0; i < n; i++) await manager.dispatch(NoopBlocker, { i })
  await manager.close()
  const counts = jobstateCounts(dir)
  if ((counts.queued ?? 0) + (counts.paused ?? 0) !== n)
    throw new Error(`prep: expected ${n} stored jobs, found ${JSON.stringify(counts)}`)
  return counts
}

const prepFloor = async ({ dir, n }: Args) => {
  const { FloorQueue } = await import("./floor.js")
  const q = FloorQueue.open(dir)
  q.db.transaction(() => {
    for (let i = 0; i < n; i++) q.enqueue("noop", { i })
  })()
  const counts = q.counts()
  q.close()
  return counts
}

childMain(import.meta.url, async (args: Args) => (args.kind === "jobstate" ? prepJobstate(args) : prepFloor(args)))

// ---------------------------------------------------------------- parent side

const cache = new Map<string, Promise<string>>()

/** A data dir holding `n` queued noop jobs (made once per `npm run bench`; copy it before use). */
export const prepared = (kind: Args["kind"], n: number): Promise<string> => {
  const key = `${kind}:${n}`
  let dir = cache.get(key)
  if (dir === undefined) {
    const made = tempDir(`jobstate-bench-prep-${kind}-`)
    dir = runChild("prep.ts", { kind, dir: made, n }, { role: "prep" }).then(() => made)
    cache.set(key, dir)
  }
  return dir
}
