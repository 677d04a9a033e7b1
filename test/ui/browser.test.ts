import type { Page } from "playwright-core"
import { describe, expect, it } from "vitest"
import { CountJob, FailingJob, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { storeKind } from "../fixtures/store.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { haveChromium, useDashboardPage } from "./browserPage.js"
import { recordNoopRun } from "./recording.js"

const setUp = useDashboardPage("test/ui/browser.test.ts")

/** Waits for the job's path, as the page shows it (`data-path`), to be this. */
const pathIs = (page: Page, path: string) => page.locator(`[data-job] [data-path="${path}"]`).waitFor()

const progressOf = async (page: Page) =>
  Number((await page.locator("[data-job] .bar").first().getAttribute("data-progress")) || 0)

// Run once per store (vitest.config.ts): the producer, the worker process and the page all on it.
describe.skipIf(!haveChromium)(`the dashboard in Chromium, on ${storeKind}`, () => {
  it("lists the jobs, moves a job's progress live, lights its state, and pauses and resumes it in the worker process", async () => {
    const { dataDir, producer, url, page, errors } = await setUp()
    const job = await producer.dispatch(CountJob, { n: 400, effectsFile: `${dataDir}/fx`, delayMs: 25 })
    await page.goto(url)
    await page.locator(`tr.job[data-id="${job.id}"]`).click()
    await page.locator('[data-job] [data-status="running"]').waitFor()
    await page.locator('svg.lifecycle g.current[data-state="running.active"]').waitFor()

    // Live: the bar moves without a reload.
    await waitUntil(async () => (await progressOf(page)) > 0, 20_000, "some progress")
    const first = await progressOf(page)
    await waitUntil(async () => (await progressOf(page)) > first, 20_000, "the progress to move")

    await page.locator('button[name="pause"]').click()
    await page.locator('[data-job] [data-status="paused"]').waitFor()
    await page.locator('svg.lifecycle g.current[data-state="paused"]').waitFor()
    expect((await producer.getJobInfo(job.id)).status).toBe("paused")
    // The list shows the action's result too, without waiting for the feed.
    await page.locator(`tr.job[data-id="${job.id}"] [data-status="paused"]`).waitFor()
    // The path it took is lit: queued → running → paused.
    await pathIs(page, "queued running paused")
    expect(await page.locator('svg.lifecycle g.visited[data-state="running"]').count()).toBe(1)
    expect(await page.locator("svg.lifecycle path.edge.taken").count()).toBe(2)

    await page.locator('button[name="resume"]').click()
    await page.locator('[data-job] [data-status="running"]').waitFor()
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it again",
    )
    await pathIs(page, "queued running paused queued running")
    // Cancel asks first; answered "no", nothing is sent and the job runs on.
    const posted: string[] = []
    page.on("request", (request) => void (request.method() === "POST" && posted.push(request.url())))
    const questions: string[] = []
    page.once("dialog", (dialog) => void (questions.push(dialog.message()), dialog.dismiss()))
    await page.locator('button[name="cancel"]').click()
    expect(questions).toEqual([expect.stringContaining(`Cancel count ${job.id}?`)])
    expect(posted).toEqual([])
    expect((await producer.getJobInfo(job.id)).status).toBe("running")
    page.once("dialog", (dialog) => void dialog.accept())
    await page.locator('button[name="cancel"]').click()
    await page.locator('[data-job] [data-status="cancelled"]').waitFor()
    expect(posted).toEqual([expect.stringMatching(new RegExp(`/api/jobs/${job.id}/cancel$`))])
    await page.locator('button[name="retry"]:not([disabled])').click()
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it once more",
    )
    // Live, after four actions from the page: every step once, in order, the current one lit.
    await pathIs(page, "queued running paused queued running cancelled queued running")
    await page.locator('svg.lifecycle g.current[data-state="running.active"]').waitFor()
    // And the same after a reload, from the store alone.
    await page.reload()
    await pathIs(page, "queued running paused queued running cancelled queued running")
    await producer.cancel(job.id)
    await pathIs(page, "queued running paused queued running cancelled queued running cancelled")
    await page.locator('svg.lifecycle g.current[data-state="cancelled"]').waitFor()
    expect(errors).toEqual([])
  })

  it("rejects bad params next to their field and dispatches good ones", async () => {
    const { dataDir, producer, url, page, errors } = await setUp()
    const posts: string[] = []
    page.on("request", (r) => r.method() === "POST" && posts.push(r.url()))
    await page.goto(`${url}#view=dispatch`)
    await page.locator('form[data-form="dispatch"] select[name="type"]').selectOption("count")
    await page.locator('[data-path="n"] input').waitFor()
    // Untouched, the form is not valid by the schema: it says so, as dispatchByName would, and posts nothing.
    await page.locator('button[type="submit"]').click()
    await page.locator('[data-result="error"]').waitFor()
    expect(await page.locator('.field.bad[data-path="n"] .issue').innerText()).toBe("Missing key")
    expect(await page.locator('.field.bad[data-path="effectsFile"] .issue').innerText()).toBe("Missing key")
    expect(await page.locator('[data-result="error"]').innerText()).toBe(
      'Invalid params for "count": n: Missing key; effectsFile: Missing key',
    )
    await page.locator('[data-path="n"] input').fill("three")
    await page.locator('button[type="submit"]').click()
    await page.locator('.field.bad[data-path="n"] .issue', { hasText: "Expected number" }).waitFor()
    expect(posts).toEqual([])
    expect(await producer.listJobs()).toEqual([])

    await page.locator('[data-path="n"] input').fill("2")
    await page.locator('[data-path="effectsFile"] input').fill(`${dataDir}/fx`)
    await page.locator('button[type="submit"]').click()
    // A dispatch opens the job it made.
    await page.locator("[data-job]").waitFor()
    const [stored] = await producer.listJobs()
    expect(stored).toMatchObject({ name: "count" })
    await expect((await producer.handle(stored!.id)).result()).resolves.toMatchObject({ counted: 2 })
    expect(await page.locator("[data-job]").getAttribute("data-job")).toBe(stored!.id)
    await page.locator('[data-job] [data-status="completed"]').waitFor()
    await page.locator('svg.lifecycle g.current[data-state="completed"]').waitFor()
    expect(errors).toEqual([])
  })

  it("keeps its filters in the address: a reload shows the same list, Back the one before", async () => {
    const { producer, url, page, errors } = await setUp()
    const noops = [] as string[]
    for (let i = 0; i < 3; i++) noops.push((await producer.dispatch(NoopJob, { tag: `n${i}` })).id)
    for (const id of noops) await (await producer.handle(id)).result()
    const waiting = await producer.dispatch(WaitJob, {})
    await page.goto(url)
    await page.locator(`tr.job[data-id="${waiting.id}"]`).waitFor()

    await page.locator('select[name="status"]').selectOption("completed")
    await page.locator('select[name="type"]').selectOption("noop")
    await page.locator(`tr.job[data-id="${waiting.id}"]`).waitFor({ state: "detached" })
    const listed = async () => page.locator("tr.job").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")))
    await waitUntil(async () => (await listed()).length === 3, 20_000, "the three no-ops")
    expect(new URL(page.url()).hash).toBe("#status=completed&type=noop")

    await page.reload()
    await waitUntil(async () => (await listed()).length === 3, 20_000, "the same list after a reload")
    expect(new Set(await listed())).toEqual(new Set(noops))
    expect(await page.locator('select[name="status"]').inputValue()).toBe("completed")
    expect(await page.locator('select[name="type"]').inputValue()).toBe("noop")

    await page.locator('input[name="text"]').fill(noops[1]!.slice(0, 13))
    await waitUntil(async () => (await listed()).join() === noops[1], 20_000, "the job of that id")
    // Typing replaces the address rather than adding a step per key: Back leaves the type filter too.
    await page.goBack()
    await waitUntil(
      async () => new URL(page.url()).hash === "#status=completed",
      20_000,
      "the address before the type filter",
    )
    expect(await page.locator('select[name="type"]').inputValue()).toBe("")
    expect(await page.locator('input[name="text"]').inputValue()).toBe("")
    await page.locator(`tr.job[data-id="${waiting.id}"]`).waitFor({ state: "detached" })
    await waitUntil(async () => (await listed()).length === 3, 20_000, "the completed jobs")
    await producer.cancel(waiting.id)
    expect(errors).toEqual([])
  })

  it("pages the list by cursor: older and newer show the next and the previous 50, Back the page before, and a filter starts again at the newest", async () => {
    const { producer, url, page, errors } = await setUp({ worker: false })
    const noops = await producer.dispatchMany(
      NoopJob,
      Array.from({ length: 110 }, (_, i) => ({ tag: `p${i}` })),
    )
    const waits: string[] = []
    for (let i = 0; i < 3; i++) waits.push((await producer.dispatch(WaitJob, {})).id)
    const newest = [...noops.map((h) => h.id), ...waits].reverse()
    const reads: string[] = []
    page.on("request", (r) => void (/\/api\/jobs\?/.test(r.url()) && reads.push(new URL(r.url()).search)))
    const listed = () => page.locator("tr.job").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")))
    const shows = (ids: ReadonlyArray<string>, what: string) =>
      waitUntil(async () => (await listed()).join() === ids.join(), 20_000, what)
    const older = page.locator('button[name="older"]')
    const newer = page.locator('button[name="newer"]')

    await page.goto(url)
    await shows(newest.slice(0, 50), "the newest 50")
    await page.locator("[data-page]", { hasText: "50 shown of 113" }).waitFor()
    expect(await newer.isDisabled()).toBe(true)
    expect(await page.locator('button[name="newest"]').isDisabled()).toBe(true)

    await older.click()
    await shows(newest.slice(50, 100), "the next 50")
    expect(new URL(page.url()).hash).toBe(`#after=${newest[49]}`)
    await older.click()
    await shows(newest.slice(100), "the last 13")
    await page.locator("[data-page]", { hasText: "13 shown of 113" }).waitFor()
    expect(await older.isDisabled()).toBe(true)
    // Back is the page before; so is "newer", by its cursor, to the first page.
    await page.goBack()
    await shows(newest.slice(50, 100), "the second page again")
    await page.reload()
    await shows(newest.slice(50, 100), "the same page after a reload")
    await newer.click()
    await shows(newest.slice(0, 50), "the first page again")
    expect(new URL(page.url()).hash).toBe(`#before=${newest[50]}`)
    await waitUntil(async () => await newer.isDisabled(), 20_000, "no page newer than the first")
    await older.click()
    await older.click()
    await shows(newest.slice(100), "the last page again")
    await newer.click()
    await shows(newest.slice(50, 100), "the second page, from the last")

    // A filter starts at its own newest jobs: the cursor of another list is dropped.
    await page.locator('select[name="type"]').selectOption("wait")
    await shows([...waits].reverse(), "the wait jobs")
    expect(new URL(page.url()).hash).toBe("#type=wait")
    expect(reads.length).toBeGreaterThan(0)
    expect(reads.filter((q) => q.includes("offset"))).toEqual([])
    expect(errors).toEqual([])
  })

  it("writes every time as local time with its UTC instant in the tooltip, and draws the diagram legibly at 1280 px", async () => {
    const { producer, url, page, errors } = await setUp()
    const job = await producer.dispatch(NoopJob, { tag: "timed" })
    await job.result()
    await page.goto(`${url}#job=${job.id}`)
    await page.locator('[data-job] [data-status="completed"]').waitFor()
    const fields = page.locator("[data-job] dl.fields")
    expect(await fields.innerText()).not.toMatch(/\d{4}-\d\d-\d\dT/)
    const times = await page
      .locator("[data-job] time, tr.job time")
      .evaluateAll((els) => els.map((e) => [e.getAttribute("datetime"), e.getAttribute("title")]))
    expect(times.length).toBeGreaterThanOrEqual(4) // the list's created, and created, started, ended
    for (const [datetime, title] of times) {
      expect(title).toBe(datetime)
      expect(new Date(title!).toISOString()).toBe(title)
    }
    // A state's name is drawn at least 10 px tall (scaled to the pane, it was 7 px).
    const label = await page.locator('svg.lifecycle g[data-state="paused"] text').boundingBox()
    expect(label!.height).toBeGreaterThanOrEqual(10)
    expect(errors).toEqual([])
  })

  it("shows the schedules, the counts per type and the throughput chart, and replays a recording", async () => {
    const { producer, url, page, errors } = await setUp()
    const schedule = await producer.schedule(
      "nightly-noop",
      NoopJob,
      { tag: "at three" },
      { cron: "0 3 * * *", timezone: "Europe/Stockholm" },
    )
    for (const tag of ["a", "b"]) await (await producer.dispatch(NoopJob, { tag })).result()
    const failing = await producer.dispatch(FailingJob, { mode: "typed" })
    await waitUntil(async () => (await producer.getJobInfo(failing.id)).status === "failed", 20_000, "the failure")

    await page.goto(`${url}#view=schedules`)
    const row = page.locator('tr[data-schedule="nightly-noop"]')
    await row.waitFor()
    expect(await row.innerText()).toMatch(/nightly-noop\s+noop\s+0 3 \* \* \*\s+Europe\/Stockholm/)
    expect(await row.locator("time").first().getAttribute("title")).toBe(schedule.nextRunAt)

    await page.locator('nav button[data-view="stats"]').click()
    await page.locator('tr[data-type="noop"]').waitFor()
    expect(await page.locator('tr[data-type="noop"] [data-count="completed"]').innerText()).toBe("2")
    expect(await page.locator('tr[data-type="failing"] [data-count="failed"]').innerText()).toBe("1")
    // This minute's bar has both colours.
    expect(await page.locator('svg.chart rect[data-status="completed"]').count()).toBeGreaterThan(0)
    expect(await page.locator('svg.chart rect[data-status="failed"]').count()).toBeGreaterThan(0)

    // A recording as `jobstate inspect --out` makes one, of another manager's run.
    const { lines } = await recordNoopRun()
    await page.locator('nav button[data-view="replay"]').click()
    await page
      .locator('input[type="file"]')
      .setInputFiles({ name: "events.jsonl", mimeType: "text/plain", buffer: Buffer.from(lines.join("\n")) })
    await page.locator("tr[data-replay-row]").first().waitFor()
    expect(await page.locator("tr[data-replay-row]", { hasText: "WORKER.DONE" }).count()).toBeGreaterThan(0)
    await page
      .locator('input[type="file"]')
      .setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not a recording\n") })
    await page.locator(".error-box", { hasText: "is not an inspection event" }).waitFor()
    expect(errors).toEqual([])
  })

  it("shows an action's result in the list and the detail from its response, with no feed and no re-read of the list", async () => {
    const { producer, url, page } = await setUp()
    const job = await producer.dispatch(WaitJob, {})
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it",
    )
    // No live feed at all, and the list is read once: only the action's response can tell.
    await page.route(/\/api\/events$/, (route) => route.abort())
    await page.goto(`${url}#job=${job.id}`)
    await page.locator(`tr.job[data-id="${job.id}"] [data-status="running"]`).waitFor()
    await page.route(/\/api\/jobs\?/, (route) => route.abort())
    await page.locator('[data-job] button[name="pause"]:not([disabled])').click()
    await page.locator(`tr.job[data-id="${job.id}"] [data-status="paused"]`).waitFor()
    await page.locator('[data-job] [data-status="paused"]').waitFor()
    await pathIs(page, "queued running paused")
    await producer.cancel(job.id)
  })
})
