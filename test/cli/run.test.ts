import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { cli, readJobRow } from "./cli.js"

const smallTree = () => {
  const root = tempDir("jobstate-cli-tree-")
  for (const dir of ["a", "a/b", "c"]) mkdirSync(join(root, dir), { recursive: true })
  writeFileSync(join(root, "top.txt"), "top")
  writeFileSync(join(root, "a/one.txt"), "one")
  writeFileSync(join(root, "a/b/two.bin"), Buffer.alloc(4096, 7))
  writeFileSync(join(root, "c/three.txt"), "three")
  return root
}

const dispatchedId = (stderr: string) => /Dispatched \w+ job (\S+)/.exec(stderr)?.[1]

describe("jobstate run", () => {
  it("runs the indexer to completion, prints its output, and leaves it in the store", async () => {
    const dataDir = tempDir()
    const location = smallTree()
    const indexDb = join(tempDir(), "index.db")
    const params = JSON.stringify({ location, mode: "Content", indexDb })
    const run = await cli("-d", dataDir, "run", "indexer", "--params", params)
    expect(run.code, run.stderr).toBe(0)
    const output = JSON.parse(run.stdout)
    expect(output).toMatchObject({ totalFiles: 4, totalDirs: 3, totalBytes: 3 + 3 + 4096 + 5, errorCount: 0 })

    const id = dispatchedId(run.stderr)!
    const row = readJobRow(dataDir, id)!
    expect(row.status).toBe("completed")
    expect(row.name).toBe("indexer")
    expect(JSON.parse(row.output as string)).toEqual(output)

    const index = new Database(indexDb, { readonly: true, fileMustExist: true })
    try {
      const hashed = index
        .prepare("SELECT count(*) AS n FROM entries WHERE kind = 'file' AND hash IS NOT NULL")
        .get() as { n: number }
      expect(hashed.n).toBe(4)
    } finally {
      index.close()
    }

    const list = await cli("-d", dataDir, "list", "--json")
    expect(list.code).toBe(0)
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ id, name: "indexer", status: "completed", output }),
    ])
    const completed = await cli("-d", dataDir, "list", "--status", "completed", "--json")
    expect(JSON.parse(completed.stdout)).toHaveLength(1)
    const failed = await cli("-d", dataDir, "list", "--status", "failed", "--json")
    expect(JSON.parse(failed.stdout)).toEqual([])

    const show = await cli("-d", dataDir, "show", id.slice(0, 8), "--json")
    expect(show.code, show.stderr).toBe(0)
    const details = JSON.parse(show.stdout)
    expect(details).toMatchObject({
      id,
      status: "completed",
      attempts: 1,
      params: { location, mode: "Content", indexDb },
      output,
    })
    expect(details.state.phase).toBe("done")

    const logs = await cli("-d", dataDir, "logs", id)
    expect(logs.code).toBe(0)
    expect(logs.stdout).toContain(`Indexing ${location}`)
    expect(logs.stdout).toMatch(/INFO\s+Indexed 4 files and 3 directories/)

    // A finished job cannot be paused: the lifecycle machine says no, and so does the CLI.
    const pause = await cli("-d", dataDir, "pause", id)
    expect(pause.code).toBe(2)
    expect(pause.stderr.trim().split("\n")).toEqual([
      expect.stringContaining(`InvalidTransition: Cannot pause job ${id}: it is completed`),
    ])
  })

  it("indexes into index.db in the data dir when no indexDb is given", async () => {
    const dataDir = tempDir()
    const location = smallTree()
    const run = await cli("-d", dataDir, "run", "indexer", "-p", JSON.stringify({ location, mode: "Content" }))
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ totalFiles: 4, indexDb: join(dataDir, "index.db") })
    expect(existsSync(join(dataDir, "index.db"))).toBe(true)
  })

  it("exits 1 with the job's error when the job fails", async () => {
    const dataDir = tempDir()
    const params = JSON.stringify({
      location: join(tempDir(), "missing"),
      mode: "Metadata",
      indexDb: join(dataDir, "i.db"),
    })
    const run = await cli("-d", dataDir, "run", "indexer", "--params", params)
    expect(run.code).toBe(1)
    expect(run.stdout).toBe("")
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(
      /failed: \[IndexerError\] Cannot index: the location does not exist/,
    )
  })

  it("exits 1 when some files could not be copied, still printing the output", async () => {
    const dataDir = tempDir()
    const source = smallTree()
    execFileSync("mkfifo", [join(source, "c", "a-fifo")])
    const destination = join(tempDir(), "copy")
    const run = await cli(
      "-d",
      dataDir,
      "run",
      "file_copy",
      "--params",
      JSON.stringify({ sources: [source], destination }),
    )
    expect(run.code).toBe(1)
    expect(JSON.parse(run.stdout)).toMatchObject({ copiedCount: 4, failedCount: 1 })
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(
      /^jobstate: Job \S+ completed( in .*)?, but 1 item\(s\) failed \(first: .*a-fifo: .*\); see its output$/,
    )
    expect(readFileSync(join(destination, basename(source), "top.txt"), "utf8")).toBe("top")
  })

  it("copies one file to a new name, as cp does, and fails a copy of which nothing could be copied", async () => {
    const dataDir = tempDir()
    const source = smallTree()
    const renamed = join(tempDir(), "newname.txt")
    const run = await cli(
      "-d",
      dataDir,
      "run",
      "file_copy",
      "-p",
      JSON.stringify({ sources: [join(source, "top.txt")], destination: renamed }),
    )
    expect(run.code, run.stderr).toBe(0)
    expect(readFileSync(renamed, "utf8")).toBe("top")

    const fifo = join(tempDir(), "a-fifo")
    execFileSync("mkfifo", [fifo])
    const nothing = await cli(
      "-d",
      dataDir,
      "run",
      "file_copy",
      "-p",
      JSON.stringify({ sources: [fifo], destination: join(tempDir(), "out") }),
    )
    expect(nothing.code).toBe(1)
    expect(nothing.stdout).toBe("")
    expect(nothing.stderr.trim().split("\n").at(-1)).toMatch(
      /failed: \[FileCopyError\] No file could be copied: 1 failed, the first .*a-fifo/,
    )
  })

  it("refuses to copy a folder into itself, up front, with exit 1 and nothing written", async () => {
    const dataDir = tempDir()
    const source = smallTree()
    const run = await cli(
      "-d",
      dataDir,
      "run",
      "file_copy",
      "-p",
      JSON.stringify({ sources: [source], destination: join(source, "backup") }),
    )
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(
      /failed: \[FileCopyError\] Cannot copy a source into itself: the destination .*backup is inside the source/,
    )
    expect(existsSync(join(source, "backup"))).toBe(false)
  })

  it("reads params from a file", async () => {
    const dataDir = tempDir()
    const source = smallTree()
    const destination = join(tempDir(), "copy")
    const file = join(tempDir(), "params.json")
    writeFileSync(file, JSON.stringify({ sources: [join(source, "a")], destination, options: { verify: true } }))
    const run = await cli("-d", dataDir, "run", "file_copy", "--params-file", file, "--priority", "5")
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ copiedCount: 2, failedCount: 0, totalBytes: 3 + 4096 })
    expect(readJobRow(dataDir, dispatchedId(run.stderr)!)!.priority).toBe(5)
  })
})
