import { Effect, Schema } from "effect"
import type { Page } from "playwright-core"
import { describe, expect, it } from "vitest"
import { defineJob } from "../../src/index.js"
import { FailingJob, FanOutJob, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { storeKind } from "../fixtures/store.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { haveChromium, useDashboardPage } from "./browserPage.js"

const setUp = useDashboardPage("test/ui/triage.test.ts")

/** A type the producer knows and no worker runs. */
const UnrunJob = defineJob({ name: "unrun", params: Schema.Struct({}), run: () => Effect.void })

const listed = (page: Page) => page.locator("tr.job").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")))
const DAY = 86_400_000

// What an operator needs in an incident, in the page, on each store.
describe.skipIf(!haveChromium)(`the dashboard for triage, on ${storeKind}`, () => {
  it("links a parent's children and the child's parent, and filters the list by parent", async () => {
    const { producer, url, page, errors } = await setUp()
    const parent = await producer.dispatch(FanOutJob, { count: 4 })
    await parent.result()
    const other = await producer.dispatch(NoopJob, { tag: "unrelated" })
    const children = (await producer.listJobs({ parentId: parent.id })).map((j) => j.id)
    expect(children).toHaveLength(4)

    await page.goto(`${url}#job=${parent.id}`)
    const links = page.locator("[data-children-list] a[data-child]")
    await waitUntil(async () => (await links.count()) === 4, 20_000, "the four children")
    expect(new Set(await links.evaluateAll((as) => as.map((a) => a.getAttribute("data-child"))))).toEqual(
      new Set(children),
    )
    await links.first().click()
    await waitUntil(
      async () => children.includes((await page.locator("[data-job]").getAttribute("data-job"))!),
      20_000,
      "a child's detail",
    )
    await page.locator(`a[data-parent="${parent.id}"]`).click()
    await page.locator(`[data-job="${parent.id}"]`).waitFor()

    await page.locator('button[name="show-children"]').click()
    await page.locator('[data-filter="parent"]').waitFor()
    await waitUntil(
      async () => new Set(await listed(page)).size === 4 && (await listed(page)).every((id) => children.includes(id!)),
      20_000,
      "only the children listed",
    )
    expect(new URL(page.url()).hash).toContain(`parent=${parent.id}`)
    await page.locator('[data-filter="parent"] button').click()
    await page.locator(`tr.job[data-id="${other.id}"]`).waitFor()
    expect(errors).toEqual([])
  })

  it("filters by creation time with type and status, and writes an old job's date rather than how long ago", async () => {
    const { dataDir, producer, url, page, errors } = await setUp()
    // A producer whose clock reads three days ago: its job was created then.
    const past = await openManager({ dataDir, concurrency: 0, now: () => Date.now() - 3 * DAY })
    const old = await past.dispatch(NoopJob, { tag: "old" })
    const recent = await producer.dispatch(NoopJob, { tag: "recent" })
    const waiting = await producer.dispatch(WaitJob, { maxMs: 1 })
    await (await producer.handle(waiting.id)).result()

    await page.goto(url)
    await page.locator(`tr.job[data-id="${old.id}"]`).waitFor()
    const created = page.locator(`tr.job[data-id="${old.id}"] td:last-child time`)
    const oldInfo = await producer.getJobInfo(old.id)
    expect(await created.getAttribute("datetime")).toBe(oldInfo.createdAt)
    expect(Date.now() - Date.parse(oldInfo.createdAt)).toBeGreaterThan(2 * DAY)
    expect(await created.innerText()).not.toMatch(/ago/)
    expect(await page.locator(`tr.job[data-id="${recent.id}"] td:last-child time`).innerText()).toMatch(/ago$/)

    await page.locator('select[name="created"]').selectOption("24h")
    await page.locator(`tr.job[data-id="${old.id}"]`).waitFor({ state: "detached" })
    await page.locator('select[name="type"]').selectOption("noop")
    await waitUntil(async () => (await listed(page)).join() === recent.id, 20_000, "only the recent no-op")
    await page.locator('select[name="status"]').selectOption("failed")
    await waitUntil(async () => (await listed(page)).length === 0, 20_000, "no failed no-op of the last day")
    expect(new URL(page.url()).hash).toBe("#status=failed&type=noop&created=24h")
    await page.locator('select[name="created"]').selectOption("")
    await page.locator('select[name="status"]').selectOption("")
    await waitUntil(async () => new Set(await listed(page)).size === 2, 20_000, "both no-ops again")
    expect(errors).toEqual([])
  })

  it("acts on many jobs at once: every failed job of a type, and the ticked ones, saying which it could not act on", async () => {
    const { producer, url, page, errors } = await setUp()
    const failed = [] as string[]
    for (let i = 0; i < 3; i++) failed.push((await producer.dispatch(FailingJob, { mode: "typed" })).id)
    const waits = [] as string[]
    for (let i = 0; i < 3; i++) waits.push((await producer.dispatch(WaitJob, {})).id)
    await waitUntil(
      async () => (await Promise.all(failed.map((id) => producer.getJobInfo(id)))).every((j) => j.status === "failed"),
      20_000,
      "three failures",
    )

    await page.goto(`${url}#status=failed&type=failing`)
    await waitUntil(async () => new Set(await listed(page)).size === 3, 20_000, "the three failed jobs")
    expect(await page.locator('button[name="retry-all"]').innerText()).toBe("retry all failed jobs of type failing")
    await page.locator('button[name="retry-all"]').click()
    await page.locator("[data-bulk-result]", { hasText: "retry: 3 of 3 done" }).waitFor()
    await waitUntil(
      async () =>
        (await Promise.all(failed.map((id) => producer.getJobInfo(id)))).every(
          (j) => j.status === "failed" && j.attempts === 2,
        ),
      20_000,
      "each failed job run once more",
    )

    await page.goto(`${url}#type=wait`)
    await waitUntil(async () => new Set(await listed(page)).size === 3, 20_000, "the three waiting jobs")
    for (const id of waits.slice(0, 2)) await page.locator(`tr.job[data-id="${id}"] input[name="check"]`).check()
    await page.locator("[data-checked='2']").waitFor()
    page.once("dialog", (dialog) => void dialog.accept())
    await page.locator('button[name="bulk-cancel"]').click()
    await page.locator("[data-bulk-result]", { hasText: "cancel: 2 of 2 done" }).waitFor()
    expect(
      (await Promise.all(waits.map((id) => producer.getJobInfo(id)))).map((j) => j.status === "cancelled"),
    ).toEqual([true, true, false])

    // Pausing a cancelled job is refused: each is named, and the others (none here) go on.
    for (const id of waits.slice(0, 2)) await page.locator(`tr.job[data-id="${id}"] input[name="check"]`).check()
    await page.locator('button[name="bulk-pause"]').click()
    const result = page.locator("[data-bulk-result]", { hasText: "pause: 0 of 2 done; 2 refused" })
    await result.waitFor()
    expect(await result.innerText()).toContain(waits[0]!.slice(0, 8))
    await producer.cancel(waits[2]!)
    expect(errors).toEqual([])
  })

  it("shows every worker: host, pid, types, concurrency, the jobs it runs, its lease's age", async () => {
    const { producer, worker, url, page, errors } = await setUp()
    const job = await producer.dispatch(WaitJob, {})
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it",
    )
    await page.goto(`${url}#view=workers`)
    const row = page.locator("tr[data-manager]", { hasText: String(worker!.pid) })
    await row.locator('[data-running="1"]').waitFor()
    expect(await row.getAttribute("data-state")).toBe("live")
    const text = await row.innerText()
    expect(text).toContain("wait")
    expect(text).toMatch(/1\/4/)
    expect(text).toMatch(/\d+\.\d s ago/)
    await row.locator(`a[href="#job=${job.id}"]`).click()
    await page.locator(`[data-job="${job.id}"]`).waitFor()
    expect(await page.locator("tr[data-manager]").count()).toBe(0)
    await page.locator('nav button[data-view="workers"]').click()
    // The producer the page runs in is listed too, as one.
    await page.locator("tr[data-manager]", { hasText: "producer" }).waitFor()
    await producer.cancel(job.id)
    expect(errors).toEqual([])
  })

  it("tells a job waiting for its time from one no worker runs, with its run-at time, and lays out a failure's stack", async () => {
    const { producer, url, page, errors } = await setUp({ producerJobs: [UnrunJob] })
    const delayed = await producer.dispatch(NoopJob, { tag: "later" }, { delayMs: 3_600_000 })
    const unrun = await producer.dispatch(UnrunJob, {})
    const thrown = await producer.dispatch(FailingJob, { mode: "throw" })
    await waitUntil(async () => (await producer.getJobInfo(thrown.id)).status === "failed", 20_000, "the failure")

    await page.goto(url)
    await page.locator(`tr.job[data-id="${delayed.id}"] [data-wait="waiting (delay)"]`).waitFor()
    await page.locator(`tr.job[data-id="${unrun.id}"] [data-wait="waiting for a worker"]`).waitFor()
    const runAt = (await producer.getJobInfo(delayed.id)).runAt
    expect(await page.locator(`tr.job[data-id="${delayed.id}"] td[data-run-at] time`).getAttribute("datetime")).toBe(
      runAt,
    )
    expect(await page.locator(`tr.job[data-id="${unrun.id}"] td[data-run-at]`).innerText()).toBe("")

    await page.locator(`tr.job[data-id="${thrown.id}"]`).click()
    const stack = page.locator("[data-job] pre[data-stack]")
    await stack.waitFor()
    const frames = await stack.locator("div").allInnerTexts()
    expect(frames.length).toBeGreaterThan(1)
    for (const frame of frames) expect(frame).toMatch(/^at /)
    expect(frames[0]).toContain("fixtures/jobs.ts")
    expect(await page.locator('[data-job] [data-error="RangeError"]').innerText()).toBe("[RangeError] boom")
    // Its path is lit by the arrows it took, not by every arrow between the two statuses
    // (running.pausing → failed and running.cancelling → failed were not taken).
    const taken = await page
      .locator("svg.lifecycle g.transition.taken")
      .evaluateAll((gs) => gs.map((g) => `${g.getAttribute("data-from")}>${g.getAttribute("data-to")}`))
    expect(taken.sort()).toEqual(["queued>running", "running>failed"])
    expect(errors).toEqual([])
  })

  it("dispatches with a delay, a unique key and a timeout from the form", async () => {
    const { producer, url, page, errors } = await setUp()
    await page.goto(`${url}#view=dispatch`)
    const form = page.locator('form[data-form="dispatch"]')
    await form.locator('select[name="type"]').selectOption("noop")
    // Each field is found by its label (tied to its input), and a bad one is named by that label.
    await form.getByLabel(/^delay \(/).fill("soon")
    await form.locator('button[type="submit"]').click()
    await page.locator('[data-result="error"]', { hasText: 'delay: "soon" is not a duration' }).waitFor()
    expect(await producer.listJobs()).toEqual([])

    await form.locator('input[name="delay"]').fill("1h")
    await form.locator('input[name="uniqueKey"]').fill("nightly")
    const before = Date.now()
    await form.locator('button[type="submit"]').click()
    await page.locator("[data-job]").waitFor()
    const [job] = await producer.listJobs()
    expect(job).toMatchObject({ name: "noop", uniqueKey: "nightly", status: "queued" })
    expect(Date.parse(job!.runAt!) - before).toBeGreaterThanOrEqual(3_600_000 - 1_000)
    expect(Date.parse(job!.runAt!) - Date.now()).toBeLessThanOrEqual(3_600_000)
    // The same key again: the live job's handle, nothing new stored.
    await page.locator('nav button[data-view="dispatch"]').click()
    await form.locator('select[name="type"]').selectOption("noop")
    await form.locator('input[name="uniqueKey"]').fill("nightly")
    await form.locator('button[type="submit"]').click()
    await page.locator(`[data-job="${job!.id}"]`).waitFor()
    expect(await producer.listJobs()).toHaveLength(1)

    await page.locator('nav button[data-view="dispatch"]').click()
    await form.locator('select[name="type"]').selectOption("wait")
    await form.locator('input[name="timeout"]').fill("300ms")
    await form.locator('button[type="submit"]').click()
    await waitUntil(async () => (await producer.listJobs({ name: "wait" })).length === 1, 20_000, "the wait job")
    const [wait] = await producer.listJobs({ name: "wait" })
    // Its attempts end at 300 ms, not at the minute it would wait.
    await waitUntil(
      async () => (await producer.getJobInfo(wait!.id)).lastError?._tag === "JobTimeout",
      30_000,
      "a timed-out attempt",
    )
    // (It may have failed for good by now: its retries end the same way.)
    await producer.cancel(wait!.id).catch((e: { _tag: string }) => expect(e._tag).toBe("InvalidTransition"))
    await producer.cancel(job!.id)
    expect(errors).toEqual([])
  })

  it("adds a schedule from a form, refusing a bad cron by name, and removes it", async () => {
    const { producer, url, page, errors } = await setUp()
    await page.goto(`${url}#view=schedules`)
    const form = page.locator('form[data-form="schedule"]')
    await form.locator('input[name="name"]').fill("nightly-noop")
    await form.locator('select[name="type"]').selectOption("noop")
    await form.locator('[data-path="tag"] input').fill("at three")
    await form.locator('input[name="cron"]').fill("every night")
    await form.locator('input[name="timezone"]').fill("Europe/Stockholm")
    await form.locator('button[type="submit"]').click()
    await page.locator('[data-result="error"]', { hasText: "cron" }).waitFor()
    expect(await producer.listSchedules()).toEqual([])

    await form.locator('input[name="cron"]').fill("0 3 * * *")
    await form.locator('button[type="submit"]').click()
    const row = page.locator('tr[data-schedule="nightly-noop"]')
    await row.waitFor()
    const [stored] = await producer.listSchedules()
    expect(stored).toMatchObject({
      name: "nightly-noop",
      jobName: "noop",
      cron: "0 3 * * *",
      timezone: "Europe/Stockholm",
    })
    expect(await row.locator("time").first().getAttribute("datetime")).toBe(stored!.nextRunAt)

    const questions: string[] = []
    page.once("dialog", (dialog) => void (questions.push(dialog.message()), dialog.accept()))
    await row.locator('button[name="remove"]').click()
    await row.waitFor({ state: "detached" })
    expect(questions).toEqual([expect.stringContaining("nightly-noop")])
    expect(await producer.listSchedules()).toEqual([])
    expect(errors).toEqual([])
  })
})
