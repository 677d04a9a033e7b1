import { createServer, request, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it, vi } from "vitest"
import { parseRecording, replayRows } from "../../src/machines/inspectionRecording.js"
import type { JobManager } from "../../src/index.js"
import { dashboard, type DashboardOptions } from "../../src/ui/index.js"
import { allTestJobs, CountJob, NoopJob, WaitJob } from "../fixtures/jobs.js"
import { allMachineTestJobs, OrderJob } from "../fixtures/machineJobs.js"
import { openManager } from "../fixtures/openManager.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { recordNoopRun } from "./recording.js"

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** The dashboard on an ephemeral port; `wrap` lets a test put it inside an app's own server. */
const serve = async (
  manager: JobManager,
  options: DashboardOptions = {},
  wrap?: (h: ReturnType<typeof dashboard>) => ReturnType<typeof dashboard>,
) => {
  const handler = dashboard(manager, options)
  const server = createServer(wrap ? wrap(handler) : handler)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const call = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers)
    if (init.method === "POST" && !headers.has("origin")) headers.set("origin", origin)
    const body = init.json === undefined ? init.body : JSON.stringify(init.json)
    const res = await fetch(origin + path, { ...init, headers, body, redirect: "manual" })
    const text = await res.text()
    let json: any
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, json, text, headers: res.headers }
  }
  return { origin, call }
}

/** A producer with the dashboard, and a worker in the same data dir that runs the jobs. */
const setUp = async (options: DashboardOptions = {}) => {
  const dataDir = tempDir()
  const producer = await openManager({ dataDir, concurrency: 0 })
  const worker = await openManager({ dataDir, concurrency: 4 })
  return { producer, worker, ...(await serve(producer, options)) }
}

describe("the dashboard's API", () => {
  it("lists jobs newest first and paged, filters them by status, type and id prefix, and counts them", async () => {
    const { producer, call } = await setUp()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await producer.dispatch(NoopJob, { tag: `t${i}` })).id)
    for (const id of ids) await (await producer.handle(id)).result()
    const waiting = await producer.dispatch(WaitJob, {})
    await waitUntil(async () => (await producer.getJobInfo(waiting.id)).status === "running")

    const page = await call("/api/jobs?limit=2")
    expect(page.status).toBe(200)
    expect(page.json.jobs.map((j: any) => j.id)).toEqual([waiting.id, ids[4]])
    expect(page.json).toMatchObject({ total: 6, more: true, offset: 0, limit: 2 })
    const next = await call("/api/jobs?limit=2&offset=2")
    expect(next.json.jobs.map((j: any) => j.id)).toEqual([ids[3], ids[2]])

    expect((await call("/api/jobs?status=completed&name=noop")).json.total).toBe(5)
    expect((await call("/api/jobs?status=running")).json.jobs.map((j: any) => j.id)).toEqual([waiting.id])
    expect((await call("/api/jobs?name=wait")).json.jobs.map((j: any) => j.id)).toEqual([waiting.id])
    const byPrefix = await call(`/api/jobs?text=${ids[1]!.slice(0, 12)}`)
    expect(byPrefix.json.jobs.map((j: any) => j.id)).toEqual([ids[1]])
    expect((await call(`/api/jobs?text=${ids[1]!.slice(0, 12)}&status=failed`)).json.jobs).toEqual([])

    const overview = await call("/api/overview")
    expect(new Set(overview.json.counts)).toEqual(
      new Set([
        { status: "completed", name: "noop", count: 5 },
        { status: "running", name: "wait", count: 1 },
      ]),
    )
    expect(overview.json.types).toEqual(producer.listJobTypes())
    expect(overview.json.ended.reduce((n: number, e: any) => n + e.count, 0)).toBe(5)
    expect(overview.json.schedules).toEqual([])
    await producer.cancel(waiting.id)
  })

  it("gives a job's details: params, output, attempts, timings and log; and the type's schema and the lifecycle layout", async () => {
    const { producer, call } = await setUp()
    const job = await producer.dispatch(CountJob, { n: 3, effectsFile: `${tempDir()}/fx` })
    await job.result()
    const details = await call(`/api/jobs/${job.id}`)
    expect(details.status).toBe(200)
    expect(details.json.params).toMatchObject({ n: 3 })
    expect(details.json.job).toMatchObject({
      id: job.id,
      name: "count",
      status: "completed",
      attempts: 1,
      failures: 0,
      checkpoints: 3,
      output: { counted: 3 },
    })
    expect(details.json.job.startedAt).toEqual(expect.any(String))
    expect(details.json.job.completedAt).toEqual(expect.any(String))
    expect(Array.isArray(details.json.logs)).toBe(true)
    expect((await call(`/api/jobs/${job.id}/logs?afterSeq=0`)).json.logs).toEqual(details.json.logs)

    const schema = await call("/api/types/count")
    expect(schema.json.params.required).toEqual(expect.arrayContaining(["n", "effectsFile"]))
    const lifecycle = await call("/api/lifecycle")
    const paths = lifecycle.json.boxes.map((b: any) => b.path)
    // Drawn from the machine: every state of it, and no other.
    expect(new Set(paths)).toEqual(
      new Set([
        "queued",
        "queued.ready",
        "queued.waiting",
        "queued.children",
        "queued.events",
        "running",
        "running.active",
        "running.pausing",
        "running.cancelling",
        "paused",
        "completed",
        "failed",
        "cancelled",
      ]),
    )
    expect(lifecycle.json.edges).toContainEqual(
      expect.objectContaining({ from: "queued", to: "running", labels: ["START"] }),
    )
  })

  it("pauses, resumes, cancels and retries a job another manager runs, with POSTs", async () => {
    const { producer, call } = await setUp()
    const job = await producer.dispatch(WaitJob, {})
    await waitUntil(async () => (await producer.getJobInfo(job.id)).status === "running")
    // The response carries the job as the action left it, for the page to show at once.
    const paused = (await call(`/api/jobs/${job.id}/pause`, { method: "POST" })).json
    expect(paused).toMatchObject({
      id: job.id,
      action: "pause",
      status: "paused",
      job: { id: job.id, status: "paused", pausedBy: "user" },
    })
    expect((await producer.getJobInfo(job.id)).status).toBe("paused")
    expect((await call(`/api/jobs/${job.id}/resume`, { method: "POST" })).json.status).toMatch(/queued|running/)
    await waitUntil(async () => (await producer.getJobInfo(job.id)).status === "running")
    expect((await call(`/api/jobs/${job.id}/cancel`, { method: "POST" })).json.status).toBe("cancelled")
    expect((await call(`/api/jobs/${job.id}/retry`, { method: "POST" })).json.status).toMatch(/queued|running/)
    await waitUntil(async () => (await producer.getJobInfo(job.id)).status === "running")
    // The details tell the path it took, from the store.
    expect((await call(`/api/jobs/${job.id}`)).json.history.map((s: any) => s.status)).toEqual([
      "queued",
      "running",
      "paused",
      "queued",
      "running",
      "cancelled",
      "queued",
      "running",
    ])
    // A transition the job does not allow is a conflict, said clearly.
    const again = await call(`/api/jobs/${job.id}/resume`, { method: "POST" })
    expect(again.status).toBe(409)
    expect(again.json.error).toMatch(/resume/i)
    await producer.cancel(job.id)
  })

  it("dispatches by name with the same validation errors as dispatchByName, per path", async () => {
    const { producer, call } = await setUp()
    const bad = await call("/api/dispatch", {
      method: "POST",
      json: { name: "count", params: { n: "three", extra: 1 } },
    })
    expect(bad.status).toBe(422)
    const expected = await producer.dispatchByName("count", { n: "three", extra: 1 }).catch((e) => e)
    expect(bad.json.issues).toEqual(expected.issues)
    expect(bad.json.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(["n", "extra", "effectsFile"]))
    expect(bad.json.error).toBe(expected.message)
    expect(await producer.listJobs()).toEqual([])

    const good = await call("/api/dispatch", {
      method: "POST",
      json: { name: "noop", params: { tag: "from the page" }, priority: 3 },
    })
    expect(good.status).toBe(201)
    expect(await (await producer.handle(good.json.id)).result()).toEqual({ tag: "from the page" })
    expect((await producer.getJobInfo(good.json.id)).priority).toBe(3)

    const unknown = await call("/api/dispatch", { method: "POST", json: { name: "nope", params: {} } })
    expect(unknown.status).toBe(404)
    expect(unknown.json.known).toEqual(producer.listJobTypes())
  })

  it("refuses bad requests with a 4xx and a clear JSON message", async () => {
    const { producer, call, origin } = await setUp()
    const missing = "00000000-0000-4000-8000-000000000000"
    for (const [path, init] of [
      [`/api/jobs/${missing}`, {}],
      [`/api/jobs/${missing}/logs`, {}],
      [`/api/jobs/${missing}/pause`, { method: "POST" }],
    ] as const) {
      const r = await call(path, init)
      expect(r.status, path).toBe(404)
      expect(r.json.error, path).toMatch(missing)
    }
    const badJson = await call("/api/dispatch", {
      method: "POST",
      body: "{ nope",
      headers: { "content-type": "application/json" },
    })
    expect(badJson.status).toBe(400)
    expect(badJson.json.error).toMatch(/not valid JSON/)
    const crossOrigin = await call("/api/dispatch", {
      method: "POST",
      json: { name: "noop", params: {} },
      headers: { origin: "http://evil.example" },
    })
    expect(crossOrigin.status).toBe(403)
    expect(crossOrigin.json.error).toMatch(/Cross-origin/)
    // A POST with no Origin at all (not from a page of this origin) is refused too.
    const noOrigin = await new Promise<IncomingMessage>((resolve) =>
      request(`${origin}/api/dispatch`, { method: "POST" }, resolve).end("{}"),
    )
    expect(noOrigin.statusCode).toBe(403)
    expect(await producer.listJobs()).toEqual([])
    expect((await call("/api/jobs?status=sleeping")).status).toBe(400)
    expect((await call("/api/jobs?limit=-1")).status).toBe(400)
    expect((await call("/api/nothing")).status).toBe(404)
    expect((await call("/api/jobs", { method: "DELETE" })).status).toBe(405)
    const job = await producer.dispatch(NoopJob, {})
    expect((await call(`/api/jobs/${job.id}/explode`, { method: "POST" })).status).toBe(404)
  })

  it("for a machine job: its type's events and machine, its state, and events sent with POSTs, refused as manager.send refuses them", async () => {
    const dataDir = tempDir()
    const jobs = [...allTestJobs, ...allMachineTestJobs]
    const producer = await openManager({ dataDir, jobs, concurrency: 0 })
    await openManager({ dataDir, jobs, concurrency: 2 })
    const { call, origin } = await serve(producer)
    const job = await producer.dispatch(OrderJob, { orderId: "o-9", amount: 1, effectsFile: `${tempDir()}/fx` })
    await waitUntil(async () => (await producer.getJobInfo(job.id)).awaitingEvents, 20_000, "the order to rest")

    const type = await call("/api/types/order")
    expect(type.json).toMatchObject({ machine: true, events: { anyOf: expect.any(Array) } })
    const machine = await call("/api/types/order/machine")
    expect(machine.status).toBe(200)
    expect(new Set(machine.json.boxes.map((b: any) => b.path))).toEqual(
      new Set([
        "awaitingPayment",
        "charging",
        "shipping",
        "done",
        "expired",
        "cancelled",
        "failedCharge",
        "failedShipping",
      ]),
    )
    expect(machine.json.edges).toContainEqual(
      expect.objectContaining({ from: "awaitingPayment", to: "charging", labels: ["PAID"] }),
    )
    expect((await call("/api/types/ship")).json).toMatchObject({ machine: false, events: null })
    const plain = await call("/api/types/ship/machine")
    expect(plain.status).toBe(404)
    expect(plain.json.error).toMatch(/not a machine job/)
    expect((await call("/api/types/nope/machine")).status).toBe(404)
    expect((await call(`/api/jobs/${job.id}/info`)).json.job).toMatchObject({
      id: job.id,
      status: "queued",
      awaitingEvents: true,
      machineState: "awaitingPayment",
      machinePath: ["awaitingPayment"],
    })

    const send = (event: unknown, headers: Record<string, string> = {}, id = job.id) =>
      call(`/api/jobs/${id}/send`, { method: "POST", json: event, headers })
    const bad = await send({ type: "PAID" })
    expect(bad.status).toBe(422)
    expect(bad.json.error).toBe('Invalid event for "order": ref: Missing key')
    expect(bad.json.issues).toEqual([{ path: "ref", message: "Missing key" }])
    expect((await send([{ type: "NOTE", text: "a list" }])).status).toBe(400)
    const notJson = await call(`/api/jobs/${job.id}/send`, { method: "POST", body: "{ nope" })
    expect(notJson.status).toBe(400)
    expect((await send({ type: "NOTE", text: "lost" }, {}, "00000000-0000-4000-8000-000000000000")).status).toBe(404)
    // Guarded as every action is: from another origin, or from no page at all, nothing is stored.
    const crossOrigin = await send({ type: "NOTE", text: "evil" }, { origin: "http://evil.example" })
    expect(crossOrigin.status).toBe(403)
    const noOrigin = await new Promise<IncomingMessage>((resolve) =>
      request(`${origin}/api/jobs/${job.id}/send`, { method: "POST" }, resolve).end('{"type":"NOTE","text":"evil"}'),
    )
    expect(noOrigin.statusCode).toBe(403)

    const note = await send({ type: "NOTE", text: "from the page" })
    expect(note.status).toBe(202)
    expect(note.json).toMatchObject({ id: job.id, event: "NOTE", job: { id: job.id } })
    expect((await send({ type: "CANCEL_ORDER" })).status).toBe(202)
    expect(await job.result()).toEqual({ result: "cancelled", tracking: null, notes: ["from the page"] })
    const late = await send({ type: "NOTE", text: "late" })
    expect(late.status).toBe(409)
    expect(late.json.error).toMatch(/Cannot send "NOTE" to job .*: it is completed/)
  })

  it("requires the token for everything when one is set: a Bearer header, or the cookie ?token= sets", async () => {
    const { call } = await setUp({ token: "s3cret" })
    expect((await call("/api/overview")).status).toBe(401)
    expect((await call("/")).status).toBe(401)
    expect((await call("/assets/app.js")).status).toBe(401)
    expect((await call("/api/events")).status).toBe(401)
    expect((await call("/api/overview", { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
    expect((await call("/api/dispatch", { method: "POST", json: { name: "noop" } })).status).toBe(401)
    expect((await call("/?token=wrong")).status).toBe(401)
    expect((await call("/api/overview", { headers: { authorization: "Bearer s3cret" } })).status).toBe(200)

    const login = await call("/?token=s3cret")
    expect(login.status).toBe(303)
    expect(login.headers.get("location")).toBe("./")
    const cookie = login.headers.get("set-cookie")!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    const withCookie = { cookie: cookie.split(";")[0]! }
    expect((await call("/", { headers: withCookie })).status).toBe(200)
    expect(
      (await call("/api/dispatch", { method: "POST", json: { name: "noop", params: {} }, headers: withCookie })).status,
    ).toBe(201)
  })

  it("by default, without a token, answers only loopback names: a forged Host or Origin (DNS rebinding) reads nothing and controls nothing", async () => {
    const { producer, call, origin } = await setUp()
    const job = await producer.dispatch(WaitJob, {}, { delayMs: 60_000 })
    const port = new URL(origin).port
    const send = (path: string, headers: Record<string, string>, method = "GET") =>
      new Promise<IncomingMessage>((resolve) => request(`${origin}${path}`, { method, headers }, resolve).end())
    expect((await call("/api/jobs")).status).toBe(200)
    expect((await send("/api/jobs", { host: `localhost:${port}` })).statusCode).toBe(200)
    expect((await send("/api/jobs", { host: `127.0.0.5:${port}` })).statusCode).toBe(200)
    // A page on attacker.example whose name now resolves to 127.0.0.1: its requests carry its own name.
    const forged = { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` }
    expect((await send("/api/jobs", forged)).statusCode).toBe(403)
    expect((await send(`/api/jobs/${job.id}`, forged)).statusCode).toBe(403)
    expect((await send("/api/dispatch", forged, "POST")).statusCode).toBe(403)
    expect((await send(`/api/jobs/${job.id}/cancel`, forged, "POST")).statusCode).toBe(403)
    expect((await producer.getJobInfo(job.id)).status).toBe("queued")
  })

  it("with a token, answers any name, but only with the token; an app may name its own hosts instead", async () => {
    const withToken = await setUp({ token: "s3cret" })
    const port = new URL(withToken.origin).port
    const send = (origin: string, headers: Record<string, string>) =>
      new Promise<IncomingMessage>((resolve) => request(`${origin}/api/overview`, { headers }, resolve).end())
    expect((await send(withToken.origin, { host: `jobs.example.com:${port}` })).statusCode).toBe(401)
    expect(
      (await send(withToken.origin, { host: `jobs.example.com:${port}`, authorization: "Bearer s3cret" })).statusCode,
    ).toBe(200)
    const named = await setUp({ allowedHosts: ["jobs.internal"] })
    const namedPort = new URL(named.origin).port
    expect((await send(named.origin, { host: `jobs.internal:${namedPort}` })).statusCode).toBe(200)
    expect((await send(named.origin, { host: `127.0.0.1:${namedPort}` })).statusCode).toBe(403)
  })

  it("refuses a Host it was not told to allow (DNS rebinding), as jobstate ui does on loopback", async () => {
    const { call, origin } = await setUp({ allowedHosts: ["localhost", "127.0.0.1"] })
    expect((await call("/api/overview")).status).toBe(200)
    const rebound = await new Promise<IncomingMessage>((resolve) =>
      request(`${origin}/api/overview`, { headers: { host: "evil.example:80" } }, resolve).end(),
    )
    expect(rebound.statusCode).toBe(403)
  })
})

describe("mounted in an app", () => {
  it("works under /admin/jobs with basePath, and with a router that strips the prefix", async () => {
    const dataDir = tempDir()
    const producer = await openManager({ dataDir, concurrency: 0 })
    const app =
      (h: ReturnType<typeof dashboard>): ReturnType<typeof dashboard> =>
      (req, res) => {
        if (req.url?.startsWith("/admin/jobs")) return h(req, res)
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("the app")
      }
    const withBase = await serve(producer, { basePath: "/admin/jobs" }, app)
    expect((await withBase.call("/")).text).toBe("the app")
    const bare = await withBase.call("/admin/jobs")
    expect(bare.status).toBe(308)
    expect(bare.headers.get("location")).toBe("/admin/jobs/")
    const page = await withBase.call("/admin/jobs/")
    expect(page.status).toBe(200)
    expect(page.text).toMatch(/<script type="module" src="assets\/app.js">/)
    expect((await withBase.call("/admin/jobs/assets/app.js")).status).toBe(200)
    expect((await withBase.call("/admin/jobs/api/overview")).json.types).toEqual(producer.listJobTypes())
    const job = await producer.dispatch(NoopJob, {})
    expect((await withBase.call(`/admin/jobs/api/jobs/${job.id}`)).json.job.id).toBe(job.id)

    // Express-style mounting: the router strips its prefix from req.url and keeps originalUrl.
    const stripping =
      (h: ReturnType<typeof dashboard>): ReturnType<typeof dashboard> =>
      (req, res) => {
        if (!req.url?.startsWith("/admin/jobs")) return void res.writeHead(404).end()
        Object.assign(req, { originalUrl: req.url })
        req.url = req.url.slice("/admin/jobs".length) || "/"
        h(req, res)
      }
    const stripped = await serve(producer, {}, stripping)
    const bare2 = await stripped.call("/admin/jobs")
    expect(bare2.status).toBe(308)
    expect(bare2.headers.get("location")).toBe("/admin/jobs/")
    expect((await stripped.call("/admin/jobs/")).status).toBe(200)
    expect((await stripped.call(`/admin/jobs/api/jobs/${job.id}`)).json.job.id).toBe(job.id)
    expect((await stripped.call("/admin/jobs/api/jobs/x/pause", { method: "POST" })).status).toBe(404)
  })
})

describe("the live feed", () => {
  it("streams a job's status and progress events as Server-Sent Events", async () => {
    const { producer, origin } = await setUp()
    const events: any[] = []
    let ready = false
    const res = await new Promise<IncomingMessage>((resolve) => request(`${origin}/api/events`, resolve).end())
    expect(res.headers["content-type"]).toMatch(/text\/event-stream/)
    let buffer = ""
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (/^event: ready/m.test(block)) ready = true
        const data = /^data: (.*)$/m.exec(block)
        if (data && !/^event:/m.test(block)) events.push(JSON.parse(data[1]!))
      }
    })
    await waitUntil(() => ready, 20_000, "the ready event")
    // From `ready` on, nothing is missed: the worker already records its events for this page.
    const job = await producer.dispatch(CountJob, { n: 5, effectsFile: `${tempDir()}/fx`, delayMs: 30 })
    await waitUntil(
      () => events.some((e) => e.id === job.id && e.type === "status" && e.status === "completed"),
      30_000,
      "the completed event",
    )
    const mine = events.filter((e) => e.id === job.id)
    expect(mine.filter((e) => e.type === "status").map((e) => e.status)).toEqual(
      expect.arrayContaining(["queued", "running", "completed"]),
    )
    expect(mine.some((e) => e.type === "progress" && e.progress._tag === "Count")).toBe(true)
    expect(mine.every((e) => e.name === "count" && typeof e.at === "string")).toBe(true)
    res.destroy()
  })
})

describe("the page", () => {
  it("loads its HTML and every asset from the dashboard itself, with no external URL in them", async () => {
    const { producer } = await setUp()
    const { call, origin } = await serve(producer)
    const page = await call("/")
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/text\/html/)
    // Follow the page: its links and scripts, the import map, and each module's imports.
    const seen = new Map<string, string>([["/", page.text]])
    const queue = [...refsOf(page.text, "/")]
    while (queue.length > 0) {
      const path = queue.shift()!
      if (seen.has(path)) continue
      const r = await call(path)
      expect(r.status, path).toBe(200)
      seen.set(path, r.text)
      queue.push(...refsOf(r.text, path))
    }
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        "/assets/app.js",
        "/assets/style.css",
        "/assets/vendor/preact.js",
        "/assets/vendor/preact-hooks.js",
        "/assets/vendor/htm.js",
        "/assets/diagram.js",
        "/assets/schemaForm.js",
        "/assets/format.js",
        "/assets/validate.js",
        "/assets/timeline.js",
      ]),
    )
    for (const [path, text] of seen) {
      const external = (text.match(/https?:\/\/[^\s"'`)<]+/g) ?? []).filter(
        (u) => !u.startsWith(origin) && !u.startsWith("http://www.w3.org/"),
      )
      expect(external, path).toEqual([])
    }
  })
})

/** Paths a page or module loads: href/src attributes, import-map entries, and relative or mapped imports. */
const refsOf = (text: string, from: string): string[] => {
  const base = new URL(from, "http://x/")
  const mapped: Record<string, string> = {
    preact: "./assets/vendor/preact.js",
    "preact/hooks": "./assets/vendor/preact-hooks.js",
    htm: "./assets/vendor/htm.js",
  }
  const refs = new Set<string>()
  // A data: URL is inline, nothing to load (the page's empty favicon).
  for (const m of text.matchAll(/(?:href|src)="([^"]+)"/g))
    if (!m[1]!.startsWith("data:")) refs.add(new URL(m[1]!, base).pathname)
  for (const m of text.matchAll(/"(\.\/assets\/[^"]+)"/g)) refs.add(new URL(m[1]!, "http://x/").pathname)
  for (const m of text.matchAll(/from\s*"([^"]+)"/g)) {
    const spec = m[1]!
    if (spec.startsWith(".")) refs.add(new URL(spec, base).pathname)
    else if (mapped[spec] !== undefined) refs.add(new URL(mapped[spec], "http://x/").pathname)
    else refs.add(`unknown bare import ${spec}`)
  }
  return [...refs]
}

describe("replay", () => {
  it("turns an inspect --out recording into the timeline rows the CLI's replay shows, and refuses what is not one", async () => {
    const { lines, manager: producer, id } = await recordNoopRun()
    const { call } = await serve(producer)
    const recording = lines.join("\n") // what was recorded so far (the manager records on)
    const replayed = await call("/api/replay", {
      method: "POST",
      body: recording,
      headers: { "content-type": "text/plain" },
    })
    expect(replayed.status).toBe(200)
    expect(replayed.json.rows).toEqual(replayRows(parseRecording(recording, "test")))
    const mine = replayed.json.rows.filter((r: any) => r.actor.includes(id))
    // The job's actor, from its start to its worker's word that it is done.
    expect(mine.map((r: any) => r.state)).toContain("running.active")
    expect(mine.map((r: any) => r.event)).toContainEqual(expect.stringMatching(/^WORKER\.DONE ← worker/))

    const notOne = await call("/api/replay", {
      method: "POST",
      body: "hello\n",
      headers: { "content-type": "text/plain" },
    })
    expect(notOne.status).toBe(400)
    expect(notOne.json.error).toMatch(/:1 is not an inspection event/)
    expect((await call("/api/replay", { method: "POST", body: "" })).status).toBe(400)
  })
})

describe("the dashboard's triage API", () => {
  it("refuses a bulk action it cannot do safely, and a bad time or schedule, naming what was wrong; nothing changes", async () => {
    const { producer, call } = await setUp()
    const waiting = await producer.dispatch(WaitJob, {})
    const refusals: Array<[string, unknown, number, string]> = [
      [
        "/api/bulk",
        { action: "delete", ids: [waiting.id] },
        400,
        'Unknown action "delete": one of pause, resume, cancel, retry',
      ],
      [
        "/api/bulk",
        { action: "cancel", filter: {} },
        400,
        "A bulk filter names a status, a type or a parent: it never takes every job",
      ],
      ["/api/bulk", { action: "cancel", ids: [] }, 400, "`ids` must be a non-empty array of job ids"],
      ["/api/bulk", { action: "cancel" }, 400, "Give `ids` (an array) or `filter` (an object)"],
      ["/api/schedules", { name: "s", type: "noop", params: {}, cron: "every day" }, 422, "cron"],
      ["/api/schedules", { name: "s", type: "nope", params: {}, cron: "0 3 * * *" }, 404, "nope"],
      ["/api/schedules/none/remove", undefined, 404, 'No schedule named "none"'],
      ["/api/dispatch", { name: "noop", params: {}, delayMs: "soon" }, 422, "delayMs"],
    ]
    for (const [path, json, status, error] of refusals) {
      const r = await call(path, { method: "POST", json })
      expect([path, r.status]).toEqual([path, status])
      expect(r.json.error).toContain(error)
    }
    const bad = await call("/api/jobs?since=yesterday")
    expect(bad.status).toBe(400)
    expect(bad.json.error).toBe('since must be a time (ISO 8601 or ms since the epoch), got "yesterday"')
    expect((await producer.getJobInfo(waiting.id)).status).not.toBe("cancelled")
    expect(await producer.listSchedules()).toEqual([])
    expect((await producer.listJobs()).map((j) => j.id)).toEqual([waiting.id])
    await producer.cancel(waiting.id)
  })

  it("acts on every job a filter matches, through the manager, and reports the ones refused", async () => {
    const { producer, call } = await setUp()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await producer.dispatch(WaitJob, {})).id)
    const done = await producer.dispatch(NoopJob, { tag: "done" })
    await done.result()
    const r = await call("/api/bulk", { method: "POST", json: { action: "cancel", filter: { name: "wait" } } })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ action: "cancel", matched: 3, done: 3, refused: [] })
    for (const id of ids) expect((await producer.getJobInfo(id)).status).toBe("cancelled")
    expect((await producer.getJobInfo(done.id)).status).toBe("completed")
    const again = await call("/api/bulk", { method: "POST", json: { action: "pause", ids: [...ids, done.id] } })
    expect(again.json).toMatchObject({ matched: 4, done: 0 })
    expect(again.json.refused.map((x: { id: string; tag: string }) => [x.id, x.tag])).toEqual(
      [...ids, done.id].map((id) => [id, "InvalidTransition"]),
    )
  })
})

describe("the job list's keyset pages", () => {
  /** A producer alone (nothing runs: every job stays as dispatched) with the dashboard. */
  const producerOnly = async () => {
    const producer = await openManager({ concurrency: 0 })
    return { producer, ...(await serve(producer)) }
  }
  const idsOf = (page: { jobs: Array<{ id: string }> }) => page.jobs.map((j) => j.id)

  it("visits every job once, newest first, by following `next`; `prev` gives the page before exactly; no page is read by offset", async () => {
    const { producer, call } = await producerOnly()
    const ids: string[] = []
    for (let i = 0; i < 13; i++) ids.push((await producer.dispatch(NoopJob, { tag: `k${i}` })).id)
    const reads = vi.spyOn(producer, "listJobs")

    const pages: any[] = []
    let page = (await call("/api/jobs?limit=5")).json
    expect(page.prev).toBeNull()
    for (;;) {
      pages.push(page)
      if (page.next === null) break
      expect(page).toMatchObject({ more: true, next: page.jobs.at(-1).id })
      const r = await call(`/api/jobs?limit=5&after=${page.next}`)
      expect(r.status).toBe(200)
      page = r.json
    }
    expect(pages.flatMap(idsOf)).toEqual([...ids].reverse())
    expect(pages.map((p) => p.jobs.length)).toEqual([5, 5, 3])
    expect(pages.at(-1)).toMatchObject({ more: false, next: null })
    expect(pages.every((p) => p.total === 13)).toBe(true)

    // Back from the last page: each `prev` gives the page before, the same jobs and cursors.
    for (let i = pages.length - 1; i > 0; i--) {
      expect(pages[i].prev).toBe(pages[i].jobs[0].id)
      const back = (await call(`/api/jobs?limit=5&before=${pages[i].prev}`)).json
      expect(idsOf(back)).toEqual(idsOf(pages[i - 1]))
      expect([back.prev, back.next]).toEqual([pages[i - 1].prev, pages[i - 1].next])
    }
    // Every read went from a cursor or the top: none skipped rows by offset.
    expect(reads.mock.calls.length).toBeGreaterThan(0)
    for (const [filter] of reads.mock.calls) expect(filter?.offset ?? 0).toBe(0)

    // Jobs dispatched since do not move a page: the one before the second is still the first
    // page read, and now it has newer jobs before it.
    const newer = [(await producer.dispatch(NoopJob, {})).id, (await producer.dispatch(NoopJob, {})).id]
    const back = (await call(`/api/jobs?limit=5&before=${pages[1].prev}`)).json
    expect(idsOf(back)).toEqual(idsOf(pages[0]))
    expect(back.prev).toBe(pages[0].jobs[0].id)
    // Fewer than a page lie before that: the page before it is the first page, read whole.
    const top = (await call(`/api/jobs?limit=5&before=${back.prev}`)).json
    const first = [newer[1], newer[0], ...idsOf(pages[0]).slice(0, 3)]
    expect(idsOf(top)).toEqual(first)
    expect([top.prev, top.next]).toEqual([null, first[4]])
  })

  it("pages a status and type filter by cursor, and a cursor need not match the filter", async () => {
    const { producer, call } = await producerOnly()
    const jobs: Array<{ id: string; name: string; cancelled: boolean }> = []
    for (let i = 0; i < 18; i++) {
      const wait = i % 3 === 2
      const id = (await producer.dispatch(wait ? WaitJob : NoopJob, wait ? {} : { tag: `f${i}` })).id
      const cancelled = !wait && i % 4 === 0
      if (cancelled) await producer.cancel(id)
      jobs.push({ id, name: wait ? "wait" : "noop", cancelled })
    }
    const newestFirst = [...jobs].reverse()
    const queuedNoops = newestFirst.filter((j) => j.name === "noop" && !j.cancelled).map((j) => j.id)
    expect(queuedNoops).toHaveLength(8)

    const filter = "name=noop&status=queued&limit=3"
    const pages: any[] = []
    let page = (await call(`/api/jobs?${filter}`)).json
    for (;;) {
      pages.push(page)
      expect(page.total).toBe(8)
      if (page.next === null) break
      page = (await call(`/api/jobs?${filter}&after=${page.next}`)).json
    }
    expect(pages.flatMap(idsOf)).toEqual(queuedNoops)
    expect(pages.map((p) => p.jobs.length)).toEqual([3, 3, 2])
    const back = (await call(`/api/jobs?${filter}&before=${pages[2].prev}`)).json
    expect(idsOf(back)).toEqual(idsOf(pages[1]))
    expect([back.prev, back.next]).toEqual([pages[1].prev, pages[1].next])

    // From a wait job, the no-ops older than it (the cursor is a place in the list, whatever its job).
    const wait = jobs[11]!
    expect(wait.name).toBe("wait")
    const older = (await call(`/api/jobs?name=noop&after=${wait.id}`)).json
    expect(idsOf(older)).toEqual(
      jobs
        .slice(0, 11)
        .filter((j) => j.name === "noop")
        .map((j) => j.id)
        .reverse(),
    )
    expect([older.prev, older.next]).toEqual([older.jobs[0].id, null])
    // And before another wait job: the two cancelled no-ops nearest newer than it.
    expect(jobs[2]!.name).toBe("wait")
    const cancelled = jobs.filter((j) => j.cancelled).map((j) => j.id)
    expect(cancelled).toEqual([0, 4, 12, 16].map((i) => jobs[i]!.id))
    const newer = (await call(`/api/jobs?name=noop&status=cancelled&limit=2&before=${jobs[2]!.id}`)).json
    expect(idsOf(newer)).toEqual([cancelled[2], cancelled[1]])
    expect([newer.prev, newer.next]).toEqual([cancelled[2], cancelled[1]])
  })

  it("refuses an unknown cursor with a 400 that says so, and a cursor with another way of paging", async () => {
    const { producer, call } = await producerOnly()
    const job = await producer.dispatch(NoopJob, {})
    const unknown = "00000000-0000-4000-8000-000000000000"
    for (const side of ["after", "before"]) {
      const r = await call(`/api/jobs?${side}=${unknown}&status=queued`)
      expect(r.status).toBe(400)
      expect(r.json.error).toBe(
        `No job "${unknown}" to page from (${side}=): it is not in the store (deleted, pruned or mistyped); start again from the first page, without a cursor`,
      )
    }
    const refusals: Array<[string, string]> = [
      [`after=${job.id}&before=${job.id}`, "Give `after` or `before` (a page's cursor), not both"],
      [`after=${job.id}&offset=5`, "Give a cursor (`after` or `before`) or `offset`, not both"],
      [
        `text=${job.id.slice(0, 4)}&after=${job.id}`,
        "An id-prefix search (`text`) pages by `offset`: it takes no `after` or `before`",
      ],
    ]
    for (const [query, error] of refusals) {
      const r = await call(`/api/jobs?${query}`)
      expect([r.status, r.json.error], query).toEqual([400, error])
    }
    // The id-prefix search pages by offset, as before.
    const found = (await call(`/api/jobs?text=${job.id.slice(0, 8)}`)).json
    expect(found).toMatchObject({ offset: 0, next: null, prev: null, more: false })
    expect(idsOf(found)).toEqual([job.id])
  })

  it("reads a bulk action's targets page by page from a cursor: every job of the filter once, none by offset", async () => {
    const { producer, call } = await producerOnly()
    const ids = (
      await producer.dispatchMany(
        NoopJob,
        Array.from({ length: 1_003 }, (_, i) => ({ tag: `b${i}` })),
      )
    ).map((h) => h.id)
    const other = await producer.dispatch(WaitJob, {})
    const reads = vi.spyOn(producer, "listJobs")
    const acted: string[] = []
    const pause = producer.pause.bind(producer)
    vi.spyOn(producer, "pause").mockImplementation((id) => (acted.push(id), pause(id)))
    const r = await call("/api/bulk", { method: "POST", json: { action: "pause", filter: { name: "noop" } } })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ action: "pause", matched: 1_003, done: 1_003, refused: [], more: false })
    expect(acted).toEqual([...ids].reverse())
    // Three pages of at most 500: the first from the top, each other after the last of the one before.
    const filters = reads.mock.calls.map(([f]) => f!)
    expect(filters.map((f) => [f.offset, f.after, f.limit])).toEqual([
      [undefined, undefined, 500],
      [undefined, acted[499], 500],
      [undefined, acted[999], 500],
    ])
    expect((await producer.getJobInfo(other.id)).status).toBe("queued")
  })

  it("says when a bulk filter matched more jobs than one action takes (10,000)", async () => {
    const { producer, call } = await producerOnly()
    const ids = (
      await producer.dispatchMany(
        NoopJob,
        Array.from({ length: 10_001 }, () => ({})),
      )
    ).map((h) => h.id)
    // The action itself is not what is tested here: each "cancel" is recorded and the job left as it is.
    const acted: string[] = []
    vi.spyOn(producer, "cancel").mockImplementation(async (id) => (acted.push(id), "cancelled"))
    const first = await call("/api/bulk", { method: "POST", json: { action: "cancel", filter: { name: "noop" } } })
    expect(first.json).toMatchObject({ matched: 10_000, done: 10_000, more: true })
    expect(acted).toEqual([...ids].reverse().slice(0, 10_000))
    const byIds = await call("/api/bulk", { method: "POST", json: { action: "cancel", ids: ids.slice(0, 3) } })
    expect(byIds.json).toMatchObject({ matched: 3, more: false })
  })
})
