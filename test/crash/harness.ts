import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { unpack } from "../../src/persistence/codec.js"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { prng } from "./prng.js"

export interface CampaignResult {
  readonly seed: number
  readonly kills: number
  readonly jobs: number
  readonly completed: number
  readonly violations: ReadonlyArray<string>
}

type Moment = "startup" | "running" | "close"

const workerScript = join(import.meta.dirname, "worker.ts")

const lines = (file: string) => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}

/** Adds audit triggers: every transition into `completed` and every rewrite of an output is recorded by SQLite itself. */
const installAudit = (dataDir: string) => {
  SqliteJobStore.open(dataDir).close()
  const db = new Database(join(dataDir, "jobs.db"))
  db.exec(`
    CREATE TABLE audit_completions (id TEXT NOT NULL);
    CREATE TABLE audit_output_rewrites (id TEXT NOT NULL);
    CREATE TRIGGER audit_completed AFTER UPDATE OF status ON jobs
      WHEN new.status = 'completed' BEGIN INSERT INTO audit_completions VALUES (new.id); END;
    CREATE TRIGGER audit_output AFTER UPDATE OF output ON jobs
      WHEN old.output IS NOT NULL BEGIN INSERT INTO audit_output_rewrites VALUES (new.id); END;
  `)
  db.close()
}

const life = (dataDir: string, seed: number, n: number, moment: Moment | "finish", delayMs: number) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    const args = ["--import", "tsx", workerScript, dataDir, String(seed), String(n)]
    const child = spawn(process.execPath, moment === "finish" ? [...args, "finish"] : args, { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    const timers: NodeJS.Timeout[] = []
    const kill = () => child.kill("SIGKILL")
    if (moment === "startup") timers.push(setTimeout(kill, delayMs))
    child.stdout.on("data", (d: Buffer) => {
      if (!d.toString().includes("ready")) return
      if (moment === "running") timers.push(setTimeout(kill, delayMs))
      if (moment === "close") {
        timers.push(setTimeout(() => child.kill("SIGTERM"), delayMs))
        timers.push(setTimeout(kill, delayMs + (delayMs % 40)))
      }
    })
    const limit = setTimeout(() => {
      kill()
      reject(new Error(`life ${n} (${moment}) did not end in time; stderr: ${stderr.slice(-2000)}`))
    }, 120_000)
    child.on("exit", (code, signal) => {
      for (const t of timers) clearTimeout(t)
      clearTimeout(limit)
      if (moment === "finish" && code !== 0) reject(new Error(`the finishing life exited ${code ?? signal}: ${stderr.slice(-2000)}`))
      else resolve({ code, signal })
    })
  })

const readonly = <A>(dataDir: string, f: (db: Database.Database) => A): A => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

/**
 * Kills a worker process `kills` times at seeded random moments (during start-up recovery,
 * while jobs run and checkpoint, during close()), restarting it on the same data dir each
 * time, then lets a last worker finish everything, and checks what must hold.
 */
export const runCrashCampaign = async (options: {
  readonly dataDir: string
  readonly seed: number
  readonly kills: number
  readonly log?: (line: string) => void
}): Promise<CampaignResult> => {
  const { dataDir, seed, kills } = options
  const random = prng(seed)
  const violations: string[] = []
  // Items a job may have performed without their checkpoint committing: allowed to repeat once per kill.
  const mayRepeat = new Map<string, number[]>()
  installAudit(dataDir)

  for (let n = 0; n < kills; n++) {
    const moment = random.pick<Moment>(["startup", "running", "running", "running", "close"])
    const delay = moment === "startup" ? random.int(0, 900) : random.int(5, 250)
    await life(dataDir, seed, n, moment, delay)
    readonly(dataDir, (db) => {
      const integrity = db.pragma("integrity_check", { simple: true })
      if (integrity !== "ok") violations.push(`after kill ${n}: integrity_check says ${integrity}`)
      for (const row of db.prepare("SELECT id, state_version FROM jobs WHERE status = 'running' AND name = 'crash_count'").all() as Array<{ id: string; state_version: number }>) {
        ;(mayRepeat.get(row.id) ?? mayRepeat.set(row.id, []).get(row.id)!).push(row.state_version)
      }
    })
    options.log?.(`kill ${n + 1}/${kills} at ${moment} +${delay}ms`)
  }
  await life(dataDir, seed, kills, "finish", 0)

  const effects = new Map<string, Map<number, number>>()
  for (const line of lines(join(dataDir, "effects.log"))) {
    const [id, item] = line.split(" ") as [string, string]
    const counts = effects.get(id) ?? effects.set(id, new Map()).get(id)!
    counts.set(Number(item), (counts.get(Number(item)) ?? 0) + 1)
  }
  const dispatched = lines(join(dataDir, "dispatched.log")).map((l) => l.split(" ")[0]!)

  return readonly(dataDir, (db) => {
    const integrity = db.pragma("integrity_check", { simple: true })
    if (integrity !== "ok") violations.push(`at the end: integrity_check says ${integrity}`)
    const rows = db.prepare("SELECT id, name, status, params, output, error FROM jobs").all() as Array<{
      id: string
      name: string
      status: string
      params: Buffer
      output: string | null
      error: string | null
    }>
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const id of dispatched) if (!byId.has(id)) violations.push(`job ${id} was dispatched but is not stored`)
    const completions = new Map<string, number>()
    for (const { id } of db.prepare("SELECT id FROM audit_completions").all() as Array<{ id: string }>) {
      completions.set(id, (completions.get(id) ?? 0) + 1)
    }
    for (const { id } of db.prepare("SELECT id FROM audit_output_rewrites").all() as Array<{ id: string }>) {
      violations.push(`job ${id}: its output was written twice`)
    }
    for (const row of rows) {
      if (!["completed", "failed", "cancelled"].includes(row.status)) violations.push(`job ${row.id} ended ${row.status}, not in a terminal state`)
      const times = completions.get(row.id) ?? 0
      if (row.status === "completed" && times !== 1) violations.push(`job ${row.id} was completed ${times} times`)
      if (row.name === "crash_fail" && (row.status !== "failed" || JSON.parse(row.error ?? "{}")._tag !== "Refused")) {
        violations.push(`job ${row.id} (crash_fail) ended ${row.status} with ${row.error}`)
      }
      if (row.name === "crash_noop" && row.status !== "completed") violations.push(`job ${row.id} (crash_noop) ended ${row.status}`)
      if (row.name !== "crash_count") continue
      if (row.status !== "completed") {
        violations.push(`job ${row.id} (crash_count) ended ${row.status}: ${row.error}`)
        continue
      }
      const { n } = unpack(row.params, "params") as { n: number }
      if (JSON.parse(row.output!).counted !== n) violations.push(`job ${row.id}: output ${row.output} but n = ${n}`)
      const counts = effects.get(row.id) ?? new Map<number, number>()
      const repeatable = mayRepeat.get(row.id) ?? []
      for (let i = 0; i < n; i++) {
        const times = counts.get(i) ?? 0
        const allowed = 1 + repeatable.filter((k) => k === i).length
        if (times === 0) violations.push(`job ${row.id}: item ${i} was never done`)
        if (times > allowed) violations.push(`job ${row.id}: item ${i} was done ${times} times (at most ${allowed} allowed)`)
      }
    }
    return { seed, kills, jobs: rows.length, completed: rows.filter((r) => r.status === "completed").length, violations }
  })
}
