import { createServer } from "node:net"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, startCli, type RunningCli } from "./cli.js"

const LONG = 120_000

const started: RunningCli[] = []
const start = (args: ReadonlyArray<string>) => {
  const running = startCli(args)
  started.push(running)
  return running
}

afterEach(async () => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
    await running.exited
  }
})

/** A port nothing listens on right now (the bridge needs a fixed one). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

describe("jobstate inspect", () => {
  it("keeps the bridge up after the demo ends, until Ctrl-C", { timeout: LONG }, async () => {
    const port = await freePort()
    const inspect = start(["-d", tempDir(), "inspect", "--port", String(port)])
    await waitUntil(
      () => /the bridge stays up/.test(inspect.stdout()) || inspect.child.exitCode !== null,
      LONG,
      "the demo to end",
    )
    expect(inspect.stdout()).toMatch(/^file_copy completed/m)
    // The demo is over, and a browser opening the printed URL now still gets the page.
    expect(inspect.child.exitCode).toBeNull()
    const page = await fetch(`http://127.0.0.1:${port}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain("<iframe")
    inspect.child.kill("SIGINT")
    const ended = await inspect.exited
    expect(ended.code, ended.stderr).toBe(0)
  })

  it("replays a recording as an offline timeline on 127.0.0.1", { timeout: LONG }, async () => {
    const events = join(tempDir(), "events.jsonl")
    const recorded = await cli("-d", tempDir(), "inspect", "--no-server", "--out", events)
    expect(recorded.code, recorded.stderr).toBe(0)
    expect(recorded.stdout).toContain(`jobstate inspect --replay ${events}`)

    const replay = start(["inspect", "--replay", events, "--port", "0"])
    const url = await waitUntil(
      () => /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(replay.stdout())?.[1],
      LONG,
      "the replay page",
    )
    const html = await (await fetch(url)).text()
    // Self-contained: nothing is loaded from another host.
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i)
    expect(html).toContain("<table")
    const rows = (await (await fetch(`${url}events.json`)).json()) as Array<{
      actor: string
      kind: string
      event: string
      state: string
    }>
    expect(rows.length).toBeGreaterThan(10)
    expect(rows[0]).toMatchObject({ kind: "actor", event: "(created)" })
    expect(rows.map((r) => r.actor)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^jobManager /),
        expect.stringMatching(/^file_copy:[0-9a-f-]{36} /),
      ]),
    )
    // The copy's story: paused by the demo, resumed, completed; each state is in the page too.
    const copyStates = rows.filter((r) => r.kind === "snapshot" && r.actor.startsWith("file_copy:")).map((r) => r.state)
    expect(copyStates).toEqual(expect.arrayContaining(["running.active", "running.pausing", "paused", "completed"]))
    for (const state of ["running.pausing", "paused", "completed"]) expect(html).toContain(`<td>${state}</td>`)

    replay.child.kill("SIGINT")
    expect((await replay.exited).code).toBe(0)
  })

  it("says what is wrong with a file that is not a recording", async () => {
    const file = join(tempDir(), "not-events.txt")
    const { writeFileSync } = await import("node:fs")
    writeFileSync(file, "hello\n")
    const { code, stderr } = await cli("inspect", "--replay", file)
    expect(code).toBe(2)
    expect(stderr.trim()).toBe(
      `jobstate: ${file}:1 is not an inspection event (JSON lines, as \`jobstate inspect --out\` writes)`,
    )
  })
})
