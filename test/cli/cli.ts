import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"
import { join } from "node:path"

/** The repository root: the CLI runs from there, as `npx jobstate` would. */
export const root = fileURLToPath(new URL("../..", import.meta.url))

/** `--jobs` module with the test-only `gate` job type. */
export const gateJobs = join(root, "test/cli/fixtures/gateJob.ts")

/** `--jobs` module with the machine jobs of the engine's tests: `order` (a machine job) and `ship` (its child). */
export const machineJobs = join(root, "test/fixtures/machineJobs.ts")

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<CliResult>
}

/** Starts the real CLI (`node bin/jobstate.js ...`) with CI=true, as CI runs it. */
export const startCli = (args: ReadonlyArray<string>, extraEnv: NodeJS.ProcessEnv = {}): RunningCli => {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: "true", ...extraEnv }
  delete env.JOBSTATE_DATA_DIR // every test names its own data dir
  const child = spawn(process.execPath, ["bin/jobstate.js", ...args], { cwd: root, env })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })))
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Runs the CLI to its end. */
export const cli = (...args: ReadonlyArray<string>): Promise<CliResult> => startCli(args).exited

/** Runs the CLI to its end with `input` on its stdin. */
export const cliWithInput = (input: string, ...args: ReadonlyArray<string>): Promise<CliResult> => {
  const running = startCli(args)
  running.child.stdin.end(input)
  return running.exited
}

/** A row of the jobs table, read the way any other program would: a separate read-only connection. */
export const readJobRow = (dataDir: string, id: string): Record<string, unknown> | undefined => {
  const db = new Database(join(dataDir, "jobs.db"), { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as Record<string, unknown> | undefined
  } finally {
    db.close()
  }
}
