import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { allTestJobs } from "../fixtures/jobs.js"
import { allMachineTestJobs, OrderJob } from "../fixtures/machineJobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { cli, machineJobs } from "./cli.js"

const jobs = [...allTestJobs, ...allMachineTestJobs]

/** An order resting in awaitingPayment, dispatched by `manager`. */
const restingOrder = async (manager: Awaited<ReturnType<typeof openManager>>, dataDir: string) => {
  const job = await manager.dispatch(OrderJob, { orderId: "o-1", amount: 5, effectsFile: join(dataDir, "fx") })
  await waitUntil(
    async () => (await manager.getJobInfo(job.id)).machineState === "awaitingPayment",
    20_000,
    "the order to start",
  )
  return job
}

/** A user error is one line on stderr, exit 2. */
const expectUsage = (r: { code: number | null; stderr: string }, ...parts: string[]) => {
  expect(r.code, r.stderr).toBe(2)
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1)
  for (const part of parts) expect(r.stderr).toContain(part)
}

describe("jobstate send", () => {
  it("sends an event to a machine job another process runs, which applies it; refuses bad JSON, a bad event and an unknown id with exit 2, storing nothing", async () => {
    const dataDir = tempDir()
    const worker = await openManager({ dataDir, jobs, concurrency: 2 })
    const job = await restingOrder(worker, dataDir)
    const send = (event: string, id = job.id) => cli("-d", dataDir, "--jobs", machineJobs, "send", id, event)

    // By a prefix of its id, as the other commands take it.
    const note = await send('{"type":"NOTE","text":"from the shell"}', job.id.slice(0, 8))
    expect(note.code, note.stderr).toBe(0)
    expect(note.stdout).toBe(`Sent NOTE to order job ${job.id}\n`)

    expectUsage(await send('{"type":"NOTE",'), "jobstate: The event is not valid JSON:")
    const missing = await send('{"type":"PAID"}')
    expectUsage(missing)
    expect(missing.stderr).toBe('jobstate: InvalidParams: Invalid event for "order": ref: Missing key\n')
    expectUsage(
      await send('{"type":"PAYD","ref":"tx-1"}'),
      'type: Expected "PAID" | "CANCEL_ORDER" | "NOTE", got "PAYD" (did you mean "PAID"?)',
    )
    expectUsage(await send('{"type":"NOTE","text":"x","extra":1}'), "extra: Expected no excess property")
    expectUsage(
      await send('{"type":"NOTE","text":"lost"}', "00000000-0000-4000-8000-000000000000"),
      "JobNotFound: No job with id 00000000-0000-4000-8000-000000000000",
    )
    // Without the module that defines its type, the CLI cannot check what the job takes.
    expectUsage(
      await cli("-d", dataDir, "send", job.id, '{"type":"NOTE","text":"unchecked"}'),
      `Job ${job.id} is of type "order", which this command does not know: add --jobs`,
    )

    const cancel = await send('{"type":"CANCEL_ORDER"}')
    expect(cancel.code, cancel.stderr).toBe(0)
    // Applied in order, and only what was sent whole.
    expect(await job.result()).toEqual({ result: "cancelled", tracking: null, notes: ["from the shell"] })
    expectUsage(await send('{"type":"NOTE","text":"late"}'), "InvalidTransition: Cannot send", "it is completed")
  })

  it("stores an event for a job no worker runs, says how to start one, and the worker applies it", async () => {
    const dataDir = tempDir()
    const worker = await openManager({ dataDir, jobs, concurrency: 2 })
    const job = await restingOrder(worker, dataDir)
    await worker.close()

    const sent = await cli("-d", dataDir, "--jobs", machineJobs, "send", job.id, '{"type":"NOTE","text":"while away"}')
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout).toContain(
      `No worker of type "order" is running on ${dataDir}: start \`npx jobstate -d ${dataDir} --jobs ${machineJobs} worker\` to apply it.`,
    )
    const next = await openManager({ dataDir, jobs, concurrency: 2 })
    await next.send(job.id, { type: "CANCEL_ORDER" })
    expect(await (await next.handle(job.id)).result()).toMatchObject({ notes: ["while away"], result: "cancelled" })
  })
})

describe("jobstate viz --job", () => {
  it("prints a machine job type's own machine: its states, its transitions as a reader says them", async () => {
    const { code, stdout, stderr } = await cli("--jobs", machineJobs, "viz", "--job", "order")
    expect(code, stderr).toBe(0)
    expect(stdout.split("\n")[0]).toBe("stateDiagram-v2")
    for (const state of ["awaitingPayment", "charging", "shipping", "done", "expired", "cancelled", "failedCharge"])
      expect(stdout).toMatch(new RegExp(`\\b${state}\\b`))
    expect(stdout).toContain("[*] --> awaitingPayment")
    expect(stdout).toContain("awaitingPayment --> charging : PAID")
    expect(stdout).toContain("awaitingPayment --> expired : after 1d")
    expect(stdout).toContain("charging --> shipping : done: charge")
    expect(stdout).toContain("shipping --> failedShipping : error: ship")
    expect(stdout).toContain("note right of charging : invokes charge")
    // The machine's own NOTE (taken in any state) starts at the machine's block, not at a state of its name.
    expect(stdout).toMatch(/^ {2}\}\n {2}order --> order : NOTE \/ assign$/m)
    expect(stdout).not.toContain("jobManager")

    const json = await cli("--jobs", machineJobs, "viz", "--job", "order", "--format", "json")
    const [graph] = JSON.parse(json.stdout) as Array<{ id: string; states: Array<{ key: string }> }>
    expect(graph!.id).toBe("order")
    expect(graph!.states.map((s) => s.key)).toContain("failedShipping")
    expect((await cli("--jobs", machineJobs, "viz", "--job", "order", "--format", "dot")).stdout).toContain(
      '"order.awaitingPayment" -> "order.charging" [label="PAID"]',
    )
  })

  it("refuses a type it does not know (with the near one), a type that is not a machine job, and --job with --machine", async () => {
    expectUsage(
      await cli("--jobs", machineJobs, "viz", "--job", "ordr"),
      'Unknown job type "ordr"',
      '(did you mean "order"?)',
    )
    expectUsage(await cli("viz", "--job", "order"), "(a type of your own: add --jobs <the module that exports it>)")
    expectUsage(
      await cli("--jobs", machineJobs, "viz", "--job", "ship"),
      'Job type "ship" is not a machine job',
      "machine job types: order",
    )
    expectUsage(
      await cli("--jobs", machineJobs, "viz", "--job", "order", "--machine", "job"),
      "cannot be used with option '--machine <machine>'",
    )
  })
})

describe("jobstate list and show, of a machine job", () => {
  it("list says a resting order is resting (not delayed by its timer) and --status finds it; show gives its state and path", async () => {
    const dataDir = tempDir()
    const worker = await openManager({ dataDir, jobs, concurrency: 2 })
    const job = await restingOrder(worker, dataDir)
    await waitUntil(async () => (await worker.getJobInfo(job.id)).awaitingEvents)
    const list = await cli("-d", dataDir, "list")
    expect(list.stdout).toMatch(new RegExp(`${job.id}\\s+order\\s+resting`))
    const resting = await cli("-d", dataDir, "list", "--status", "resting")
    expect(resting.stdout).toContain(job.id)
    expect((await cli("-d", dataDir, "list", "--status", "delayed")).stdout).not.toContain(job.id)
    await worker.send(job.id, { type: "NOTE", text: "x" })
    await worker.send(job.id, { type: "CANCEL_ORDER" })
    await (await worker.handle(job.id)).result()
    const show = await cli("-d", dataDir, "show", job.id)
    expect(show.stdout).toMatch(/machine\s+cancelled \(awaitingPayment → cancelled\)/)
  })
})
