import { spawn } from "node:child_process"
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { unpack } from "../../src/persistence/codec.js"
import { SqliteJobStore } from "../../src/persistence/SqliteJobStore.js"
import { dispatchFiller, FILLER_NAME, type FillerSnapshot, fillerDifferences } from "./filler.js"
import { prng } from "./prng.js"

export interface CampaignResult {
  readonly seed: number
  readonly kills: number
  /** Kills that landed while a crash_count job ran in the killed process, checkpointed by it and not finished. */
  readonly midRunKills: number
  /** Times a job that a user had paused, and nobody resumed since, was found still paused after a restart. */
  readonly pausesKept: number
  readonly jobs: number
  readonly completed: number
  /** Filler jobs stored before the campaign (`stored`), not counted in `jobs`. */
  readonly stored: number
  readonly violations: ReadonlyArray<string>
}

/**
 * When a life is killed: `delayMs` into start-up (recovery included), after it is ready, after
 * it has done an item of a crash_count job (so a job is caught mid-run, between checkpoints),
 * or `delayMs` into a close() begun after it is ready.
 */
type Moment = "startup" | "running" | "midRun" | "close"

/** A life killed `midRun` that does no item within this long after it is ready is killed anyway. */
const MID_RUN_WAIT_MS = 2_000

const workerScript = join(import.meta.dirname, "worker.ts")

const lines = (file: string) => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}

/**
 * Adds audit triggers: every transition into `completed`, every rewrite of an output, and every
 * time a job a user paused leaves `paused`, is recorded by SQLite itself.
 */
/** Records every write to (and deletion of) a filler job (see filler.ts), which nothing in the campaign may touch. */
export const installFillerAudit = (db: Database.Database, filler: FillerSnapshot) =>
  db.exec(`
    CREATE TABLE audit_filler_writes (id TEXT NOT NULL, op TEXT NOT NULL, old_status TEXT, new_status TEXT);
    CREATE TRIGGER audit_filler_update AFTER UPDATE ON jobs WHEN old.seq <= ${filler.maxSeq}
      BEGIN INSERT INTO audit_filler_writes VALUES (old.id, 'UPDATE', old.status, new.status); END;
    CREATE TRIGGER audit_filler_delete AFTER DELETE ON jobs WHEN old.seq <= ${filler.maxSeq}
      BEGIN INSERT INTO audit_filler_writes VALUES (old.id, 'DELETE', old.status, NULL); END;
  `)

const installAudit = (dataDir: string, filler: FillerSnapshot | undefined) => {
  SqliteJobStore.open(dataDir).closeNow()
  const db = new Database(join(dataDir, "jobs.db"))
  if (filler !== undefined) installFillerAudit(db, filler)
  db.exec(`
    CREATE TABLE audit_completions (id TEXT NOT NULL);
    CREATE TABLE audit_output_rewrites (id TEXT NOT NULL);
    CREATE TABLE audit_user_unpaused (id TEXT NOT NULL, status TEXT NOT NULL);
    CREATE TRIGGER audit_completed AFTER UPDATE OF status ON jobs
      WHEN new.status = 'completed' BEGIN INSERT INTO audit_completions VALUES (new.id); END;
    CREATE TRIGGER audit_output AFTER UPDATE OF output ON jobs
      WHEN old.output IS NOT NULL BEGIN INSERT INTO audit_output_rewrites VALUES (new.id); END;
    CREATE TRIGGER audit_unpaused AFTER UPDATE OF status ON jobs
      WHEN old.status = 'paused' AND old.paused_by = 'user' AND new.status <> 'paused'
      BEGIN INSERT INTO audit_user_unpaused VALUES (new.id, new.status); END;
  `)
  db.close()
}

const life = (
  dataDir: string,
  seed: number,
  n: number,
  moment: Moment | "finish",
  delayMs: number,
  limitMs = 120_000,
) =>
  new Promise<{ pid: number; code: number | null; signal: string | null }>((resolve, reject) => {
    const args = ["--import", "tsx", workerScript, dataDir, String(seed), String(n)]
    const child = spawn(process.execPath, moment === "finish" ? [...args, "finish"] : args, {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    const timers: NodeJS.Timeout[] = []
    const kill = () => child.kill("SIGKILL")
    if (moment === "startup") timers.push(setTimeout(kill, delayMs))
    child.stdout.on("data", (d: Buffer) => {
      if (!d.toString().includes("ready")) return
      if (moment === "running") timers.push(setTimeout(kill, delayMs))
      if (moment === "midRun") {
        // The effects log grows by one line per item, right before the item's checkpoint.
        const effects = join(dataDir, "effects.log")
        const size = () => statSync(effects, { throwIfNoEntry: false })?.size ?? 0
        const atReady = size()
        const since = Date.now()
        const watch = setInterval(() => {
          if (size() === atReady && Date.now() - since < MID_RUN_WAIT_MS) return
          clearInterval(watch)
          timers.push(setTimeout(kill, delayMs))
        }, 2)
        timers.push(watch)
      }
      if (moment === "close") {
        timers.push(setTimeout(() => child.kill("SIGTERM"), delayMs))
        timers.push(setTimeout(kill, delayMs + (delayMs % 40)))
      }
    })
    const limit = setTimeout(() => {
      kill()
      reject(new Error(`life ${n} (${moment}) did not end in time; stderr: ${stderr.slice(-2000)}`))
    }, limitMs)
    child.on("exit", (code, signal) => {
      for (const t of timers) clearTimeout(t)
      clearTimeout(limit)
      if (moment === "finish" && code !== 0)
        reject(new Error(`the finishing life exited ${code ?? signal}: ${stderr.slice(-2000)}`))
      else resolve({ pid: child.pid!, code, signal })
    })
  })

const countBy = (keys: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  return counts
}

const readonly = <A>(dataDir: string, f: (db: Database.Database) => A): A => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

/** The filler jobs as they are now: those of its type up to the largest seq it had when made. */
const readFiller = (db: Database.Database, maxSeq: number): FillerSnapshot => {
  const rows = db
    .prepare("SELECT status, count(*) AS n FROM jobs WHERE seq <= ? AND name = ? GROUP BY status")
    .all(maxSeq, FILLER_NAME) as Array<{ status: string; n: number }>
  return {
    maxSeq,
    count: rows.reduce((a, r) => a + r.n, 0),
    byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])),
  }
}

/**
 * Stores `n` filler jobs (filler.ts) in a new data dir, about half queued and half completed
 * (the completed ones by a direct UPDATE, see filler.ts), and gives their snapshot.
 */
export const fillSqliteStore = async (
  dataDir: string,
  n: number,
  log?: (line: string) => void,
): Promise<FillerSnapshot> => {
  await dispatchFiller({ dataDir }, n, log)
  const db = new Database(join(dataDir, "jobs.db"))
  try {
    const now = new Date().toISOString()
    const started = Date.now()
    db.prepare(
      "UPDATE jobs SET status = 'completed', completed_at = ?, updated_at = ? WHERE name = ? AND status = 'queued' AND seq % 2 = 0",
    ).run(now, now, FILLER_NAME)
    const maxSeq = db.prepare("SELECT max(seq) FROM jobs").pluck().get() as number
    const filler = readFiller(db, maxSeq)
    if (filler.count !== n) throw new Error(`filler: dispatched ${n} jobs, found ${filler.count}`)
    log?.(`filler: ${JSON.stringify(filler.byStatus)}, seq <= ${maxSeq} (completed in ${Date.now() - started} ms)`)
    return filler
  } finally {
    db.close()
  }
}

/** Violations of the filler invariant: its jobs were written, deleted, or their statuses changed. */
export const fillerViolations = (db: Database.Database, made: FillerSnapshot): string[] => {
  const writes = db.prepare("SELECT id, op, old_status, new_status FROM audit_filler_writes LIMIT 20").all() as Array<{
    id: string
    op: string
    old_status: string
    new_status: string | null
  }>
  const total = db.prepare("SELECT count(*) FROM audit_filler_writes").pluck().get() as number
  return [
    ...fillerDifferences(made, readFiller(db, made.maxSeq)),
    ...(total === 0
      ? []
      : [
          `filler: ${total} write(s) to filler jobs, which the campaign must not touch; first: ${writes
            .map((w) => `${w.op} ${w.id} ${w.old_status} → ${w.new_status}`)
            .join(", ")}`,
        ]),
  ]
}

/**
 * Kills a worker process `kills` times at seeded random moments (during start-up recovery,
 * while jobs run and checkpoint, during close()), restarting it on the same data dir each
 * time, then lets a last worker finish everything, and checks what must hold. After every
 * kill it also checks that the jobs a user had paused stayed paused through that life, and
 * counts the kills that landed mid-run.
 */
export const runCrashCampaign = async (options: {
  readonly dataDir: string
  readonly seed: number
  readonly kills: number
  /** Filler jobs to store before the campaign (see filler.ts). Default 0. */
  readonly stored?: number
  readonly log?: (line: string) => void
}): Promise<CampaignResult> => {
  const { dataDir, seed, kills } = options
  const stored = options.stored ?? 0
  const random = prng(seed)
  const violations: string[] = []
  // Items a job may have performed without their checkpoint committing: allowed to repeat once per kill.
  const mayRepeat = new Map<string, number[]>()
  const filler = stored > 0 ? await fillSqliteStore(dataDir, stored, options.log) : undefined
  installAudit(dataDir, filler)
  /** The campaign's own jobs: all of them, or those after the filler. */
  const campaignRows = filler === undefined ? "" : ` WHERE seq > ${filler.maxSeq}`
  let fillerDisturbed = false
  const effectsFile = join(dataDir, "effects.log")
  const resumesFile = join(dataDir, "resumes.log")
  /** Each crash_count job's checkpoints as the last life left them: what the next one started from. */
  let versions = new Map<string, number>()
  /** The jobs a user had paused when the last life ended, with their checkpoint and how many items they had done. */
  let userPaused = new Map<string, { readonly version: number; readonly effects: number }>()
  const knownManagers = new Set<string>()
  let midRunKills = 0
  let pausesKept = 0

  for (let n = 0; n < kills; n++) {
    // Every fourth kill waits for a job to be mid-run, so that every campaign, however its
    // seed falls, kills jobs between their checkpoints.
    const picked = random.pick<Moment>(["startup", "running", "running", "running", "close"])
    const moment = n % 4 === 3 ? "midRun" : picked
    const delay =
      moment === "startup" ? random.int(0, 900) : moment === "midRun" ? random.int(0, 20) : random.int(5, 250)
    const { pid } = await life(dataDir, seed, n, moment, delay)
    const effectsOf = countBy(lines(effectsFile).map((l) => l.split(" ")[0]!))
    const resumedNow = new Set(lines(resumesFile).flatMap((l) => (l.startsWith(`${n} `) ? [l.split(" ")[1]!] : [])))
    const cutShort = readonly(dataDir, (db) => {
      const integrity = db.pragma("integrity_check", { simple: true })
      if (integrity !== "ok") violations.push(`after kill ${n}: integrity_check says ${integrity}`)
      if (filler !== undefined && !fillerDisturbed) {
        // Reported once, at the first kill after which it shows, and again in full at the end.
        const found = fillerViolations(db, filler)
        fillerDisturbed = found.length > 0
        for (const v of found) violations.push(`after kill ${n}: ${v}`)
      }
      const rows = db
        .prepare(`SELECT id, name, status, paused_by, owner, params, data, state_version FROM jobs${campaignRows}`)
        .all() as Array<{
        id: string
        name: string
        status: string
        paused_by: string | null
        owner: string | null
        params: Buffer
        data: Buffer
        state_version: number
      }>
      for (const row of rows) {
        if (row.name !== "crash_count" || row.status !== "running") continue
        ;(mayRepeat.get(row.id) ?? mayRepeat.set(row.id, []).get(row.id)!).push(row.state_version)
      }

      // Did the kill land mid-run? The killed process's manager (found by its lease, which
      // only close() removes) owned a crash_count job that it had checkpointed and not finished.
      const managers = (db.prepare("SELECT id FROM managers WHERE pid = ?").pluck().all(pid) as string[]).filter(
        (id) => !knownManagers.has(id),
      )
      for (const id of db.prepare("SELECT id FROM managers").pluck().all() as string[]) knownManagers.add(id)
      const cutShort = rows.filter((row) => {
        if (
          row.name !== "crash_count" ||
          row.status !== "running" ||
          row.owner === null ||
          !managers.includes(row.owner)
        )
          return false
        const { n: items } = unpack(row.params, "params") as { n: number }
        const { next } = unpack(row.data, "state") as { next: number }
        return row.state_version > (versions.get(row.id) ?? 0) && next < items
      })
      if (cutShort.length > 0) midRunKills++

      // A job a user paused stays paused across a restart until someone resumes it: the life
      // that just ended did not run it (no checkpoint, no item done) nor change its status.
      for (const [id, before] of userPaused) {
        if (resumedNow.has(id)) continue
        const row = rows.find((r) => r.id === id)!
        const effects = effectsOf.get(id) ?? 0
        if (
          row.status === "paused" &&
          row.paused_by === "user" &&
          row.state_version === before.version &&
          effects === before.effects
        ) {
          pausesKept++
        } else {
          violations.push(
            `after kill ${n}: job ${id}, paused by a user and not resumed since, is ${row.status} (paused by ${row.paused_by}), ` +
              `checkpoint ${before.version} → ${row.state_version}, items done ${before.effects} → ${effects}`,
          )
        }
      }
      userPaused = new Map(
        rows
          .filter((r) => r.status === "paused" && r.paused_by === "user")
          .map((r) => [r.id, { version: r.state_version, effects: effectsOf.get(r.id) ?? 0 }]),
      )
      versions = new Map(rows.filter((r) => r.name === "crash_count").map((r) => [r.id, r.state_version]))
      return cutShort.length
    })
    options.log?.(
      `kill ${n + 1}/${kills} at ${moment} +${delay}ms${cutShort > 0 ? `, ${cutShort} job(s) cut short mid-run` : ""}`,
    )
  }
  // In a filled store the claim walks the filler's queued rows (slower), so the backlog takes longer.
  await life(dataDir, seed, kills, "finish", 0, filler === undefined ? 120_000 : 900_000)

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
    if (filler !== undefined) violations.push(...fillerViolations(db, filler))
    const rows = db.prepare(`SELECT id, name, status, params, output, error FROM jobs${campaignRows}`).all() as Array<{
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
    // Only a resume takes a job a user paused out of `paused` (the finishing life resumes them all).
    const resumes = countBy(lines(join(dataDir, "resumes.log")).map((l) => l.split(" ")[1]!))
    const unpaused = db.prepare("SELECT id, status FROM audit_user_unpaused").all() as Array<{
      id: string
      status: string
    }>
    for (const [id, times] of countBy(unpaused.map((u) => u.id))) {
      if (times > (resumes.get(id) ?? 0)) {
        const to = unpaused.filter((u) => u.id === id).map((u) => u.status)
        violations.push(
          `job ${id}: left a user's pause ${times} times (to ${to.join(", ")}) but was resumed ${resumes.get(id) ?? 0} times`,
        )
      }
    }
    for (const row of rows) {
      if (!["completed", "failed", "cancelled"].includes(row.status))
        violations.push(`job ${row.id} ended ${row.status}, not in a terminal state`)
      const times = completions.get(row.id) ?? 0
      if (row.status === "completed" && times !== 1) violations.push(`job ${row.id} was completed ${times} times`)
      if (row.name === "crash_fail" && (row.status !== "failed" || JSON.parse(row.error ?? "{}")._tag !== "Refused")) {
        violations.push(`job ${row.id} (crash_fail) ended ${row.status} with ${row.error}`)
      }
      if (row.name === "crash_noop" && row.status !== "completed")
        violations.push(`job ${row.id} (crash_noop) ended ${row.status}`)
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
        if (times > allowed)
          violations.push(`job ${row.id}: item ${i} was done ${times} times (at most ${allowed} allowed)`)
      }
    }
    const completed = rows.filter((r) => r.status === "completed").length
    return { seed, kills, midRunKills, pausesKept, jobs: rows.length, completed, stored, violations }
  })
}
