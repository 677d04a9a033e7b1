import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root } from "./cli/cli.js"
import { tempDir } from "./fixtures/tempDir.js"

/** The environment of a child npm: none of the npm_* variables of an `npm test` that runs this. */
const npmEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")))

const npm = (cwd: string, ...args: string[]) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", env: npmEnv(), stdio: ["ignore", "pipe", "pipe"] })

describe("the built package", () => {
  it("is importable as `jobstate` from plain Node, without tsx, and runs a job", () => {
    const dataDir = tempDir()
    const app = `
      import { Effect, Schema } from "effect"
      import { defineJob, JobManager } from "jobstate"
      const Hello = defineJob({ name: "hello", params: Schema.Struct({ who: Schema.String }), output: Schema.String,
        run: (ctx) => Effect.succeed("hello " + ctx.params.who) })
      const manager = await JobManager.open({ dataDir: ${JSON.stringify(dataDir)}, jobs: [Hello] })
      const handle = await manager.dispatch(Hello, { who: "plain node" })
      console.log(await handle.result())
      await manager.close()`
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", app], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    })
    expect(result.stderr).toBe("")
    expect(result.stdout.trim()).toBe("hello plain node")
  })

  it("has the entries jobstate/builtin and jobstate/dashboard, which `jobstate` does not export", () => {
    const app = `
      const main = await import("jobstate")
      const builtin = await import("jobstate/builtin")
      const dashboard = await import("jobstate/dashboard")
      console.log(JSON.stringify({
        builtin: Object.keys(builtin).sort(), names: [builtin.FileCopyJob.name, builtin.IndexerJob.name],
        dashboard: Object.keys(dashboard), inMain: ["FileCopyJob", "IndexerJob", "dashboard"].filter((k) => k in main) }))`
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", app], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    })
    expect(result.stderr).toBe("")
    expect(JSON.parse(result.stdout)).toEqual({
      builtin: ["FileCopyJob", "IndexerJob"],
      names: ["file_copy", "indexer"],
      dashboard: ["dashboard"],
      inMain: [],
    })
  })
})

describe("the packed tarball", () => {
  it("ships dist and no tests; installs into a fresh app beside the app's own effect; runs a Schema.Struct({}) job from plain Node; serves the dashboard", {
    timeout: 300_000,
  }, () => {
    const work = tempDir("jobstate-pack-")
    // Scripts are not run: the test setup has just built dist/, which is what `prepare` would do.
    const [packed] = JSON.parse(npm(root, "pack", "--ignore-scripts", "--json", "--pack-destination", work)) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>
    const files = packed!.files.map((f) => f.path)
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        "README.md",
        "LICENSE",
        "bin/jobstate.js",
        "dist/index.js",
        "dist/index.d.ts",
        "dist/cli/main.js",
        "dist/testing/index.js",
        "dist/testing/index.d.ts",
        "dist/builtin/index.js",
        "dist/builtin/index.d.ts",
        "dist/ui/index.js",
        "dist/ui/index.d.ts",
      ]),
    )
    // The dashboard's page ships with it (read from src/ui/static by dist/ui/staticAssets.js).
    expect(files).toEqual(
      expect.arrayContaining([
        "dist/ui/dashboard.js",
        "src/ui/static/index.html",
        "src/ui/static/app.js",
        "src/ui/static/style.css",
      ]),
    )
    expect(
      files.filter(
        (f) => /^(test|bench|scripts|examples)\//.test(f) || f.startsWith("tsconfig") || f.startsWith("vitest"),
      ),
    ).toEqual([])

    const app = join(work, "app")
    mkdirSync(app)
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }),
    )
    // The app's own effect, as an app that uses Effect has it; jobstate must use that one.
    npm(
      app,
      "install",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      join(work, packed!.filename),
      "effect@4.1.0",
    )
    // better-sqlite3's install script compiles its addon (minutes, and a compiler); the addon this
    // repository built is the same file for the same version and Node.
    const addon = join("node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node")
    mkdirSync(join(app, addon, ".."), { recursive: true })
    copyFileSync(join(root, addon), join(app, addon))

    // One copy of effect and of xstate (peer dependencies), and nothing only the CLI's extras need.
    expect(existsSync(join(app, "node_modules/jobstate/node_modules/effect"))).toBe(false)
    expect(existsSync(join(app, "node_modules/jobstate/node_modules/xstate"))).toBe(false)
    expect(existsSync(join(app, "node_modules/xstate"))).toBe(true)
    for (const extra of ["tsx", "esbuild", "@statelyai/inspect"])
      expect(existsSync(join(app, "node_modules", extra)), extra).toBe(false)

    const dataDir = join(work, "data")
    writeFileSync(
      join(app, "main.js"),
      `import { Effect, Schema } from "effect"
      import { defineJob, JobManager } from "jobstate"
      const Ping = defineJob({ name: "ping", params: Schema.Struct({}), output: Schema.String, run: () => Effect.succeed("pong") })
      const manager = await JobManager.open({ dataDir: ${JSON.stringify(dataDir)}, jobs: [Ping] })
      const byValue = await (await manager.dispatch(Ping, {})).result()
      const byName = await (await manager.dispatchByName("ping", {})).result()
      const typo = await manager.dispatchByName("ping", { extra: 1 }).then(() => "accepted", (e) => e._tag)
      const { runJob } = await import("jobstate/testing")
      const tested = (await runJob(Ping, {})).output
      const { FileCopyJob, IndexerJob } = await import("jobstate/builtin")
      const builtin = [FileCopyJob.name, IndexerJob.name]
      const { dashboard } = await import("jobstate/dashboard")
      const { createServer } = await import("node:http")
      const server = createServer(dashboard(manager)).listen(0, "127.0.0.1")
      await new Promise((resolve) => server.once("listening", resolve))
      const reply = await fetch("http://127.0.0.1:" + server.address().port + "/")
      const page = reply.status + " " + (await reply.text()).startsWith("<!DOCTYPE html>")
      await new Promise((resolve) => server.close(resolve))
      console.log(JSON.stringify({ byValue, byName, typo, tested, builtin, page }))
      await manager.close()`,
    )
    const run = spawnSync(process.execPath, ["main.js"], {
      cwd: app,
      encoding: "utf8",
      env: { ...npmEnv(), NODE_OPTIONS: "" },
    })
    expect(run.stderr).toBe("")
    expect(JSON.parse(run.stdout)).toEqual({
      byValue: "pong",
      byName: "pong",
      typo: "InvalidParams",
      tested: "pong",
      builtin: ["file_copy", "indexer"],
      page: "200 true",
    })

    // The installed CLI starts without tsx and the inspector, and says what to install for them.
    const bin = join(app, "node_modules", ".bin", "jobstate")
    const version = spawnSync(bin, ["--version"], { cwd: app, encoding: "utf8", env: npmEnv() })
    expect(version.stdout.trim()).toBe(JSON.parse(npm(root, "pkg", "get", "version")))
    const list = spawnSync(bin, ["-d", dataDir, "list", "--json"], { cwd: app, encoding: "utf8", env: npmEnv() })
    expect(list.status, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout)).toHaveLength(2)
    const inspect = spawnSync(bin, ["-d", dataDir, "inspect", "--no-server", "--out", join(work, "events.jsonl")], {
      cwd: app,
      encoding: "utf8",
      env: npmEnv(),
    })
    expect(inspect.status).toBe(2)
    expect(inspect.stderr.trim()).toBe(
      "jobstate: jobstate inspect needs @statelyai/inspect, an optional peer dependency of jobstate: npm install @statelyai/inspect",
    )
    const tsJobs = join(app, "jobs.ts")
    writeFileSync(tsJobs, "export {}\n")
    const types = spawnSync(bin, ["--jobs", tsJobs, "types"], { cwd: app, encoding: "utf8", env: npmEnv() })
    expect(types.status).toBe(2)
    expect(types.stderr).toContain("needs tsx, an optional peer dependency of jobstate: npm install tsx")
  })
})
