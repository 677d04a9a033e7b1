import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { followJobs } from "../../src/cli/followJobs.js"
import { createProgressView, type ProgressView } from "../../src/cli/render.js"
import { defineJob, Progress } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { waitUntil } from "../fixtures/waitUntil.js"

/** A gate a test opens: jobs wait on it in-process. */
const gate = () => {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { open, opened }
}

describe("the progress view", () => {
  it("labels a bar with the job's status when its progress arrives, not the status of the last poll", async () => {
    const first = gate()
    const second = gate()
    const Blocker = defineJob({ name: "blocker", params: Schema.Struct({}), run: () => first.opened })
    const Reporter = defineJob({
      name: "reporter",
      params: Schema.Struct({}),
      run: async (ctx) => {
        await ctx.progress(Progress.percentage(0.38))
        await second.opened
      },
    })
    const manager = await openManager({ jobs: [Blocker, Reporter], concurrency: 1 })
    const blocker = await manager.dispatch(Blocker, {})
    await waitUntil(async () => (await blocker.status()) === "running")
    const reporter = await manager.dispatch(Reporter, {})
    expect(await reporter.status()).toBe("queued")

    const updates: Array<{ status: string; progress: Progress<unknown> | null }> = []
    const view: ProgressView = {
      update: (_k, _l, status, progress) => void updates.push({ status, progress }),
      remove() {},
      log() {},
      stop() {},
    }
    // A slow poll: it has read "queued" and will not look again while the job starts and reports.
    const following = followJobs(manager, [{ id: reporter.id, label: "reporter" }], view, { pollMs: 5_000 })
    await waitUntil(() => updates.length > 0)
    first.open()
    const shown = await waitUntil(() => updates.find((u) => u.progress?._tag === "Percentage"))
    expect(shown.status).toBe("running")

    second.open()
    await reporter.result()
    following.stop()
    await following.done
  })

  it("shows a copy's rate and ETA only while it runs", () => {
    let text = ""
    const stream = { write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream
    const view = createProgressView(stream, { interactive: false, plainIntervalMs: 0 })
    const copy = Progress.structured({
      filesDone: 3,
      filesTotal: 10,
      bytesDone: 38 * 1024 * 1024,
      bytesTotal: 100 * 1024 * 1024,
      currentFile: "a.bin",
      bytesPerSecond: 20 * 1024 * 1024,
      etaSeconds: 3,
      fraction: 0.38,
    })
    view.update("copy", "file_copy", "running", copy)
    expect(text).toContain("20 MiB/s · eta 3.0 s")
    for (const status of ["paused", "queued"]) {
      text = ""
      view.update("copy", "file_copy", status, copy)
      expect(text).toBe(`[file_copy] ${status} 38% 3/10 files · 38 MiB/100 MiB\n`)
    }
  })
})
