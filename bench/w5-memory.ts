/**
 * W5 memory: RSS of a process holding a data dir with N queued jobs (10k and 100k; with --quick
 * N and 10×N). jobstate: the manager open, its one slot held by a blocking job, nothing else
 * running. Floor: the floor's database open, nothing else. RSS is read after a full GC and a
 * short settle (children run with --expose-gc). "bare" is `node --import tsx` with nothing
 * loaded: the part of both figures that is neither. Peak RSS during a drain is in W2.
 */
import { prepared } from "./prep.js"
import {
  childMain,
  copyDir,
  figure,
  repeat,
  runChild,
  settledMemoryMB,
  waitUntil,
  type Bench,
  type Figure,
} from "./lib.js"

interface Memory {
  readonly rssMB: number
  readonly heapMB: number
}

interface Args {
  readonly mode: "jobstate" | "floor" | "bare"
  readonly dir: string
}

const jobstate = async ({ dir }: Args) => {
  const { JobManager } = await import("jobstate")
  const { NoopBlocker } = await import("./jobs.js")
  const manager = await JobManager.open({ dataDir: dir, jobs: [NoopBlocker], concurrency: 1 })
  await waitUntil(() => manager.stats().running === 1)
  const memory = await settledMemoryMB()
  await manager.close()
  return memory
}

const floor = async ({ dir }: Args) => {
  const { FloorQueue } = await import("./floor.js")
  const q = FloorQueue.open(dir)
  const memory = await settledMemoryMB()
  q.close()
  return memory
}

childMain(import.meta.url, async (args: Args) =>
  args.mode === "jobstate" ? jobstate(args) : args.mode === "floor" ? floor(args) : settledMemoryMB(),
)

export default async function w5(b: Bench): Promise<Figure[]> {
  const sizes = b.quick ? [b.n, b.n * 10] : [10_000, 100_000]
  const opts = { nodeFlags: ["--expose-gc"] }
  const figures: Figure[] = []
  for (const size of sizes) {
    const jsDir = await prepared("jobstate", size)
    const floorDir = await prepared("floor", size)
    const runs = await repeat(b.runs, async () => ({
      js: await runChild<Memory>(
        "w5-memory.ts",
        { mode: "jobstate", dir: copyDir(jsDir) },
        { ...opts, role: "jobstate" },
      ),
      floor: await runChild<Memory>(
        "w5-memory.ts",
        { mode: "floor", dir: copyDir(floorDir) },
        { ...opts, role: "floor" },
      ),
    }))
    const last = size === sizes[sizes.length - 1]
    figures.push(
      figure(
        { workload: "W5 memory", name: `RSS with ${size.toLocaleString("en-US")} jobs queued`, unit: "MB" },
        runs.map((r) => r.js.rssMB),
        runs.map((r) => r.floor.rssMB),
        last ? { text: "≤ floor + 10 MB", test: ({ js, floor }) => js <= floor + 10 } : undefined,
      ),
      figure(
        { workload: "W5 memory", name: `V8 heap in use with ${size.toLocaleString("en-US")} jobs queued`, unit: "MB" },
        runs.map((r) => r.js.heapMB),
        runs.map((r) => r.floor.heapMB),
      ),
    )
  }
  const bare = await repeat(b.runs, () =>
    runChild<Memory>("w5-memory.ts", { mode: "bare", dir: "" }, { ...opts, role: "floor" }),
  )
  figures.push(
    figure(
      {
        workload: "W5 memory",
        name: "RSS of `node --import tsx` alone (reference)",
        unit: "MB",
        note: "no database, no jobstate",
      },
      bare.map((r) => r.rssMB),
    ),
  )
  return figures
}
