import { join } from "node:path"
import type { Locator } from "playwright-core"
import { describe, expect, it } from "vitest"
import { allTestJobs } from "../fixtures/jobs.js"
import { allMachineTestJobs, OrderJob } from "../fixtures/machineJobs.js"
import { openManager } from "../fixtures/openManager.js"
import { storeKind } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { haveChromium, useDashboardPage } from "./browserPage.js"

const setUp = useDashboardPage("test/ui/machineJob.test.ts")

const ORDER_STATES = [
  "awaitingPayment",
  "charging",
  "shipping",
  "done",
  "expired",
  "cancelled",
  "failedCharge",
  "failedShipping",
]

const attributes = (locator: Locator, name: string) =>
  locator.evaluateAll((es, n) => es.map((e) => e.getAttribute(n)), name)
const taken = (svg: Locator) =>
  svg
    .locator("g.transition.taken")
    .evaluateAll((gs) => gs.map((g) => `${g.getAttribute("data-from")}>${g.getAttribute("data-to")}`).sort())

/** A worker in this process that runs the machine jobs (the fixture worker process knows only the plain ones). */
const machineWorker = (dataDir: string) =>
  openManager({ dataDir, jobs: [...allTestJobs, ...allMachineTestJobs], concurrency: 2 })

const order = (extra: Partial<typeof OrderJob.params.Type> = {}) => ({
  orderId: "o-7",
  amount: 3,
  effectsFile: join(tempDir(), "effects.log"),
  ...extra,
})

/** Until the order rests (queued, waiting for an event) in `state`. */
const restingIn = (manager: Awaited<ReturnType<typeof machineWorker>>, id: string, state: string) =>
  waitUntil(
    async () => {
      const info = await manager.getJobInfo(id)
      return info.status === "queued" && info.awaitingEvents && info.machineState === state
    },
    20_000,
    `the order to rest in ${state}`,
  )

describe.skipIf(!haveChromium)(`a machine job's page, on ${storeKind}`, () => {
  it("draws the job's own machine with its state lit, sends events from a form built from the type's schema, and follows the state and path", async () => {
    const { dataDir, producer, url, page, errors } = await setUp({ producerJobs: allMachineTestJobs, worker: false })
    await machineWorker(dataDir)
    // The charge step takes a minute: the order stays in `charging` until it is cancelled.
    const job = await producer.dispatch(OrderJob, order({ chargeMs: 60_000 }))
    await restingIn(producer, job.id, "awaitingPayment")

    await page.goto(`${url}#job=${job.id}`)
    const machine = page.locator("[data-job] svg.machine")
    await machine.locator('g.current[data-state="awaitingPayment"]').waitFor()
    // Drawn from the type's definition: every state of the machine, one of them lit.
    expect(new Set(await attributes(machine.locator("g[data-state]"), "data-state"))).toEqual(new Set(ORDER_STATES))
    expect(await attributes(machine.locator("g.current"), "data-state")).toEqual(["awaitingPayment"])
    expect(await machine.locator("g.transition", { hasText: "PAID" }).getAttribute("data-to")).toBe("charging")
    // Its arrows say what takes them as a reader would: the day's timer, the step's end by its name.
    expect(await machine.locator("text.edge-label").allTextContents()).toEqual(
      expect.arrayContaining(["after 1d", "done: charge", "error: charge", "done: ship"]),
    )
    // Each state's name, and what it invokes, inside its box.
    const outside = await machine.locator("g[data-state]").evaluateAll((gs) =>
      gs.flatMap((g) => {
        const box = g.querySelector(":scope > rect")!.getBoundingClientRect()
        const name = g.querySelector(":scope > text")!.getBoundingClientRect()
        const inside =
          name.left >= box.left && name.right <= box.right && name.top >= box.top && name.bottom <= box.bottom
        return inside ? [] : [g.getAttribute("data-state")]
      }),
    )
    expect(outside).toEqual([])
    // Its lifecycle says it rests, holding no slot.
    await page.locator('[data-job] svg.lifecycle g.current[data-state="queued.events"]').waitFor()
    await page.locator('[data-job] h2 [data-wait="waiting for an event"]').waitFor()

    // The event's type is chosen from the schema's; a missing field is named, and nothing is sent.
    const form = page.locator('[data-job] form[data-form="send"]')
    expect(await form.locator('select[name="event-type"] option').allInnerTexts()).toEqual([
      "PAID",
      "CANCEL_ORDER",
      "NOTE",
    ])
    await form.locator('select[name="event-type"]').selectOption({ label: "PAID" })
    await form.locator('button[type="submit"]').click()
    await form.locator('[data-result="error"]', { hasText: 'Invalid event for "order": ref: Missing key' }).waitFor()
    await form.locator('.field.bad[data-path="ref"]', { hasText: "Missing key" }).waitFor()
    await new Promise((r) => setTimeout(r, 300))
    expect(await producer.getJobInfo(job.id)).toMatchObject({ status: "queued", machineState: "awaitingPayment" })

    await form.locator('[data-path="ref"] input').fill("tx-7")
    await form.locator('button[type="submit"]').click()
    await form.locator('[data-result="ok"]', { hasText: "Sent PAID" }).waitFor()
    // The worker applies it: the page follows the machine into `charging`, the way it came lit.
    await machine.locator('g.current[data-state="charging"]').waitFor()
    expect(await attributes(machine.locator("g.current"), "data-state")).toEqual(["charging"])
    expect(await taken(machine)).toEqual(["awaitingPayment>charging"])
    expect(new Set(await attributes(machine.locator("g.visited"), "data-state"))).toEqual(
      new Set(["awaitingPayment", "charging"]),
    )
    await page.locator('[data-job] [data-machine-path="awaitingPayment charging"]').waitFor()

    // An event with no fields of its own: the form has none for it.
    await form.locator('select[name="event-type"]').selectOption({ label: "CANCEL_ORDER" })
    expect(await form.locator("[data-path]").count()).toBe(0)
    await form.locator('button[type="submit"]').click()
    await machine.locator('g.current[data-state="cancelled"]').waitFor()
    expect(await job.result()).toMatchObject({ result: "cancelled" })
    expect(await taken(machine)).toEqual(["awaitingPayment>charging", "charging>cancelled"])
    await page.locator('[data-job] [data-machine-path="awaitingPayment charging cancelled"]').waitFor()
    // An ended job takes no events: the form goes.
    await form.waitFor({ state: "detached" })
    expect(errors).toEqual([])
  })

  it("shows the state and path as text when the dashboard's manager does not know the type, and offers no form", async () => {
    // The producer the page runs in has only the plain test jobs.
    const { dataDir, url, page, errors } = await setUp({ worker: false })
    const worker = await machineWorker(dataDir)
    const job = await worker.dispatch(OrderJob, order({ chargeMs: 60_000 }))
    await restingIn(worker, job.id, "awaitingPayment")

    await page.goto(`${url}#job=${job.id}`)
    await page.locator('[data-job] [data-machine-state="awaitingPayment"]').waitFor()
    expect(await page.locator("[data-job] [data-machine-undrawn]").innerText()).toContain(
      "does not know the type order",
    )
    expect(await page.locator("[data-job] svg.machine").count()).toBe(0)
    expect(await page.locator('[data-job] form[data-form="send"]').count()).toBe(0)

    // Followed as it moves: into `charging` while it runs, then to its end.
    await worker.send(job.id, { type: "PAID", ref: "tx-8" })
    await page.locator('[data-job] [data-machine-state="charging"]').waitFor()
    await worker.send(job.id, { type: "CANCEL_ORDER" })
    expect(await job.result()).toMatchObject({ result: "cancelled" })
    await page.locator('[data-job] [data-machine-state="cancelled"]').waitFor()
    expect(await page.locator("[data-job] [data-machine-state]").getAttribute("data-machine-path")).toBe(
      "awaitingPayment charging cancelled",
    )
    expect(await page.locator("[data-job] [data-machine-state]").innerText()).toContain(
      "path: awaitingPayment → charging → cancelled",
    )
    expect(errors).toEqual([])
  })
})
