import { existsSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, afterEach, beforeAll } from "vitest"
import type { JobDefinition, JobManager } from "../../src/index.js"
import { dashboard } from "../../src/ui/index.js"
import { openManager } from "../fixtures/openManager.js"
import { allTestJobs } from "../fixtures/jobs.js"
import { startProcess } from "../fixtures/processes.js"
import { tempDir } from "../fixtures/tempDir.js"

/** The Chromium the browser tests drive (`apt-get install -y chromium`; `.ci/run` installs it). */
export const CHROMIUM = "/usr/bin/chromium"
export const haveChromium = existsSync(CHROMIUM)

/**
 * Hooks for a file of browser tests: one Chromium for the file, and the servers each test
 * starts closed after it. Returns `setUp`: a producer with the dashboard in this process, a
 * worker process that runs the test jobs, and a page at a laptop's width.
 */
export const useDashboardPage = (file: string) => {
  if (!haveChromium)
    console.warn(`${file} skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`)
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
  return async (options: { readonly producerJobs?: ReadonlyArray<JobDefinition>; readonly worker?: boolean } = {}) => {
    const dataDir = tempDir()
    const producer: JobManager = await openManager({
      dataDir,
      concurrency: 0,
      ...(options.producerJobs ? { jobs: [...allTestJobs, ...options.producerJobs] } : {}),
    })
    const worker = options.worker === false ? undefined : await startProcess("test/fixtures/worker.ts", [dataDir, "4"])
    const server = createServer(dashboard(producer))
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: string[] = []
    page.on("pageerror", (e) => errors.push(e.message))
    return { dataDir, producer, worker, url, page, errors }
  }
}
