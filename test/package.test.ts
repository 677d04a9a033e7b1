import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { tempDir } from "./fixtures/tempDir.js"

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
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", app], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } })
    expect(result.stderr).toBe("")
    expect(result.stdout.trim()).toBe("hello plain node")
  })
})
