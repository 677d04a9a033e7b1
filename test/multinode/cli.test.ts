import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root } from "../cli/cli.js"
import { usePostgres } from "../fixtures/postgres.js"
import { startProcess, stopProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { effectProblems, installAudit, readEffects, readManagerPids, schemaUrl } from "./audit.js"

const db = usePostgres()
const workerScript = join(import.meta.dirname, "pgWorker.ts")
const pgJobsModule = join(import.meta.dirname, "pgJobs.ts")
// Generous: every step spawns a process, and a loaded CI machine may take seconds for each.
const LONG = 90_000

interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The real CLI (`node bin/jobstate.js …`, from dist/) as CI runs it, with only the environment given here. */
const cli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<CliResult> => {
  const base: NodeJS.ProcessEnv = { ...process.env, CI: "true" }
  delete base.JOBSTATE_DATA_DIR
  delete base.JOBSTATE_DATABASE_URL
  const child = spawn(process.execPath, ["bin/jobstate.js", ...args], { cwd: root, env: { ...base, ...env } })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })))
}

describe("the CLI controls a job that a worker in another process runs on PostgreSQL", () => {
  it("dispatch, pause, show, list, resume and cancel with --database-url: statuses as asked, nothing redone", {
    timeout: 10 * LONG,
  }, async () => {
    const schema = db.freshSchema()
    await installAudit(db.url, schema)
    const url = schemaUrl(db.url, schema)
    const dataDir = tempDir()
    const pg = ["-d", dataDir, "--database-url", url]
    const row = async (id: string) =>
      (
        await db.admin<{
          status: string
          paused_by: string | null
          state_version: number
          attempts: number
          owner: string | null
        }>(`SELECT status, paused_by, state_version, attempts, owner FROM "${schema}".jobs WHERE id = $1`, [id])
      )[0]!
    const effectCount = async (id: string) => (await readEffects(db.admin, schema, id)).length

    const worker = await startProcess(workerScript, [
      url,
      tempDir(),
      JSON.stringify({ concurrency: 2, leaseMs: 2_000 }),
    ])

    // Dispatched by the CLI (a producer that runs nothing), run by the worker.
    const run = await cli([
      ...pg,
      "--jobs",
      pgJobsModule,
      "run",
      "pg_count",
      "--detach",
      "--params",
      JSON.stringify({ n: 5_000, delayMs: 20 }),
    ])
    expect(run.code, run.stderr).toBe(0)
    const id = run.stdout.trim()
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    await waitUntil(async () => (await effectCount(id)) >= 3, LONG, "the worker to run the job")

    // pause: the CLI leaves the command on the row, the worker applies it, the CLI waits for it.
    const pause = await cli([...pg, "pause", id])
    expect(pause.code, pause.stderr).toBe(0)
    expect(pause.stdout).toContain(`Job ${id} is paused`)
    const paused = await row(id)
    expect(paused).toMatchObject({ status: "paused", paused_by: "user", owner: null })
    const k = paused.state_version
    expect(k).toBeGreaterThanOrEqual(3)
    // It stopped at a checkpoint: every item done is checkpointed.
    expect(await effectCount(id)).toBe(k)

    // show (by an id prefix) and list read the same database; list gets its URL from JOBSTATE_DATABASE_URL.
    const show = await cli([...pg, "show", id.slice(0, 8), "--json"])
    expect(show.code, show.stderr).toBe(0)
    const shown = JSON.parse(show.stdout)
    expect(shown).toMatchObject({
      id,
      name: "pg_count",
      status: "paused",
      pausedBy: "user",
      checkpoints: k,
      params: { n: 5_000, delayMs: 20 },
      state: { next: k },
    })
    const list = await cli(["-d", dataDir, "list", "--json"], { JOBSTATE_DATABASE_URL: url })
    expect(list.code, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id, status: "paused" })])

    // Paused means nothing runs: the worker (polling every 100 ms, and told by NOTIFY) leaves it alone.
    await new Promise((r) => setTimeout(r, 1_500))
    expect(await row(id)).toMatchObject({ status: "paused", state_version: k })
    expect(await effectCount(id)).toBe(k)

    // resume: queued again at once, and the worker carries on from checkpoint k.
    const resume = await cli([...pg, "resume", id])
    expect(resume.code, resume.stderr).toBe(0)
    expect(resume.stdout).toMatch(new RegExp(`Job ${id} is (queued|running)`))
    expect(resume.stdout).not.toContain("No worker")
    await waitUntil(async () => (await effectCount(id)) >= k + 3, LONG, "the worker to resume the job")
    expect((await row(id)).attempts).toBe(2)

    // cancel: the running job stops at its next interrupt point, and stays cancelled.
    const cancel = await cli([...pg, "cancel", id])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toContain(`Job ${id} is cancelled`)
    const cancelled = await row(id)
    expect(cancelled).toMatchObject({ status: "cancelled", owner: null })
    const done = await effectCount(id)
    await new Promise((r) => setTimeout(r, 1_000))
    expect(await effectCount(id), "nothing runs after the cancel").toBe(done)

    const again = await cli([...pg, "pause", id])
    expect(again.code).toBe(2)
    expect(again.stderr.trim().split("\n")).toHaveLength(1)

    const text = await cli([...pg, "show", id])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/status\s+cancelled/)
    const logs = await cli([...pg, "logs", id])
    expect(logs.code, logs.stderr).toBe(0)
    expect(logs.stdout).toContain(`resumed from checkpoint ${k}`)

    // Every item once, in order, by the worker while it owned the job, each at its committed checkpoint.
    const effects = await readEffects(db.admin, schema, id)
    expect(effectProblems(effects, await readManagerPids(db.admin, schema))).toEqual([])
    expect(new Set(effects.map((e) => e.pid))).toEqual(new Set([worker.pid]))
    expect(effects.length).toBe(cancelled.state_version)

    expect(await stopProcess(worker, "SIGTERM"), "the worker closes gracefully").toBe(0)
  })
})
