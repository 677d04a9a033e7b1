import { existsSync, mkdirSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { dashboard } from "../../src/ui/index.js"
import { WaitJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { startProcess } from "../fixtures/processes.js"
import { storeKind } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

// The lifecycle diagram and the throughput chart as a person sees them at 1280 px: measured in
// Chromium (what the browser draws, not what the layout meant to), and photographed.

const CHROMIUM = "/usr/bin/chromium"
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium)
  console.warn(
    `test/ui/diagram.browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`,
  )

const root = fileURLToPath(new URL("../..", import.meta.url))
const SCREENSHOT = join(root, "docs", "screenshots", "lifecycle-1280.png")

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

const setUp = async () => {
  const dataDir = tempDir()
  const producer = await openManager({ dataDir, concurrency: 0 })
  const server = createServer(dashboard(producer))
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  const errors: string[] = []
  page.on("pageerror", (e) => errors.push(e.message))
  return { dataDir, producer, url, page, errors }
}

interface Rect {
  readonly left: number
  readonly top: number
  readonly right: number
  readonly bottom: number
}

/** How far two rectangles overlap, in px of the smaller side (0: they don't). */
const overlap = (a: Rect, b: Rect) =>
  Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
  Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top))
const inside = (inner: Rect, outer: Rect, slack = 0.5) =>
  inner.left >= outer.left - slack &&
  inner.top >= outer.top - slack &&
  inner.right <= outer.right + slack &&
  inner.bottom <= outer.bottom + slack

/** Every label, state box and state name of the page's diagram, as the browser lays them out. */
const measure = (page: Page) =>
  page.locator("svg.lifecycle").evaluate((svg) => {
    const rect = (e: Element) => {
      const r = e.getBoundingClientRect()
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom }
    }
    return {
      svg: rect(svg),
      labels: [...svg.querySelectorAll("text.edge-label")].map((t) => ({
        text: t.textContent ?? "",
        visible: getComputedStyle(t).display !== "none" && getComputedStyle(t).visibility !== "hidden",
        size: parseFloat(getComputedStyle(t).fontSize),
        ...rect(t),
      })),
      states: [...svg.querySelectorAll("g[data-state]")].map((g) => ({
        path: g.getAttribute("data-state")!,
        compound: g.classList.contains("compound"),
        box: rect(g.querySelector(":scope > rect")!),
        text: rect(g.querySelector(":scope > text")!),
      })),
    }
  })

describe.skipIf(!haveChromium)(`the lifecycle diagram and the chart at 1280 px, on ${storeKind}`, () => {
  it("draws every arrow's labels apart from each other and from the states, each state's name inside its box", async () => {
    const { dataDir, producer, url, page, errors } = await setUp()
    await startProcess("test/fixtures/worker.ts", [dataDir, "4"])
    const job = await producer.dispatch(WaitJob, {})
    await waitUntil(
      async () => (await producer.getJobInfo(job.id)).status === "running",
      20_000,
      "the worker to run it",
    )
    await producer.pause(job.id)
    await waitUntil(async () => (await producer.getJobInfo(job.id)).status === "paused", 20_000, "the pause")
    await page.goto(`${url}#job=${job.id}`)
    await page.locator('svg.lifecycle g.current[data-state="paused"]').waitFor()
    await page.locator('[data-job] [data-path="queued running paused"]').waitFor()
    await page.mouse.move(0, 0)

    const { svg, labels, states } = await measure(page)
    // Drawn at (about) the size it was laid out for: the half-width pane holds it.
    expect(svg.right - svg.left).toBeGreaterThan(480)
    expect(svg.right).toBeLessThanOrEqual(1280)
    // All of them drawn (the layout made room for every one), in type one can read.
    expect(labels.length).toBeGreaterThanOrEqual(20)
    for (const l of labels) {
      expect(l.visible, l.text).toBe(true)
      expect(l.bottom - l.top, l.text).toBeGreaterThanOrEqual(10)
    }
    expect(labels.filter((l) => /START/.test(l.text))).toHaveLength(1)

    // No two labels overlap.
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++)
        expect(overlap(labels[i]!, labels[j]!), `"${labels[i]!.text}" and "${labels[j]!.text}"`).toBe(0)
    for (const l of labels) {
      for (const s of states) {
        // Over no state's name, and over no state's box: a compound state's a label is in or out of, not across its border.
        expect(overlap(l, s.text), `"${l.text}" over the name of ${s.path}`).toBe(0)
        if (s.compound)
          expect(inside(l, s.box, 0) || overlap(l, s.box) === 0, `"${l.text}" across ${s.path}'s border`).toBe(true)
        else expect(overlap(l, s.box), `"${l.text}" over ${s.path}`).toBe(0)
      }
    }
    // Each state's name (and what it invokes) inside its box, and the boxes of siblings apart.
    for (const s of states) expect(inside(s.text, s.box), `${s.path}'s name`).toBe(true)
    const parentOf = (path: string) => path.split(".").slice(0, -1).join(".")
    for (const a of states)
      for (const b of states)
        if (a.path < b.path && parentOf(a.path) === parentOf(b.path))
          expect(overlap(a.box, b.box), `${a.path} and ${b.path}`).toBe(0)

    // The photograph, for the docs and for a person to look at (once: both stores draw the same).
    if (storeKind === "sqlite") {
      mkdirSync(join(root, "docs", "screenshots"), { recursive: true })
      // The whole page's picture, cut to the diagram: the page's sticky header stays at its top.
      await page.evaluate(() => window.scrollTo(0, 0))
      const at = (await page.locator("[data-job] .diagram").boundingBox())!
      await page.screenshot({
        path: SCREENSHOT,
        fullPage: true,
        clip: { x: at.x - 8, y: at.y - 8, width: at.width + 16, height: at.height + 8 },
        animations: "disabled",
      })
    }
    await producer.cancel(job.id)
    expect(errors).toEqual([])
  })

  it("draws the throughput chart's text unstretched, however wide the card", async () => {
    const { url, page, errors } = await setUp()
    await page.goto(`${url}#view=stats`)
    const now = page.locator("svg.chart text", { hasText: "now" })
    await now.waitFor()
    const drawn = await now.evaluate((text: SVGTextElement) => {
      // The scale from the text's own units to the screen: the same across as down.
      const m = text.getScreenCTM()!
      const r = text.getBoundingClientRect()
      // The same text in an SVG drawn at its own size, for its shape.
      const ns = "http://www.w3.org/2000/svg"
      const plain = document.createElementNS(ns, "svg")
      plain.setAttribute("width", "100")
      plain.setAttribute("height", "40")
      const copy = document.createElementNS(ns, "text")
      copy.setAttribute("x", "0")
      copy.setAttribute("y", "20")
      copy.setAttribute("font-size", text.getAttribute("font-size") ?? "10")
      copy.textContent = text.textContent
      plain.appendChild(copy)
      document.body.appendChild(plain)
      const p = copy.getBoundingClientRect()
      plain.remove()
      return {
        a: m.a,
        b: m.b,
        c: m.c,
        d: m.d,
        width: r.width,
        height: r.height,
        plainWidth: p.width,
        plainHeight: p.height,
        chartWidth: text.ownerSVGElement!.getBoundingClientRect().width,
      }
    })
    // The card is far wider than the chart's 600 units: the old chart stretched its text 2x across.
    expect(drawn.chartWidth).toBeGreaterThan(900)
    expect(drawn.a).toBeCloseTo(drawn.d, 2)
    expect(drawn.b).toBeCloseTo(0, 5)
    expect(drawn.c).toBeCloseTo(0, 5)
    const aspect = drawn.width / drawn.height
    const plainAspect = drawn.plainWidth / drawn.plainHeight
    expect(aspect / plainAspect).toBeGreaterThan(0.9)
    expect(aspect / plainAspect).toBeLessThan(1.1)
    // And the bars still fill the card.
    const bars = await page.locator("svg.chart svg.bars").boundingBox()
    expect(Math.abs(bars!.width - drawn.chartWidth)).toBeLessThan(3)
    expect(errors).toEqual([])
  })
})
