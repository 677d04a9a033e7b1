import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { jobLifecycleMachine } from "../../src/index.js"
import { machineGraph } from "../../src/machines/machineGraph.js"
import { tempDir } from "../fixtures/tempDir.js"
import { cli, readJobRow, root } from "./cli.js"

/** A user error is reported on one line, without a stack trace. */
const expectOneLineError = (stderr: string, ...parts: string[]) => {
  const lines = stderr.trim().split("\n")
  expect(lines, stderr).toHaveLength(1)
  expect(stderr).not.toMatch(/^\s+at /m)
  for (const part of parts) expect(lines[0]).toContain(part)
}

describe("jobstate types, schema and viz", () => {
  it("prints its version", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
    for (const flag of ["--version", "-V"]) {
      const { code, stdout } = await cli(flag)
      expect(code).toBe(0)
      expect(stdout.trim()).toBe(version)
    }
  })

  it("says params objects are closed in the JSON Schema, nested ones too", async () => {
    const { stdout } = await cli("schema", "file_copy")
    const params = JSON.parse(stdout).params
    expect(params.additionalProperties).toBe(false)
    expect(params.properties.options.additionalProperties).toBe(false)
  })

  it("lists the builtin job types", async () => {
    const text = await cli("types")
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^file_copy\s/m)
    expect(text.stdout).toMatch(/^indexer\s/m)
    const json = await cli("types", "--json")
    expect(JSON.parse(json.stdout).map((t: { name: string }) => t.name)).toEqual(["file_copy", "indexer"])
  })

  it("prints the JSON Schemas of file_copy's params, output and progress", async () => {
    const { code, stdout } = await cli("schema", "file_copy")
    expect(code).toBe(0)
    const schema = JSON.parse(stdout)
    expect(schema.name).toBe("file_copy")
    expect(schema.params.type).toBe("object")
    expect(schema.params.required).toEqual(expect.arrayContaining(["sources", "destination"]))
    expect(schema.output.properties).toHaveProperty("copiedCount")
    expect(schema.progress.properties).toHaveProperty("bytesDone")
  })

  it("draws every lifecycle state and transition in the Mermaid diagram", async () => {
    const { code, stdout } = await cli("viz", "--format", "mermaid")
    expect(code).toBe(0)
    expect(stdout.split("\n")[0]).toBe("stateDiagram-v2")
    const graph = machineGraph(jobLifecycleMachine)
    for (const state of graph.states.filter((s) => s.parent !== null))
      expect(stdout).toMatch(new RegExp(`\\b${state.key}\\b`))
    for (const event of [
      "START",
      "PAUSE",
      "RESUME",
      "CANCEL",
      "REQUEUE",
      "RETRY",
      "WORKER.DONE",
      "WORKER.PAUSED",
      "WORKER.FAILED",
    ])
      expect(stdout).toContain(`: ${event}`)
    // Only completed is final: a failed or cancelled job may be retried.
    expect(stdout).toContain("completed --> [*]")
    for (const atRest of ["failed", "cancelled"]) expect(stdout).not.toContain(`${atRest} --> [*]`)
    expect(stdout).toContain("state jobManager {")
  })

  it("prints the machines as Graphviz and as JSON", async () => {
    const dot = await cli("viz", "--format", "dot", "--machine", "job")
    expect(dot.code).toBe(0)
    expect(dot.stdout).toMatch(/^digraph jobstate \{/)
    expect(dot.stdout).toContain('"job.running.pausing" -> "job.paused" [label="WORKER.PAUSED"]')
    const json = await cli("viz", "--format", "json")
    const graphs = JSON.parse(json.stdout) as Array<{ id: string; states: Array<{ key: string }> }>
    expect(graphs.map((g) => g.id)).toEqual(["job", "jobManager"])
    expect(graphs[0]!.states.map((s) => s.key)).toEqual(
      expect.arrayContaining(["queued", "running", "paused", "completed", "failed", "cancelled"]),
    )
  })
})

describe("bad input", () => {
  it("names the known types when the type is unknown", async () => {
    const { code, stderr } = await cli("-d", tempDir(), "run", "copy_files", "--params", "{}")
    expect(code).toBe(2)
    expectOneLineError(stderr, "UnknownJobType", '"copy_files"', "file_copy, indexer")
  })

  it("shows the failing paths of invalid params, and stores nothing", async () => {
    const dataDir = tempDir()
    const { code, stderr } = await cli(
      "-d",
      dataDir,
      "run",
      "indexer",
      "--params",
      '{"location":7,"mode":"Everything"}',
    )
    expect(code).toBe(2)
    expectOneLineError(stderr, "InvalidParams", "mode:", "location:")
    expect((await cli("-d", dataDir, "list", "--json")).stdout.trim()).toBe("[]")
  })

  it("rejects params that are not JSON", async () => {
    const { code, stderr } = await cli("-d", tempDir(), "run", "indexer", "--params", "{location:")
    expect(code).toBe(2)
    expectOneLineError(stderr, "--params is not valid JSON")
  })

  it("reports an unknown job id for show, logs, pause, resume and cancel", async () => {
    const dataDir = tempDir()
    for (const command of ["show", "logs", "pause", "resume", "cancel"]) {
      const { code, stderr } = await cli("-d", dataDir, command, "no-such-job")
      expect(code, command).toBe(2)
      expectOneLineError(stderr, "JobNotFound", "no-such-job")
    }
  })

  it("reports an unknown command, option or status on one line", async () => {
    const unknownCommand = await cli("frobnicate")
    expect(unknownCommand.code).toBe(2)
    expectOneLineError(unknownCommand.stderr, "unknown command 'frobnicate'")
    const badStatus = await cli("-d", tempDir(), "list", "--status", "sleeping")
    expect(badStatus.code).toBe(2)
    expectOneLineError(badStatus.stderr, "sleeping", "queued, running, paused")
    const badPriority = await cli("-d", tempDir(), "run", "indexer", "--priority", "highest")
    expect(badPriority.code).toBe(2)
    expectOneLineError(badPriority.stderr, "--priority must be an integer or one of low, normal, high, critical")
  })

  it("takes the priority names the help lists, in any case, and integers", async () => {
    const dataDir = tempDir()
    for (const [given, stored] of [
      ["high", 1],
      ["CRITICAL", 10],
      ["Low", -1],
      ["normal", 0],
      ["-7", -7],
    ] as const) {
      const run = await cli(
        "-d",
        dataDir,
        "run",
        "file_copy",
        "--detach",
        "--priority",
        given,
        "--params",
        JSON.stringify({ sources: [], destination: dataDir }),
      )
      expect(run.code, run.stderr).toBe(0)
      expect(readJobRow(dataDir, run.stdout.trim())!.priority, given).toBe(stored)
    }
  })

  it("rejects a key the params schema does not declare, at any depth, and touches nothing", async () => {
    const dataDir = tempDir()
    const source = join(tempDir(), "a.txt")
    writeFileSync(source, "new")
    const destination = tempDir()
    writeFileSync(join(destination, "a.txt"), "old")
    const params = { sources: [source], destination, options: { confict: "overwrite" } }
    const { code, stderr } = await cli("-d", dataDir, "run", "file_copy", "--params", JSON.stringify(params))
    expect(code).toBe(2)
    expectOneLineError(stderr, "InvalidParams", "options.confict")
    expect(readFileSync(join(destination, "a.txt"), "utf8")).toBe("old")
    expect(existsSync(join(dataDir, "jobs.db"))).toBe(false)
  })

  it("says a data dir that is a file is not a directory, for every command, with exit 2", async () => {
    const file = join(tempDir(), "not-a-dir")
    writeFileSync(file, "")
    for (const args of [
      ["list"],
      ["watch"],
      ["run", "file_copy", "--params", JSON.stringify({ sources: [], destination: tempDir() })],
      ["worker"],
    ]) {
      const { code, stderr } = await cli("-d", file, ...args)
      expect(code, args[0]).toBe(2)
      expectOneLineError(stderr, `The data dir ${file} is not a directory`)
    }
    // A path below a file cannot be one either.
    const below = await cli("-d", join(file, "jobs"), "list")
    expect(below.code).toBe(2)
    expectOneLineError(below.stderr, "is not a directory")
  })

  it("says a data dir that does not exist is not there (a typo is not an empty store), and creates nothing", async () => {
    const dataDir = `${tempDir()}/absent`
    const { code, stderr } = await cli("-d", dataDir, "list", "--json")
    expect(code).toBe(2)
    expect(stderr).toContain(`No data dir at ${dataDir}`)
    expect(existsSync(dataDir)).toBe(false)
  })
})
