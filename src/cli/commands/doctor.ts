import { existsSync } from "node:fs"
import { join } from "node:path"
import type { Command } from "commander"
import { toJobInfo } from "../../actors/JobInfo.js"
import { Owners } from "../../actors/owners.js"
import type { JobStore } from "../../persistence/JobStore.js"
import { openStore } from "../../persistence/openStore.js"
import { ExitCode } from "../errors.js"
import { storeOf, whereOf } from "../options.js"
import { formatCount } from "../render.js"

type Level = "ok" | "warn" | "fail"

interface Finding {
  readonly check: "open" | "schema" | "integrity" | "managers" | "stalled" | "waiting"
  readonly level: Level
  readonly message: string
}

/** How many ids a finding names before it says "…". */
const SHOWN = 5

const ago = (ms: number) =>
  ms < 120_000
    ? `${Math.round(ms / 1000)} s`
    : ms < 7_200_000
      ? `${Math.round(ms / 60_000)} min`
      : `${(ms / 3_600_000).toFixed(1)} h`

const listed = (ids: ReadonlyArray<string>) =>
  `${ids.slice(0, SHOWN).join(", ")}${ids.length > SHOWN ? `, … (${ids.length})` : ""}`

/** What the store says about itself, each finding ok, a warning (work waits), or a failure (the store cannot be used as it is). */
const examine = async (store: JobStore): Promise<Finding[]> => {
  const findings: Finding[] = []
  const check = await store.check()
  const { schemaVersion: has, latestSchemaVersion: latest } = check
  findings.push(
    has === latest
      ? { check: "schema", level: "ok", message: `schema version ${has}, the one this jobstate writes` }
      : {
          check: "schema",
          level: "warn",
          message: `schema version ${has}; this jobstate writes ${latest}: the next worker to open it migrates it`,
        },
  )
  findings.push(
    check.integrity === undefined
      ? { check: "integrity", level: "ok", message: "the server checks its own pages (no check of jobstate's to run)" }
      : check.integrity.length === 0
        ? { check: "integrity", level: "ok", message: "integrity_check: ok" }
        : {
            check: "integrity",
            level: "fail",
            message: `integrity_check found ${check.integrity.length} problem(s): ${check.integrity.slice(0, SHOWN).join("; ")}`,
          },
  )
  const leases = await store.leases()
  const owners = new Owners(leases, null)
  const live = leases.filter((l) => owners.isLive(l.id))
  const dead = owners.deadOwners()
  const now = Date.now()
  const describe = (l: (typeof leases)[number]) =>
    `${l.id.slice(0, 8)} (${l.host} pid ${l.pid}, ${l.types.length === 0 ? "producer" : l.types.join(" ")})`
  findings.push({
    check: "managers",
    level: "ok",
    message: live.length === 0 ? "no live manager" : `${live.length} live manager(s): ${live.map(describe).join("; ")}`,
  })
  if (dead.length > 0) {
    findings.push({
      check: "managers",
      level: "warn",
      message: `${dead.length} manager(s) gone: ${dead.map((d) => `${describe(d.lease)}, ${d.reason}${d.reason === "lease expired" ? ` ${ago(now - d.lease.expiresAt)} ago` : ""}`).join("; ")}`,
    })
  }
  const running = await store.listJobs({ status: "running" })
  const stalled = running.filter((row) => toJobInfo(row, owners).stalled !== null)
  findings.push(
    stalled.length === 0
      ? { check: "stalled", level: "ok", message: `no stalled job (${running.length} running)` }
      : {
          check: "stalled",
          level: "warn",
          message: `${stalled.length} stalled job(s), running under a manager that is gone: ${listed(stalled.map((r) => r.id))}; a worker of their type resumes them from their last checkpoint (jobstate worker, or jobstate resume --wait <id>)`,
        },
  )
  const queued = (await store.countJobs()).filter((c) => c.status === "queued")
  const waiting = queued.filter((c) => !owners.runsType(c.name))
  findings.push(
    waiting.length > 0
      ? {
          check: "waiting",
          level: "warn",
          message: `queued jobs no live manager runs: ${waiting.map((c) => `${formatCount(c.count)} ${c.name}`).join(", ")}; start a worker of their type`,
        }
      : {
          check: "waiting",
          level: "ok",
          message: queued.length === 0 ? "no job queued" : "every queued job's type has a live worker",
        },
  )
  return findings
}

/**
 * `jobstate doctor`: the store's health, for an operator: whether it opens, its schema version,
 * its own integrity check (SQLite), the managers' leases, stalled jobs, and queued jobs no worker
 * runs. Read-only. Exit 1 when something fails (the store cannot be opened, is damaged or newer
 * than this jobstate); warnings (work that waits) exit 0.
 */
export const registerDoctorCommand = (program: Command) => {
  program
    .command("doctor")
    .description("check the store's health: opens, schema version, integrity, managers' leases, stalled jobs")
    .option("--json", "print JSON: { store, ok, findings: [{ check, level, message }] }")
    .action(async (options: { json?: boolean }, command: Command) => {
      const where = storeOf(command)
      const findings: Finding[] = []
      if (where.databaseUrl === undefined && !existsSync(join(where.dataDir, "jobs.db"))) {
        findings.push({
          check: "open",
          level: "fail",
          message: `no store at ${join(where.dataDir, "jobs.db")} (give --data-dir or --database-url)`,
        })
      } else {
        let store: JobStore | undefined
        try {
          store = await openStore({ ...where, readOnly: true })
          findings.push({ check: "open", level: "ok", message: `opened ${store.location} read-only` })
          findings.push(...(await examine(store)))
        } catch (error) {
          findings.push({ check: "open", level: "fail", message: `cannot use the store: ${(error as Error).message}` })
        } finally {
          await store?.close()
        }
      }
      const ok = findings.every((f) => f.level !== "fail")
      if (options.json) process.stdout.write(`${JSON.stringify({ store: whereOf(where), ok, findings }, null, 2)}\n`)
      else {
        process.stdout.write(`Store: ${whereOf(where)}\n`)
        for (const f of findings) process.stdout.write(`  ${f.level.padEnd(4)}  ${f.message}\n`)
      }
      if (!ok) process.exitCode = ExitCode.Failed
    })
}
