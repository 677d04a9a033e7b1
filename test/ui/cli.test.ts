import { request, type IncomingMessage } from "node:http"
import { describe, expect, it } from "vitest"
import { startCli } from "../cli/cli.js"
import { NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

describe("jobstate ui", () => {
  it("serves the page and its API for the store it is given, refuses a foreign Host, acts on jobs, and stops on Ctrl-C", async () => {
    const dataDir = tempDir()
    const { databaseUrl } = storeFor(dataDir)
    // An app's manager: it made the jobs and runs them; the ui process only looks and acts.
    const app = await openManager({ dataDir, concurrency: 2 })
    const done = await app.dispatch(NoopJob, { tag: "seen from the ui" })
    await done.result()
    const later = await app.dispatch(WaitJob, {}, { delayMs: 60_000 })

    const ui = startCli([
      "-d",
      dataDir,
      ...(databaseUrl === undefined ? [] : ["--database-url", databaseUrl]),
      "ui",
      "--port",
      "0",
    ])
    try {
      const origin = await waitUntil(
        () =>
          /Dashboard for .*: (http:\/\/127\.0\.0\.1:\d+)\//.exec(ui.stdout())?.[1] ??
          (ui.child.exitCode !== null ? "exited" : undefined),
        30_000,
        "the ui's address",
      )
      expect(origin, ui.stderr()).not.toBe("exited")

      const page = await fetch(`${origin}/`)
      expect(page.status).toBe(200)
      expect(await page.text()).toMatch(/<title>jobstate: .*<\/title>/)
      const list = (await (await fetch(`${origin}/api/jobs`)).json()) as { jobs: Array<{ id: string; status: string }> }
      expect(list.jobs.map((j) => [j.id, j.status])).toEqual([
        [later.id, "queued"],
        [done.id, "completed"],
      ])
      const overview = (await (await fetch(`${origin}/api/overview`)).json()) as { types: string[] }
      // Its own types are the built-in ones (more with --jobs); it lists every job whatever its type.
      expect(overview.types).toEqual(expect.arrayContaining(["file_copy", "indexer"]))

      // On loopback without a token, only loopback names may reach it (DNS rebinding).
      // (fetch sends the URL's own Host whatever it is given.)
      const foreign = await new Promise<IncomingMessage>((resolve) =>
        request(`${origin}/api/overview`, { headers: { host: "evil.example" } }, resolve).end(),
      )
      expect(foreign.statusCode).toBe(403)
      const cancelled = await fetch(`${origin}/api/jobs/${later.id}/cancel`, { method: "POST", headers: { origin } })
      expect(cancelled.status).toBe(200)
      expect((await app.getJobInfo(later.id)).status).toBe("cancelled")

      ui.child.kill("SIGINT")
      const exited = await ui.exited
      expect(exited.code, exited.stderr).toBe(0)
    } finally {
      if (ui.child.exitCode === null) ui.child.kill("SIGKILL")
    }
  })

  it("refuses a non-loopback address without a token unless told it is unsafe, and takes its token from JOBSTATE_UI_TOKEN", async () => {
    const dataDir = tempDir()
    const refused = await startCli(["-d", dataDir, "ui", "--port", "0", "--host", "0.0.0.0"]).exited
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /Refusing to serve the dashboard on 0\.0\.0\.0 without a token.*JOBSTATE_UI_TOKEN.*--unsafe-no-token/,
    )

    const guarded = startCli(["-d", dataDir, "ui", "--port", "0", "--host", "0.0.0.0"], {
      JOBSTATE_UI_TOKEN: "from-env",
    })
    try {
      const port = await waitUntil(
        () =>
          /:(\d+)\/\?token=…/.exec(guarded.stdout())?.[1] ?? (guarded.child.exitCode !== null ? "exited" : undefined),
        30_000,
        "the ui's port",
      )
      expect(port, guarded.stderr()).not.toBe("exited")
      expect((await fetch(`http://127.0.0.1:${port}/api/overview`)).status).toBe(401)
      expect(
        (await fetch(`http://127.0.0.1:${port}/api/overview`, { headers: { authorization: "Bearer from-env" } }))
          .status,
      ).toBe(200)
      expect(guarded.stderr()).not.toMatch(/visible to other users/)
    } finally {
      guarded.child.kill("SIGKILL")
    }

    const unsafe = startCli(["-d", dataDir, "ui", "--port", "0", "--host", "0.0.0.0", "--unsafe-no-token"])
    try {
      const port = await waitUntil(
        () =>
          /0\.0\.0\.0:(\d+)\//.exec(unsafe.stdout())?.[1] ?? (unsafe.child.exitCode !== null ? "exited" : undefined),
        30_000,
        "the ui's port",
      )
      expect(port, unsafe.stderr()).not.toBe("exited")
      await waitUntil(
        () => /without a token: anyone who reaches it can control your jobs/.test(unsafe.stderr()),
        10_000,
        "the warning",
      )
      expect((await fetch(`http://127.0.0.1:${port}/api/overview`)).status).toBe(200)
    } finally {
      unsafe.child.kill("SIGKILL")
    }
  })

  it("says clearly when its port is taken", async () => {
    const first = startCli(["-d", tempDir(), "ui", "--port", "0"])
    try {
      const port = await waitUntil(
        () => /127\.0\.0\.1:(\d+)\//.exec(first.stdout())?.[1],
        30_000,
        "the first ui's port",
      )
      const second = await startCli(["-d", tempDir(), "ui", "--port", port]).exited
      expect(second.code).not.toBe(0)
      expect(second.stderr).toMatch(new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`))
    } finally {
      first.child.kill("SIGKILL")
    }
  })
})
