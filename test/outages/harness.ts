/**
 * One fault run: jobs of `crash_count` dispatched to a store, drained by worker processes
 * (`faultWorker.ts`) while the test injects a fault, then checked against the crash harness's
 * invariants. Every job completes exactly once, with no retry spent on the store's failure; no
 * side effect is lost; at most one item per job is redone per fault; no two attempts of a job
 * run at once. What each worker reported through `onError` is kept, to count it.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { join } from "node:path"
import { afterEach } from "vitest"
import { JobManager } from "../../src/index.js"
import type { DbJob } from "../../src/persistence/JobStore.js"
import { openStore } from "../../src/persistence/openStore.js"
import { tempDir } from "../fixtures/tempDir.js"
import { effectViolations, FaultCountJob, readEffects } from "./faultJobs.js"

const workerScript = join(import.meta.dirname, "faultWorker.ts")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

export interface FaultRunOptions {
  /** Where the store is: a data dir, and a PostgreSQL URL for that store. */
  readonly dataDir: string
  readonly databaseUrl?: string
  readonly jobs?: number
  readonly n?: number
  readonly delayMs?: number
  readonly workers?: number
  readonly leaseMs?: number
  /** Injects the faults once some work is done; returns how many faults it made. */
  readonly inject: (run: RunningDrain) => Promise<number>
}

export interface RunningDrain {
  /** Side effects done so far. */
  effects(): number
  /** What the workers have reported through onError so far, all together. */
  reported(): ReadonlyArray<string>
  /** Waits until a side effect beyond the first `from` is done, and says when it came (epoch ms); undefined when all work was done. */
  progressAfter(from: number): Promise<number | undefined>
}

export interface FaultRunResult {
  readonly ids: ReadonlyArray<string>
  readonly rows: ReadonlyArray<DbJob>
  /** Each worker's onError lines. */
  readonly reported: ReadonlyArray<ReadonlyArray<string>>
  readonly violations: ReadonlyArray<string>
  readonly faults: number
}

const startWorker = async (options: object, lines: string[]): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ["--import", "tsx", workerScript, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  children.push(child)
  let partial = ""
  child.stderr!.on("data", (d: Buffer) => {
    const text = partial + d.toString()
    const parts = text.split("\n")
    partial = parts.pop()!
    lines.push(...parts.filter((l) => l !== ""))
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve())
    child.on("exit", (code) =>
      reject(new Error(`faultWorker exited ${code} before it was ready: ${lines.join(" | ")}`)),
    )
  })
  return child
}

const stop = (child: ChildProcess) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined)
    child.on("exit", resolve)
    child.kill("SIGTERM")
  })

/** Rows as the store has them, once it answers (it may still be coming back). */
const readRows = async (store: { dataDir: string; databaseUrl?: string }): Promise<ReadonlyArray<DbJob>> => {
  for (let i = 0; ; i++) {
    try {
      const s = await openStore(store)
      try {
        return await s.listJobs({})
      } finally {
        await s.close()
      }
    } catch (error) {
      if (i > 100) throw error
      await sleep(200)
    }
  }
}

export const runUnderFault = async (options: FaultRunOptions): Promise<FaultRunResult> => {
  const { dataDir, databaseUrl, jobs = 12, n = 30, delayMs = 60, workers = 3, leaseMs = 2_000 } = options
  const store = databaseUrl === undefined ? { dataDir } : { dataDir, databaseUrl }
  const effectsFile = join(tempDir(), "effects.log")
  const producer = await JobManager.open({ ...store, jobs: [FaultCountJob], concurrency: 0 })
  const ids: string[] = []
  for (let i = 0; i < jobs; i++) ids.push((await producer.dispatch(FaultCountJob, { n, delayMs, effectsFile })).id)
  await producer.close()

  const reported: string[][] = Array.from({ length: workers }, () => [])
  const processes = await Promise.all(
    reported.map((lines) => startWorker({ ...store, concurrency: 2, leaseMs, pollIntervalMs: 100 }, lines)),
  )
  const running: RunningDrain = {
    effects: () => readEffects(effectsFile).length,
    reported: () => reported.flat(),
    async progressAfter(from) {
      for (let i = 0; ; i++) {
        const effects = readEffects(effectsFile)
        if (effects.length > from) return effects[from]!.at
        if (new Set(effects.map((e) => `${e.id} ${e.item}`)).size === jobs * n) return undefined
        if (i > 1_500) throw new Error(`no progress after ${from} side effects for 150 s`)
        await sleep(100)
      }
    },
  }
  while (running.effects() < jobs) await sleep(50)
  const faults = await options.inject(running)

  let rows: ReadonlyArray<DbJob> = []
  for (let i = 0; ; i++) {
    rows = await readRows(store)
    if (rows.every((r) => r.status === "completed" || r.status === "failed" || r.status === "cancelled")) break
    if (i > 600) break
    await sleep(200)
  }
  await Promise.all(processes.map(stop))

  const violations = effectViolations(readEffects(effectsFile), ids, n, faults)
  for (const row of rows) {
    if (row.status !== "completed")
      violations.push(`job ${row.id} is ${row.status}${row.error_message ? `: ${row.error_message}` : ""}`)
    if (row.failures !== 0)
      violations.push(`job ${row.id} spent ${row.failures} retries (a store failure is not the job's)`)
  }
  return { ids, rows, reported, violations, faults }
}
