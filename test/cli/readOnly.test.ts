import { spawnSync } from "node:child_process"
import { chmodSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { InvalidOptions, JobManager } from "../../src/index.js"
import { NoopJob, allTestJobs } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli, root } from "./cli.js"

const isRoot = process.getuid?.() === 0
const NOBODY = 65534

/** The CLI as a user who may read the data dir but not write it (as root, the user `nobody`). */
const cliReadOnly = (dataDir: string, ...args: string[]) => {
  if (isRoot) chmodSync(dataDir, 0o755)
  else chmodSync(dataDir, 0o555)
  const result = spawnSync(process.execPath, ["bin/jobstate.js", "-d", dataDir, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, CI: "true", HOME: "/tmp" },
    ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("read-only commands", () => {
  it("list, show and logs work on a data dir they cannot write", async () => {
    const dataDir = tempDir()
    const manager = await JobManager.open({ dataDir, jobs: allTestJobs })
    const handle = await manager.dispatch(NoopJob, { tag: "ro" })
    await handle.result()
    await manager.close()
    for (const args of [["list"], ["show", handle.id], ["logs", handle.id]]) {
      const result = cliReadOnly(dataDir, ...args)
      expect(result.code, `${args[0]}: ${result.stderr}`).toBe(0)
      expect(result.stderr).not.toContain("readonly")
    }
    expect(cliReadOnly(dataDir, "list").stdout).toContain(handle.id)
    // What must write says why it cannot, in words.
    const run = cliReadOnly(
      dataDir,
      "run",
      "indexer",
      "-p",
      JSON.stringify({ location: dataDir, mode: "Metadata", indexDb: "/tmp/ro-index.db" }),
    )
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("is read-only for this user: commands that only look (list, show, logs, watch) work")
  })

  it("names every job an ambiguous id prefix matches", async () => {
    const dataDir = tempDir()
    let n = 0
    const manager = await JobManager.open({
      dataDir,
      jobs: allTestJobs,
      concurrency: 0,
      generateId: () => `abcd-${n++}`,
    })
    await manager.dispatch(NoopJob, { tag: "a" })
    await manager.dispatch(NoopJob, { tag: "b" })
    await manager.close()
    const result = await cli("-d", dataDir, "show", "abcd")
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("ambiguous")
    expect(result.stderr).toContain("abcd-0")
    expect(result.stderr).toContain("abcd-1")
  })
})

describe("JobManager.open", () => {
  it("rejects a missing dataDir with a typed error naming it", async () => {
    const error = await JobManager.open({ jobs: allTestJobs } as never).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidOptions)
    expect(error).toMatchObject({ _tag: "InvalidOptions", option: "dataDir" })
  })

  it("rejects a negative concurrency and a databaseUrl that is not PostgreSQL", async () => {
    await expect(JobManager.open({ dataDir: tempDir(), jobs: allTestJobs, concurrency: -1 })).rejects.toMatchObject({
      option: "concurrency",
    })
    await expect(
      JobManager.open({ dataDir: tempDir(), jobs: allTestJobs, databaseUrl: "mysql://x" }),
    ).rejects.toMatchObject({ option: "databaseUrl" })
  })
})
