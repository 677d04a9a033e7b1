import { existsSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { dashboard } from "../../src/index.js"
import { CountJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const CHROMIUM = "/usr/bin/chromium"
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium) console.warn(`test/ui/browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`)

let browser: Browser
const servers: Server[] = []
beforeAll(async () => {
  if (haveChromium) browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] })
})
afterAll(async () => {
  await browser?.close()
})
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** A producer with the dashboard in this process, and a worker process that runs the jobs. */
const setUp = async () => {
  const dataDir = tempDir()
  const producer = await openManager({ dataDir, concurrency: 0 })
  await startProcess("test/fixtures/worker.ts", [dataDir, "4"])
  const server = createServer(dashboard(producer))
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const page = await browser.newPage()
  const errors: string[] = []
  page.on("pageerror", (e) => errors.push(e.message))
  return { dataDir, producer, url, page, errors }
}

const progressOf = async (page: Page) => Number((await page.locator("[data-job] .bar").first().getAttribute("data-progress")) || 0)

describe.skipIf(!haveChromium)("the dashboard in Chromium", () => {
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
    // The path it took is lit: queued → running → paused.
    expect(await page.locator('svg.lifecycle g.visited[data-state="running"]').count()).toBe(1)

    await page.locator('button[name="resume"]').click()
    await page.locator('[data-job] [data-status="running"]').waitFor()
    await waitUntil(async () => (await producer.getJobInfo(job.id)).status === "running", 20_000, "the worker to run it again")
    await page.locator('button[name="cancel"]').click()
    await page.locator('[data-job] [data-status="cancelled"]').waitFor()
    expect(errors).toEqual([])
  })

  it("rejects bad params next to their field and dispatches good ones", async () => {
    const { dataDir, producer, url, page, errors } = await setUp()
    await page.goto(`${url}#view=dispatch`)
    await page.locator('form[data-form="dispatch"] select[name="type"]').selectOption("count")
    await page.locator('[data-path="n"] input').waitFor()
    await page.locator('[data-path="n"] input').fill("three")
    await page.locator('button[type="submit"]').click()
    await page.locator('[data-result="error"]').waitFor()
    expect(await page.locator('.field.bad[data-path="n"] .issue').innerText()).toMatch(/number/i)
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
})
