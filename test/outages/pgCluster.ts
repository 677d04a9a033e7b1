/**
 * A PostgreSQL cluster of the fault suite's own (Debian's `pg_createcluster`), on port 5433, that
 * the tests restart, stop and start at will without disturbing the server the rest of the tests
 * use. Created on first use (trust auth, user postgres), dropped by `drop()`. Needs root (CI is).
 */
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { promisify } from "node:util"
import pg from "pg"

const run = promisify(execFile)
const NAME = "jobstate_faults"
const PORT = Number(process.env.JOBSTATE_FAULTS_PG_PORT ?? 5433)
const version = (): string => {
  const versions = readdirSync("/etc/postgresql").filter((v) => /^\d+$/.test(v))
  if (versions.length === 0)
    throw new Error("the fault suite needs PostgreSQL's server packages (/etc/postgresql is empty)")
  return versions.sort((a, b) => Number(a) - Number(b)).at(-1)!
}

export const clusterUrl = `postgres://postgres@127.0.0.1:${PORT}/postgres`

const ctl = (...args: string[]) => run("pg_ctlcluster", ["--skip-systemctl-redirect", version(), NAME, ...args])

const exists = async (): Promise<boolean> => {
  const { stdout } = await run("pg_lsclusters", ["--no-header"])
  return stdout.split("\n").some((line) => line.trim().split(/\s+/)[1] === NAME)
}

const answers = async (): Promise<boolean> => {
  const client = new pg.Client({ connectionString: clusterUrl, connectionTimeoutMillis: 2_000 })
  client.on("error", () => undefined)
  try {
    await client.connect()
    await client.query("SELECT 1")
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

const waitUp = async () => {
  for (let i = 0; i < 150; i++) {
    if (await answers()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`the fault suite's cluster on port ${PORT} did not come up`)
}

export const faultCluster = {
  /** Creates the cluster if needed, starts it if it is down, and waits until it answers. */
  async up(): Promise<void> {
    if (!(await exists())) {
      await run("pg_createcluster", [
        version(),
        NAME,
        "--port",
        String(PORT),
        "--",
        "--auth-local=trust",
        "--auth-host=trust",
      ])
    }
    if (!(await answers())) await ctl("start").catch(() => undefined)
    await waitUp()
  },
  /** A server restart: `fast` ends every session, as an operator's restart does; `immediate`, as a crash does. */
  async restart(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await ctl("restart", "-m", mode)
    await waitUp()
  },
  async stop(mode: "fast" | "immediate" = "immediate"): Promise<void> {
    await ctl("stop", "-m", mode)
  },
  async start(): Promise<void> {
    await ctl("start")
    await waitUp()
  },
  /** `pg_terminate_backend` of every other session of `database`; how many it ended. */
  async terminateBackends(database: string): Promise<number> {
    const client = new pg.Client({ connectionString: clusterUrl })
    client.on("error", () => undefined)
    await client.connect()
    try {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        [database],
      )
      return rows[0]!.n
    } finally {
      await client.end()
    }
  },
  async drop(): Promise<void> {
    if (await exists()) await run("pg_dropcluster", ["--stop", version(), NAME])
  },
}
