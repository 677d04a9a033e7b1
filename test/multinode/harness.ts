/**
 * The multi-node crash harness: several worker processes (`pgWorker.ts`) and one producer (a
 * manager with `concurrency: 0` in this process) share ONE PostgreSQL schema. The producer
 * dispatches a seeded stream of jobs and pauses, resumes and cancels some of them; meanwhile
 * workers are SIGKILLed at seeded random moments (while they run jobs, during close(), during
 * open()) and restarted. Then every paused job is resumed, everything is run to its end, the
 * workers are stopped gracefully, and what PostgreSQL recorded (see `audit.ts`) is checked.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { join } from "node:path"
import pg from "pg"
import { InvalidTransition, JobManager } from "../../src/index.js"
import { unpack } from "../../src/persistence/codec.js"
import { type FillerSnapshot, fillPgStore, pgFillerViolations } from "../crash/filler.js"
import { prng } from "../crash/prng.js"
import { installAudit, readEffects, readManagerPids, runOn, schemaUrl, type EffectRow } from "./audit.js"
import { PgCountJob, PgFailJob, PgNoopJob, pgJobs } from "./pgJobs.js"

export interface PgCampaignOptions {
  /** A database (no `?schema=`): the campaign creates its schema in it. */
  readonly databaseUrl: string
  readonly schema: string
  /** The managers' data dir (each job's private directory). */
  readonly dataDir: string
  readonly seed: number
  /** SIGKILLs to deliver (kills of workers that were already gone do not count). */
  readonly kills: number
  /** Worker processes alive at once. Default 3. */
  readonly workers?: number
  /** Every manager's lease. Default 2 000. */
  readonly leaseMs?: number
  /** Filler jobs to store before the campaign, of a type no worker runs (test/crash/filler.ts). Default 0. */
  readonly stored?: number
  readonly log?: (line: string) => void
}

export interface PgCampaignResult {
  readonly seed: number
  readonly kills: number
  /** Kills by moment: while running jobs, during close() (SIGTERM then SIGKILL), just after open() began. */
  readonly killsAt: Readonly<Record<Moment, number>>
  /** Of the "startup" kills, those that landed before JobManager.open() had resolved. */
  readonly killsBeforeReady: number
  /** close() finished before the SIGKILL of a "close" moment came: a graceful stop, not a kill. */
  readonly gracefulStops: number
  /** Worker processes started. */
  readonly lives: number
  /** Kills after which a pg_count job the killed process had been running went on in another process. */
  readonly midRunKills: number
  /** (job, killed process) pairs: a job cut short by a kill and carried on elsewhere. */
  readonly takeovers: number
  /** Items done twice: the item in flight when its process was killed (allowed, once per kill). */
  readonly repeatedInFlight: number
  readonly jobs: number
  readonly completed: number
  readonly failed: number
  readonly cancelled: number
  /** Filler jobs stored before the campaign (`stored`), not counted in `jobs`. */
  readonly stored: number
  /** Side effects of pg_count jobs. */
  readonly effects: number
  readonly commands: {
    readonly pauses: number
    readonly resumes: number
    readonly cancels: number
    readonly held: number
  }
  /** What the producer's pause() calls resolved with (a job may end first; a kill may lose a pause its owner had taken). */
  readonly pauseOutcomes: Readonly<Record<string, number>>
  /** Commands that failed with something other than InvalidTransition (reported, and counted as violations). */
  readonly commandErrors: ReadonlyArray<string>
  /** Lines the engine reported through onError in the workers and the producer (not violations). */
  readonly engineErrors: ReadonlyArray<string>
  readonly violations: ReadonlyArray<string>
  readonly seconds: number
}

type Moment = "running" | "close" | "startup"

const workerScript = join(import.meta.dirname, "pgWorker.ts")
const terminal = ["completed", "failed", "cancelled"]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const q = (name: string) => `"${name.replaceAll('"', '""')}"`

interface Life {
  readonly n: number
  readonly slot: number
  readonly child: ChildProcess
  readonly pid: number
  readonly opening: Promise<void>
  readonly ready: Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** We asked it to stop (SIGTERM or SIGKILL): an exit is expected. */
  stopping: boolean
  /** It died of our SIGKILL. */
  killed: boolean
  /** It printed "ready": JobManager.open() had resolved. */
  isReady: boolean
  stderr: string
}

/** A promise that never rejects unhandled: `ready` and `opening` are not always awaited. */
const settledLater = <A>(p: Promise<A>): Promise<A> => {
  p.catch(() => undefined)
  return p
}

export const runPgCampaign = async (options: PgCampaignOptions): Promise<PgCampaignResult> => {
  const started = Date.now()
  const { databaseUrl, schema, dataDir, seed } = options
  const workers = options.workers ?? 3
  const leaseMs = options.leaseMs ?? 2_000
  const log = options.log ?? (() => undefined)
  const url = schemaUrl(databaseUrl, schema)
  const s = q(schema)
  const violations: string[] = []
  const commandErrors: string[] = []
  const engineErrors: string[] = []
  // One stream per concern, so that each stays reproducible from the seed on its own.
  const killRandom = prng(seed)
  const dispatchRandom = prng(seed * 31 + 7)
  const commandRandom = prng(seed * 17 + 3)

  const stored = options.stored ?? 0
  const filler: FillerSnapshot | undefined =
    stored > 0 ? await fillPgStore({ url, databaseUrl, schema, dataDir }, stored, log) : undefined
  /** The campaign's own jobs: all of them, or those after the filler (a condition ANDed to another). */
  const mine = (where: string) => (filler === undefined ? where : `(${where}) AND seq > ${filler.maxSeq}`)
  await installAudit(databaseUrl, schema)
  const admin = new pg.Client({ connectionString: databaseUrl, application_name: "jobstate crash harness" })
  admin.on("error", () => undefined)
  await admin.connect()
  const idsWhere = async (where: string): Promise<string[]> =>
    (await admin.query<{ id: string }>(`SELECT id FROM ${s}.jobs WHERE ${mine(where)} ORDER BY seq`)).rows.map(
      (r) => r.id,
    )

  // ------------------------------------------------------------------ worker processes
  const lives: Life[] = []
  const startLife = (slot: number): Life => {
    const n = lives.length
    const child = spawn(
      process.execPath,
      ["--import", "tsx", workerScript, url, dataDir, JSON.stringify({ life: n, concurrency: 3, leaseMs })],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    let stdout = ""
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    )
    const line = (text: string) =>
      settledLater(
        new Promise<void>((resolve, reject) => {
          const look = () => stdout.split("\n").some((l) => l.startsWith(text))
          child.stdout!.on("data", () => look() && resolve())
          void exited.then(({ code, signal }) =>
            reject(
              new Error(`worker life ${n} exited (${code ?? signal}) before "${text}": ${life.stderr.slice(-1500)}`),
            ),
          )
        }),
      )
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    const life: Life = {
      n,
      slot,
      child,
      pid: child.pid!,
      opening: line("opening"),
      ready: line("ready"),
      exited,
      stopping: false,
      killed: false,
      isReady: false,
      stderr: "",
    }
    life.ready.then(
      () => (life.isReady = true),
      () => undefined,
    )
    child.stderr!.on("data", (d: Buffer) => {
      life.stderr += d.toString()
      for (const l of d.toString().split("\n"))
        if (l.startsWith("[worker") && engineErrors.length < 200) engineErrors.push(`life ${n}: ${l}`)
    })
    void exited.then(({ code, signal }) => {
      if (!life.stopping)
        violations.push(
          `worker life ${n} (pid ${life.pid}) exited on its own (${code ?? signal}): ${life.stderr.slice(-1500)}`,
        )
    })
    lives.push(life)
    return life
  }
  const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
    Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms waiting for ${what}`)))])

  const killed = { running: 0, close: 0, startup: 0 } satisfies Record<Moment, number>
  let kills = 0
  let killsBeforeReady = 0
  let gracefulStops = 0
  /** Stops a life: SIGTERM first for a "close" moment; then SIGKILL, unless it has exited meanwhile. */
  const stop = async (life: Life, moment: Moment, graceMs: number) => {
    life.stopping = true
    if (moment === "close") {
      life.child.kill("SIGTERM")
      await Promise.race([life.exited, sleep(graceMs)])
    }
    if (life.child.exitCode === null && life.child.signalCode === null) life.child.kill("SIGKILL")
    const { code, signal } = await life.exited
    if (signal === "SIGKILL") {
      life.killed = true
      kills++
      killed[moment]++
      if (!life.isReady) killsBeforeReady++
    } else if (moment === "close" && code === 0) {
      gracefulStops++
    } else {
      violations.push(
        `worker life ${life.n} stopped at ${moment} exited ${code ?? signal}: ${life.stderr.slice(-1500)}`,
      )
    }
  }

  const slots: Life[] = []
  for (let slot = 0; slot < workers; slot++) slots.push(startLife(slot))
  let producer: JobManager | undefined
  const loops: Array<Promise<void>> = []
  const dispatched = new Map<string, string>()
  const resumes = new Map<string, number>()
  const cancels = new Map<string, number>()
  const held = new Set<string>()
  let pauses = 0
  const pauseOutcomes: Record<string, number> = {}
  const bump = (m: Map<string, number>, id: string) => m.set(id, (m.get(id) ?? 0) + 1)
  let stopping = false
  let ran = false

  try {
    producer = await JobManager.open({
      dataDir,
      databaseUrl: url,
      jobs: pgJobs,
      concurrency: 0,
      leaseMs,
      onError: (e) => void (engineErrors.length < 200 && engineErrors.push(`producer: ${String(e)}`)),
    })
    const p = producer
    await withTimeout(Promise.all(slots.map((l) => l.ready)), 120_000, "the first workers")

    // ---------------------------------------------------------------- the producer's loops
    const dispatchLoop = (async () => {
      while (!stopping) {
        await sleep(dispatchRandom.int(150, 500))
        try {
          const { rows } = await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${s}.jobs WHERE ${mine("status = 'queued'")}`,
          )
          if (rows[0]!.n >= 24) continue
          for (let i = 0, k = dispatchRandom.int(1, 4); i < k; i++) {
            const x = dispatchRandom.next()
            const priority = dispatchRandom.pick([0, 0, 0, 1, -1])
            const handle =
              x < 0.65
                ? await p.dispatch(
                    PgCountJob,
                    { n: dispatchRandom.int(3, 25), delayMs: dispatchRandom.int(5, 40) },
                    { priority },
                  )
                : x < 0.85
                  ? await p.dispatch(PgNoopJob, {}, { priority })
                  : await p.dispatch(PgFailJob, { afterMs: dispatchRandom.int(0, 80) }, { priority })
            dispatched.set(handle.id, handle.name)
          }
        } catch (error) {
          // The producer is never killed: its dispatches must not fail.
          violations.push(`a dispatch failed: ${String(error)}`)
        }
      }
    })()
    const commandLoop = (async () => {
      while (!stopping) {
        await sleep(commandRandom.int(150, 600))
        const x = commandRandom.next()
        try {
          if (x < 0.4) {
            const running = await idsWhere(`status = 'running' AND name = 'pg_count'`)
            if (running.length === 0) continue
            const id = commandRandom.pick(running)
            // Some pauses are for good: those jobs stay paused (across every kill) until the end.
            if (commandRandom.next() < 0.2) held.add(id)
            pauses++
            const status = await p.pause(id)
            pauseOutcomes[status] = (pauseOutcomes[status] ?? 0) + 1
          } else if (x < 0.9) {
            const paused = (await idsWhere(`status = 'paused' AND paused_by = 'user'`)).filter((id) => !held.has(id))
            if (paused.length === 0) continue
            const id = commandRandom.pick(paused)
            bump(resumes, id) // counted before it is asked for: it may take effect even if the call fails
            await p.resume(id)
          } else if (x < 0.95) {
            const open = await idsWhere(`status IN ('queued', 'running', 'paused')`)
            if (open.length === 0) continue
            const id = commandRandom.pick(open)
            bump(cancels, id)
            await p.cancel(id)
          }
        } catch (error) {
          // The job moved on between the look and the command: fine.
          if (!(error instanceof InvalidTransition)) commandErrors.push(String(error))
        }
      }
    })()
    loops.push(dispatchLoop, commandLoop)

    // ---------------------------------------------------------------- the kills
    while (kills < options.kills) {
      await sleep(killRandom.int(200, 1200))
      const slot = killRandom.int(0, workers - 1)
      const moment = killRandom.pick<Moment>(["running", "running", "running", "running", "close", "startup"])
      // close() of a worker takes tens of ms (its jobs stop at their next checkpoint): the SIGKILL must come sooner.
      const graceMs = killRandom.int(0, 60)
      const life = slots[slot]!
      await withTimeout(life.ready, 120_000, `worker life ${life.n} to be ready`)
      const before = kills
      await stop(life, moment === "startup" ? "running" : moment, graceMs)
      await sleep(killRandom.int(0, 300))
      slots[slot] = startLife(slot)
      if (moment === "startup" && kills < options.kills) {
        // Killed inside JobManager.open(): connecting, migrating, recovering, first claims.
        const young = slots[slot]!
        await withTimeout(young.opening, 120_000, `worker life ${young.n} to start`)
        await sleep(killRandom.int(0, 100))
        await stop(young, "startup", 0)
        slots[slot] = startLife(slot)
      }
      const what =
        kills === before
          ? "stopped gracefully before the SIGKILL"
          : kills - before === 2
            ? "SIGKILLed, then its successor during open()"
            : "SIGKILLed"
      log(`${kills}/${options.kills} kills: ${moment} in slot ${slot}, ${what}`)
    }

    // ---------------------------------------------------------------- the end
    stopping = true
    await Promise.all([dispatchLoop, commandLoop])
    await withTimeout(Promise.all(slots.map((l) => l.ready)), 120_000, "the last workers")
    for (const id of await idsWhere(`status = 'paused' AND paused_by = 'user'`)) {
      bump(resumes, id)
      await p.resume(id).catch((error) => {
        if (!(error instanceof InvalidTransition)) commandErrors.push(`final resume of ${id}: ${String(error)}`)
      })
    }
    const deadline = Date.now() + 180_000
    for (;;) {
      const open = await idsWhere(`status NOT IN ('completed', 'failed', 'cancelled')`)
      if (open.length === 0) break
      if (Date.now() > deadline) {
        const { rows } = await admin.query(
          `SELECT id, name, status, paused_by, owner, request FROM ${s}.jobs WHERE id = ANY($1)`,
          [open],
        )
        violations.push(`${open.length} job(s) never ended: ${JSON.stringify(rows.slice(0, 10))}`)
        break
      }
      await sleep(100)
    }
    for (const life of slots) {
      life.stopping = true
      life.child.kill("SIGTERM")
    }
    for (const life of slots) {
      const { code, signal } = await withTimeout(life.exited, 60_000, `worker life ${life.n} to close`)
      if (code !== 0)
        violations.push(
          `worker life ${life.n} did not close gracefully (${code ?? signal}): ${life.stderr.slice(-1500)}`,
        )
    }
    ran = true
  } finally {
    stopping = true
    await Promise.allSettled(loops)
    for (const life of lives) {
      if (life.child.exitCode === null && life.child.signalCode === null) {
        life.stopping = true
        life.child.kill("SIGKILL")
      }
    }
    await producer?.close().catch((e) => void violations.push(`the producer did not close: ${String(e)}`))
    if (!ran) await admin.end().catch(() => undefined)
  }

  // ------------------------------------------------------------------ what PostgreSQL recorded
  try {
    const rows = (
      await admin.query<{
        id: string
        name: string
        status: string
        params: Buffer
        output: string | null
        error: string | null
        state_version: number
        owner: string | null
        request: string | null
      }>(
        `SELECT id, name, status, params, output, error, state_version, owner, request FROM ${s}.jobs${filler === undefined ? "" : ` WHERE seq > ${filler.maxSeq}`} ORDER BY seq`,
      )
    ).rows
    const changes = (
      await admin.query<{
        job_id: string
        op: string
        old_status: string | null
        new_status: string | null
        old_owner: string | null
        new_owner: string | null
        old_paused_by: string | null
        output_changed: boolean
        old_state_version: number | null
        new_state_version: number | null
      }>(`SELECT * FROM ${s}.test_job_changes ORDER BY seq`)
    ).rows
    const effects = await readEffects(runOn(admin), schema)
    const managerPids = await readManagerPids(runOn(admin), schema)
    const lifeOf = new Map(lives.map((l) => [l.n, l]))

    if (filler !== undefined) violations.push(...(await pgFillerViolations(admin, schema, filler)))
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const id of dispatched.keys()) if (!byId.has(id)) violations.push(`job ${id} was dispatched but is not stored`)
    for (const row of rows)
      if (!dispatched.has(row.id)) violations.push(`job ${row.id} is stored but was never dispatched`)

    // Every change of status, owner and output, as the database saw it.
    const terminalEntries = new Map<string, number>()
    const completions = new Map<string, number>()
    const outputWrites = new Map<string, number>()
    const leftUserPause = new Map<string, string[]>()
    for (const c of changes) {
      if (c.op === "DELETE") {
        violations.push(`job ${c.job_id} was deleted (it was ${c.old_status})`)
        continue
      }
      if (terminal.includes(c.old_status!))
        violations.push(
          `job ${c.job_id} was written after it ended ${c.old_status} (now ${c.new_status}, owner ${c.new_owner})`,
        )
      if (c.new_state_version! < c.old_state_version!)
        violations.push(
          `job ${c.job_id}: its checkpoint count went down, ${c.old_state_version} → ${c.new_state_version}`,
        )
      if (c.new_status === "running" && c.old_status !== "running" && c.old_status !== "queued") {
        violations.push(`job ${c.job_id} started from ${c.old_status}, not from queued`)
      }
      if (c.old_status === "running" && c.new_status === "running" && c.old_owner !== c.new_owner) {
        violations.push(
          `job ${c.job_id} changed owner while running (${c.old_owner} → ${c.new_owner}), not through the queue`,
        )
      }
      if (c.new_status === "running" && c.new_owner === null)
        violations.push(`job ${c.job_id} is running with no owner`)
      if (!terminal.includes(c.old_status!) && terminal.includes(c.new_status!)) bump(terminalEntries, c.job_id)
      if (c.new_status === "completed" && c.old_status !== "completed") bump(completions, c.job_id)
      if (c.output_changed) bump(outputWrites, c.job_id)
      if (c.old_status === "paused" && c.old_paused_by === "user" && c.new_status !== "paused") {
        ;(leftUserPause.get(c.job_id) ?? leftUserPause.set(c.job_id, []).get(c.job_id)!).push(c.new_status!)
      }
    }
    // A job a user paused leaves `paused` only when someone resumes or cancels it.
    for (const [id, to] of leftUserPause) {
      const toQueued = to.filter((t) => t === "queued").length
      const toCancelled = to.filter((t) => t === "cancelled").length
      const other = to.filter((t) => t !== "queued" && t !== "cancelled")
      if (toQueued > (resumes.get(id) ?? 0) || toCancelled > (cancels.get(id) ?? 0) || other.length > 0) {
        violations.push(
          `job ${id} left a user's pause ${to.length} time(s) (to ${to.join(", ")}) but was resumed ${resumes.get(id) ?? 0} and cancelled ${cancels.get(id) ?? 0} time(s)`,
        )
      }
    }

    // The side effects: each by the process that owned the running job, at its committed checkpoint.
    const effectsOf = new Map<string, EffectRow[]>()
    for (const e of effects) (effectsOf.get(e.job_id) ?? effectsOf.set(e.job_id, []).get(e.job_id)!).push(e)
    let repeatedInFlight = 0
    const cutShort = new Map<number, Set<string>>()
    for (const e of effects) {
      const ownerPid = e.owner === null ? undefined : managerPids.get(e.owner)
      if (e.status !== "running" || ownerPid !== e.pid) {
        violations.push(
          `job ${e.job_id}: item ${e.item} was done by pid ${e.pid} (life ${e.life}) while the database had the job ${e.status} ` +
            `under ${e.owner ?? "no owner"} (pid ${ownerPid ?? "?"}): the job ran outside its owner, in two processes at once`,
        )
      }
      if (e.state_version !== e.item) {
        violations.push(
          e.state_version! > e.item
            ? `job ${e.job_id}: item ${e.item} was redone although checkpoint ${e.state_version} (items below it done) was committed`
            : `job ${e.job_id}: item ${e.item} was done ahead of its committed checkpoint ${e.state_version}`,
        )
      }
    }
    for (const [id, list] of effectsOf) {
      // The last effect of this job in each process.
      const lastInLife = new Map<number, number>()
      for (const e of list) lastInLife.set(e.life, e.seq)
      for (let k = 1; k < list.length; k++) {
        const prev = list[k - 1]!
        const next = list[k]!
        if (next.life !== prev.life && lastInLife.get(prev.life) === prev.seq && lifeOf.get(prev.life)?.killed) {
          ;(cutShort.get(prev.life) ?? cutShort.set(prev.life, new Set()).get(prev.life)!).add(id)
        }
        if (next.item !== prev.item) continue
        // Done again: allowed once, when the process that did it was killed before its checkpoint committed.
        const killedInFlight =
          next.life !== prev.life && lastInLife.get(prev.life) === prev.seq && lifeOf.get(prev.life)?.killed === true
        if (killedInFlight) repeatedInFlight++
        else
          violations.push(
            `job ${id}: item ${next.item} was done again (lives ${prev.life} → ${next.life}) though no kill cut it short`,
          )
      }
    }

    // Every job ended once, as its type and the commands it got say.
    for (const row of rows) {
      const wasCancelled = (cancels.get(row.id) ?? 0) > 0
      if (!terminal.includes(row.status))
        violations.push(`job ${row.id} (${row.name}) ended ${row.status}, not in a terminal state`)
      if (row.owner !== null || row.request !== null)
        violations.push(`job ${row.id} (${row.name}) ended with owner ${row.owner} and command ${row.request}`)
      if ((terminalEntries.get(row.id) ?? 0) !== (terminal.includes(row.status) ? 1 : 0)) {
        violations.push(
          `job ${row.id} (${row.name}) entered a terminal state ${terminalEntries.get(row.id) ?? 0} times`,
        )
      }
      if ((completions.get(row.id) ?? 0) !== (row.status === "completed" ? 1 : 0)) {
        violations.push(
          `job ${row.id} (${row.name}) is ${row.status} and was completed ${completions.get(row.id) ?? 0} times`,
        )
      }
      if (row.status === "cancelled" && !wasCancelled)
        violations.push(`job ${row.id} (${row.name}) is cancelled but nobody cancelled it`)
      const outputs = outputWrites.get(row.id) ?? 0
      if (outputs !== (row.name === "pg_count" && row.status === "completed" ? 1 : 0)) {
        violations.push(`job ${row.id} (${row.name}, ${row.status}): its output was written ${outputs} times`)
      }
      const expected = row.name === "pg_fail" ? "failed" : "completed"
      if (row.status !== expected && !(row.status === "cancelled" && wasCancelled)) {
        violations.push(`job ${row.id} (${row.name}) ended ${row.status}, expected ${expected}: ${row.error}`)
      }
      if (row.name === "pg_fail" && row.status === "failed" && JSON.parse(row.error ?? "{}")._tag !== "Refused") {
        violations.push(`job ${row.id} (pg_fail) failed with ${row.error}, not its own Refused`)
      }
      if (row.name !== "pg_count") {
        if (effectsOf.has(row.id)) violations.push(`job ${row.id} (${row.name}) has pg_count side effects`)
        continue
      }
      const { n } = unpack(row.params, "params") as { n: number }
      const done = new Set((effectsOf.get(row.id) ?? []).map((e) => e.item))
      if (row.status === "completed") {
        if (JSON.parse(row.output ?? "null")?.counted !== n)
          violations.push(`job ${row.id}: output ${row.output}, but n = ${n}`)
        if (row.state_version !== n)
          violations.push(`job ${row.id}: completed with ${row.state_version} checkpoints, n = ${n}`)
        for (let i = 0; i < n; i++)
          if (!done.has(i)) violations.push(`job ${row.id}: completed without ever doing item ${i}`)
      }
    }

    let takeovers = 0
    for (const jobs of cutShort.values()) takeovers += jobs.size
    const count = (status: string) => rows.filter((r) => r.status === status).length
    for (const e of commandErrors) violations.push(`a command failed: ${e}`)
    return {
      seed,
      kills,
      killsAt: killed,
      killsBeforeReady,
      gracefulStops,
      lives: lives.length,
      midRunKills: cutShort.size,
      takeovers,
      repeatedInFlight,
      jobs: rows.length,
      completed: count("completed"),
      failed: count("failed"),
      cancelled: count("cancelled"),
      stored,
      effects: effects.length,
      pauseOutcomes,
      commands: {
        pauses,
        resumes: [...resumes.values()].reduce((a, b) => a + b, 0),
        cancels: [...cancels.values()].reduce((a, b) => a + b, 0),
        held: held.size,
      },
      commandErrors,
      engineErrors,
      violations,
      seconds: Math.round((Date.now() - started) / 1000),
    }
  } finally {
    await admin.end()
  }
}
