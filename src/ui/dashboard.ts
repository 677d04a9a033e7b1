import { timingSafeEqual } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { JobManager, ListJobsFilter } from "../actors/JobManager.js"
import type { JobInfo } from "../actors/JobInfo.js"
import type { SentEvent } from "../jobs/defineMachineJob.js"
import type { ScheduleOptions } from "../actors/Scheduler.js"
import { JobStatus } from "../jobs/JobStatus.js"
import { commandsAccepted, jobCommands, jobLifecycleMachine, type JobCommand } from "../machines/jobLifecycleMachine.js"
import { replayRows, parseRecording } from "../machines/inspectionRecording.js"
import { HttpRefusal, readBody, readJson, sendError, sendJson, sendText } from "./httpReplies.js"
import { jobHistory } from "./jobHistory.js"
import { lifecycleDiagram, type LifecycleDiagram } from "./lifecycleDiagram.js"
import { staticAsset } from "./staticAssets.js"
import { streamEvents } from "./eventStream.js"

export interface DashboardOptions {
  /**
   * The path the handler is mounted under (`/admin/jobs`), when the app passes requests on with
   * their full URL. A request outside it gets a 404. Default: none, the handler serves from `/`
   * (or the app strips its prefix, as Express's `app.use("/admin/jobs", handler)` does).
   */
  readonly basePath?: string
  /** When set, every request needs it: an `Authorization: Bearer` header, or the cookie `?token=` sets. */
  readonly token?: string
  /**
   * Host names (without port) the page may be reached by; others get a 403, so that a page on
   * another site that resolves its own name to this server's address (DNS rebinding) cannot
   * read or control the jobs. Default: with a `token`, any (the token guards it); without one,
   * only loopback names (`localhost`, `127.x.x.x`, `[::1]`). An app served under its own name
   * without a token names it here; `"any"` allows every name (only behind something that
   * checks who asks).
   */
  readonly allowedHosts?: ReadonlyArray<string> | "any"
  /** The page's title (default `jobstate`). */
  readonly title?: string
}

/** A Node HTTP handler, as `http.createServer` takes it, and Express or Connect mount it. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => void

const COOKIE = "jobstate_token"
/** What a dispatch from the page may set besides the params, and a schedule besides its cron. */
const DISPATCH_OPTIONS = ["priority", "delayMs", "uniqueKey", "timeoutMs"] as const
const SCHEDULE_OPTIONS = ["cron", "timezone", "priority"] as const
/** The most jobs one bulk action takes: a bigger set is done in several. */
const BULK_MAX = 10_000
const PAGE_LIMIT_MAX = 500
const ACTIONS = jobCommands
type Action = JobCommand

/**
 * The web dashboard: the page, its assets and its JSON API, for one manager. Everything it does
 * goes through the manager's public API, so actions reach jobs other processes run. Refusals are
 * JSON `{ error, status }` with a 4xx.
 */
export const dashboard = (manager: JobManager, options: DashboardOptions = {}): DashboardHandler => {
  const basePath = (options.basePath ?? "").replace(/\/+$/, "")
  // Each laid out once, on the first request that needs it.
  let lifecycle: Promise<LifecycleDiagram> | undefined
  const machines = new Map<string, Promise<LifecycleDiagram>>()
  const diagrams: Diagrams = {
    lifecycle: () => (lifecycle ??= Promise.resolve(lifecycleDiagram(jobLifecycleMachine))),
    machine: (name) => {
      let laid = machines.get(name)
      if (laid === undefined) {
        // Only from the types this manager knows: a store's rows say which type, never what its machine is.
        const machine = manager.getJobMachine(name)
        if (machine === undefined)
          throw new HttpRefusal(404, `Job type ${JSON.stringify(name)} is not a machine job: it has no machine to draw`)
        laid = lifecycleDiagram(machine)
        machines.set(name, laid)
        laid.catch(() => machines.delete(name))
      }
      return laid
    },
  }
  return (req, res) => {
    handle(manager, options, basePath, diagrams, req, res).catch((error: unknown) => {
      const refusal = refusalOf(error)
      if (res.headersSent) res.end()
      else sendError(res, refusal)
    })
  }
}

/** The diagrams the page draws: the job lifecycle, and a machine job type's own machine. */
interface Diagrams {
  readonly lifecycle: () => Promise<LifecycleDiagram>
  /** Throws `UnknownJobType` for a type the manager does not know, a 404 for one that is not a machine job. */
  readonly machine: (name: string) => Promise<LifecycleDiagram>
}

const handle = async (
  manager: JobManager,
  options: DashboardOptions,
  basePath: string,
  diagrams: Diagrams,
  req: IncomingMessage,
  res: ServerResponse,
) => {
  const url = new URL(req.url ?? "/", "http://dashboard.invalid")
  let path = url.pathname
  if (basePath !== "") {
    if (path !== basePath && !path.startsWith(`${basePath}/`))
      throw new HttpRefusal(404, `Not found: ${path} (the dashboard is under ${basePath}/)`)
    path = path.slice(basePath.length)
  }
  checkHost(req, options)

  // The page's own address must end in `/`: its assets and API are addressed relative to it.
  // (An app that strips its prefix, as Express does, leaves the full path in `originalUrl`.)
  const fullPath = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? "/").split("?")[0]!
  if (req.method === "GET" && (path === "" || (path === "/" && !fullPath.endsWith("/")))) {
    res.writeHead(308, { location: `${fullPath}/${url.search}` })
    return void res.end()
  }
  if (options.token !== undefined && options.token !== "") {
    const fromQuery = url.searchParams.get("token")
    if (req.method === "GET" && path === "/" && fromQuery !== null) {
      if (!same(fromQuery, options.token)) throw new HttpRefusal(401, "Wrong token")
      // Into a cookie for the dashboard's path, and out of the address bar (and of the history).
      url.searchParams.delete("token")
      res.writeHead(303, {
        "set-cookie": `${COOKIE}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=${fullPath}`,
        location: `./${url.search}`,
      })
      return void res.end()
    }
    const given = tokenOf(req)
    if (given === undefined)
      throw new HttpRefusal(
        401,
        "A token is required: open the page with ?token=…, or send Authorization: Bearer <token>",
      )
    if (!same(given, options.token)) throw new HttpRefusal(401, "Wrong token")
  }

  if (req.method === "POST") {
    checkSameOrigin(req)
    return post(manager, path, req, res)
  }
  if (req.method !== "GET" && req.method !== "HEAD")
    throw new HttpRefusal(405, `Method ${req.method} is not allowed: reads are GET, actions are POST`)
  return get(manager, options, diagrams, path, url, req, res)
}

const get = async (
  manager: JobManager,
  options: DashboardOptions,
  diagrams: Diagrams,
  path: string,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
) => {
  const q = url.searchParams
  if (path === "/" || path === "/index.html" || path.startsWith("/assets/")) {
    const asset = await staticAsset(path === "/" ? "/index.html" : path, options.title ?? "jobstate")
    if (asset === undefined) throw new HttpRefusal(404, `Not found: ${path}`)
    return sendText(res, 200, asset.type, asset.body, { "cache-control": "no-cache" })
  }
  if (path === "/api/events") return streamEvents(manager, req, res)
  if (path === "/api/overview") {
    const since = Date.now() - 60 * 60_000
    const [counts, ended, schedules] = await Promise.all([
      manager.countJobs(),
      manager.endedPerMinute(since),
      manager.listSchedules(),
    ])
    return sendJson(res, 200, {
      managerId: manager.id,
      types: manager.listJobTypes(),
      counts,
      ended,
      since: new Date(since).toISOString(),
      schedules,
    })
  }
  if (path === "/api/jobs") return sendJson(res, 200, await listJobs(manager, q))
  if (path === "/api/managers") return sendJson(res, 200, { managers: await manager.listManagers() })
  // The diagram, and the commands the machine takes in each status (the page's buttons).
  if (path === "/api/lifecycle")
    return sendJson(res, 200, { ...(await diagrams.lifecycle()), actions: jobCommands, commands: commandsAccepted })
  let m = /^\/api\/types\/([^/]+)$/.exec(path)
  if (m) return sendJson(res, 200, schemaOf(manager, decodeURIComponent(m[1]!)))
  // A machine job type's own machine, laid out as the lifecycle is.
  m = /^\/api\/types\/([^/]+)\/machine$/.exec(path)
  if (m) return sendJson(res, 200, await diagrams.machine(decodeURIComponent(m[1]!)))
  // The job alone, as getJobInfo gives it: what the page re-reads while a machine job moves
  // (its transitions are not on the feed; its statuses are).
  m = /^\/api\/jobs\/([^/]+)\/info$/.exec(path)
  if (m) return sendJson(res, 200, { job: await manager.getJobInfo(decodeURIComponent(m[1]!)) })
  m = /^\/api\/jobs\/([^/]+)\/logs$/.exec(path)
  if (m) {
    const id = decodeURIComponent(m[1]!)
    await manager.getJobInfo(id)
    const afterSeq = integer(q.get("afterSeq"), "afterSeq", 0) ?? 0
    return sendJson(res, 200, {
      logs: await manager.getJobLogs(id, { afterSeq, limit: integer(q.get("limit"), "limit", 1) ?? 1_000 }),
    })
  }
  m = /^\/api\/jobs\/([^/]+)$/.exec(path)
  if (m) {
    const id = decodeURIComponent(m[1]!)
    const job = await manager.getJobInfo(id)
    let params: unknown
    try {
      params = await manager.getJobParams(id)
    } catch (error) {
      params = { undecodable: (error as Error).message }
    }
    // The last 500 lines; the page asks for more with afterSeq as they come. The history reads them all.
    const logs = await manager.getJobLogs(id)
    return sendJson(res, 200, {
      job,
      params,
      history: jobHistory(job, logs),
      logs: logs.slice(-500),
      logsTruncated: logs.length > 500,
    })
  }
  throw new HttpRefusal(404, `Not found: ${path}`)
}

const post = async (manager: JobManager, path: string, req: IncomingMessage, res: ServerResponse) => {
  let m = new RegExp(`^/api/jobs/([^/]+)/(${ACTIONS.join("|")})$`).exec(path)
  if (m) {
    const id = decodeURIComponent(m[1]!)
    const action = m[2] as Action
    await manager.getJobInfo(id) // an unknown id is a 404 before anything is asked
    const status = await manager[action](id)
    // The job as it is now, so the page shows the action's effect without waiting for the feed.
    return sendJson(res, 200, { id, action, status, job: await manager.getJobInfo(id) })
  }
  m = /^\/api\/jobs\/([^/]+)\/send$/.exec(path)
  if (m) {
    const id = decodeURIComponent(m[1]!)
    const event = await readJson(req)
    if (typeof event !== "object" || event === null || Array.isArray(event))
      throw new HttpRefusal(400, "Expected the event as a JSON object { type, ...its fields }")
    // Checked against the type's `events` schema (a 422 naming the field), stored in the job's inbox.
    await manager.send(id, event as SentEvent)
    // Accepted: the machine applies it when the job runs. The job as it is now, for the page.
    return sendJson(res, 202, { id, event: (event as SentEvent).type, job: await manager.getJobInfo(id) })
  }
  if (path === "/api/dispatch") {
    const body = await readJson(req)
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpRefusal(400, "Expected a JSON object { name, params, priority?, delayMs?, uniqueKey?, timeoutMs? }")
    }
    const { name, params } = body as { name?: unknown; params?: unknown }
    if (typeof name !== "string" || name === "") throw new HttpRefusal(400, "`name` (the job type) is required")
    // The options are checked by the engine (an InvalidOptions, a 422, naming the one).
    const handle = await manager.dispatchByName(name, params ?? {}, givenOptions(body, DISPATCH_OPTIONS))
    return sendJson(res, 201, { id: handle.id, name: handle.name })
  }
  if (path === "/api/bulk") return sendJson(res, 200, await bulk(manager, await readJson(req)))
  if (path === "/api/schedules") {
    const body = await readJson(req)
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new HttpRefusal(400, "Expected a JSON object { name, type, params, cron, timezone?, priority? }")
    const { name, type, params } = body as { name?: unknown; type?: unknown; params?: unknown }
    if (typeof name !== "string" || name.trim() === "")
      throw new HttpRefusal(400, "`name` (the schedule's name) is required")
    if (typeof type !== "string" || type === "")
      throw new HttpRefusal(400, "`type` (the job type it dispatches) is required")
    const schedule = await manager.scheduleByName(
      name.trim(),
      type,
      params ?? {},
      givenOptions(body, SCHEDULE_OPTIONS) as unknown as ScheduleOptions,
    )
    return sendJson(res, 201, { schedule })
  }
  m = /^\/api\/schedules\/([^/]+)\/remove$/.exec(path)
  if (m) {
    const name = decodeURIComponent(m[1]!)
    if (!(await manager.unschedule(name))) throw new HttpRefusal(404, `No schedule named ${JSON.stringify(name)}`)
    return sendJson(res, 200, { removed: name })
  }
  if (path === "/api/replay") {
    // The text of an `inspect --out` recording, as the CLI's replay reads it.
    const text = await readBody(req)
    if (text.trim() === "")
      throw new HttpRefusal(
        400,
        "The request body is empty: send the text of a recording made with `jobstate inspect --out`",
      )
    let rows
    try {
      rows = replayRows(parseRecording(text, "the recording"))
    } catch (error) {
      throw new HttpRefusal(400, (error as Error).message)
    }
    return sendJson(res, 200, { rows })
  }
  if (/^\/api\/jobs\/[^/]+\/[^/]+$/.test(path))
    throw new HttpRefusal(404, `Unknown action in ${path}: one of ${ACTIONS.join(", ")}`)
  throw new HttpRefusal(404, `Not found: POST ${path}`)
}

/**
 * A page of jobs, newest first. Pages are keyset pages: `after=<id>` gives the jobs after (older
 * than) that job in the list, `before=<id>` those just before (newer than) it, so a page costs
 * the same at any depth. The reply's `next` and `prev` are the cursors of the pages around it
 * (`next` for `after`, `prev` for `before`; `null` at either end). `offset` is still taken (it
 * reads every row it skips), but not with a cursor.
 *
 * `text` is an id prefix (ids are UUIDs): the store's id index finds them, and status and type
 * filter those. Random ids give those few no list position to page from, so that search pages by
 * `offset` and takes no cursor. Totals come from the per-status counts (`countJobs`, kept with
 * the rows), never a count of the page's filter over the whole table.
 */
const listJobs = async (manager: JobManager, q: URLSearchParams) => {
  const { filter, text } = listQuery(q)
  const limit = Math.min(integer(q.get("limit"), "limit", 1) ?? 50, PAGE_LIMIT_MAX)
  const after = q.get("after") || undefined
  const before = q.get("before") || undefined
  const givenOffset = integer(q.get("offset"), "offset", 0)
  if (after !== undefined && before !== undefined)
    throw new HttpRefusal(400, "Give `after` or `before` (a page's cursor), not both")
  const cursor: Cursor | undefined = after !== undefined ? { after } : before !== undefined ? { before } : undefined
  if (cursor !== undefined && givenOffset !== undefined)
    throw new HttpRefusal(400, "Give a cursor (`after` or `before`) or `offset`, not both")
  const offset = givenOffset ?? 0
  if (text !== "") {
    if (cursor !== undefined)
      throw new HttpRefusal(400, "An id-prefix search (`text`) pages by `offset`: it takes no `after` or `before`")
    const matching = await findByPrefix(manager, text, filter, offset + limit + 1)
    return {
      jobs: matching.slice(offset, offset + limit),
      offset,
      limit,
      total: null,
      more: matching.length > offset + limit,
      next: null,
      prev: null,
    }
  }
  const { jobs, next, prev } = await keysetPage(manager, filter, limit, cursor, offset)
  // The per-status counts give the total of a status and type filter; a parent's or a time's is not counted.
  let total: number | null = null
  if (filter.parentId === undefined && filter.createdAfter === undefined && filter.createdBefore === undefined) {
    total = (await manager.countJobs())
      .filter(
        (c) =>
          (filter.status === undefined || c.status === filter.status) &&
          (filter.name === undefined || c.name === filter.name),
      )
      .reduce((n, c) => n + c.count, 0)
  }
  return { jobs, ...(cursor === undefined ? { offset } : {}), limit, total, more: next !== null, next, prev }
}

type Cursor = { readonly after: string } | { readonly before: string }

/**
 * A keyset page of a filter, newest first, and its neighbours' cursors: `next` (its last id) when
 * a job of the filter lies after it, `prev` (its first) when one lies before it. Each "lies" is
 * one row read from the cursor, by the index the page was read by; nothing is counted.
 */
const keysetPage = async (
  manager: JobManager,
  filter: ListJobsFilter,
  limit: number,
  cursor: Cursor | undefined,
  offset: number,
): Promise<{ jobs: ReadonlyArray<JobInfo>; next: string | null; prev: string | null }> => {
  const read = (page: ListJobsFilter) => readPage(manager, { ...filter, ...page, order: "newest" })
  const beyond = async (side: "after" | "before", id: string) => {
    try {
      return (await read({ [side]: id, limit: 1 })).length > 0
    } catch (error) {
      // The edge job went between the two reads (deleted, pruned): no cursor to offer from it.
      if (error instanceof HttpRefusal) return false
      throw error
    }
  }
  if (cursor !== undefined && "before" in cursor) {
    // The page before: the `limit` jobs nearest the cursor (the store reads them backwards and
    // turns them around), read with one more to know whether any lie before those.
    const rows = await read({ before: cursor.before, limit: limit + 1 })
    if (rows.length > limit) {
      const jobs = rows.slice(1)
      const last = jobs[jobs.length - 1]!.id
      return { jobs, prev: jobs[0]!.id, next: (await beyond("after", last)) ? last : null }
    }
    // Fewer than a page before it: that is the first page, read whole (jobs of it were deleted or
    // left the filter since the cursor was given), rather than a short one.
  }
  if (cursor !== undefined && "after" in cursor) {
    const rows = await read({ after: cursor.after, limit: limit + 1 })
    const jobs = rows.slice(0, limit)
    // An empty page (the jobs after the cursor went) goes back from the cursor itself.
    const first = jobs[0]?.id ?? cursor.after
    return {
      jobs,
      next: rows.length > limit ? jobs[jobs.length - 1]!.id : null,
      prev: (await beyond("before", first)) ? first : null,
    }
  }
  const rows = await read({ limit: limit + 1, offset })
  const jobs = rows.slice(0, limit)
  return {
    jobs,
    next: rows.length > limit ? jobs[jobs.length - 1]!.id : null,
    // Only a page read with an offset has jobs before it: the first page is the newest.
    prev: offset > 0 && jobs.length > 0 ? jobs[0]!.id : null,
  }
}

/** `manager.listJobs`, with a cursor the store does not have (deleted, pruned, mistyped) a 400 that says so. */
const readPage = async (manager: JobManager, filter: ListJobsFilter) => {
  try {
    return await manager.listJobs(filter)
  } catch (error) {
    const { _tag, option } = (error ?? {}) as { _tag?: string; option?: string }
    const side = filter.after !== undefined ? "after" : "before"
    if (_tag === "InvalidOptions" && option === `listJobs.${side}`)
      throw new HttpRefusal(
        400,
        `No job ${JSON.stringify(filter[side])} to page from (${side}=): it is not in the store (deleted, pruned or mistyped); start again from the first page, without a cursor`,
      )
    throw error
  }
}

/** The list filter a query gives (status, type, parent, creation time) and its id prefix, checked. */
const listQuery = (q: URLSearchParams): { filter: ListJobsFilter; text: string } => {
  const status = q.get("status") || undefined
  if (status !== undefined && !(Object.values(JobStatus) as string[]).includes(status)) {
    throw new HttpRefusal(
      400,
      `Unknown status ${JSON.stringify(status)}: one of ${Object.values(JobStatus).join(", ")}`,
    )
  }
  const filter: ListJobsFilter = {
    status: status as JobStatus | undefined,
    name: q.get("name") || undefined,
    parentId: q.get("parent") || undefined,
    createdAfter: time(q.get("since"), "since"),
    createdBefore: time(q.get("until"), "until"),
  }
  return { filter, text: (q.get("text") ?? "").trim() }
}

/** The jobs whose id starts with `prefix` (at most `limit` ids read) that pass the filter, newest first. */
const findByPrefix = async (manager: JobManager, prefix: string, filter: ListJobsFilter, limit: number) => {
  // Ids are random: the prefix finds few, and the other filters are applied to those.
  const ids = await manager.findJobIds(prefix, limit)
  const infos = (await Promise.all(ids.map((id) => manager.getJobInfo(id).catch(() => undefined)))).filter(
    (j) => j !== undefined,
  )
  const matching = infos.filter((j) => matches(j, filter))
  matching.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
  return matching
}

/** Whether a job passes a list filter: the rule the store applies, for jobs found by id prefix. */
const matches = (job: JobInfo, f: ListJobsFilter) =>
  (f.status === undefined || job.status === f.status) &&
  (f.name === undefined || job.name === f.name) &&
  (f.parentId === undefined || job.parentId === f.parentId) &&
  (f.createdAfter === undefined || Date.parse(job.createdAt) >= Number(f.createdAfter)) &&
  (f.createdBefore === undefined || Date.parse(job.createdAt) < Number(f.createdBefore))

/**
 * One action on many jobs: the `ids` given, or every job a list filter matches (at most
 * `BULK_MAX`, read before any is changed; `more` says the filter matched more). Each job is acted on alone, through the manager, as
 * one click would: a job the action does not apply to is reported, and the others go on.
 */
const bulk = async (manager: JobManager, body: unknown) => {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpRefusal(
      400,
      "Expected a JSON object { action, ids } or { action, filter: { status?, name?, parent? } }",
    )
  const { action, ids, filter } = body as { action?: unknown; ids?: unknown; filter?: unknown }
  if (!ACTIONS.includes(action as Action))
    throw new HttpRefusal(400, `Unknown action ${JSON.stringify(action)}: one of ${ACTIONS.join(", ")}`)
  let targets: string[]
  let more = false
  if (ids !== undefined) {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string") || ids.length === 0)
      throw new HttpRefusal(400, "`ids` must be a non-empty array of job ids")
    if (ids.length > BULK_MAX) throw new HttpRefusal(400, `At most ${BULK_MAX} jobs per action, got ${ids.length}`)
    targets = [...new Set(ids as string[])]
  } else if (typeof filter === "object" && filter !== null && !Array.isArray(filter)) {
    const f = filter as Record<string, unknown>
    const q = new URLSearchParams(
      Object.entries(f).flatMap(([k, v]) => (typeof v === "string" && v !== "" ? [[k, v]] : [])),
    )
    if (q.get("status") === null && q.get("name") === null && q.get("parent") === null)
      throw new HttpRefusal(400, "A bulk filter names a status, a type or a parent: it never takes every job")
    const { filter: listFilter, text } = listQuery(q)
    // One more than acted on is read, to say whether jobs of the filter were left.
    if (text !== "") targets = (await findByPrefix(manager, text, listFilter, BULK_MAX + 1)).map((j) => j.id)
    else {
      // Page by page from a cursor (each page costs the same however deep), every target read
      // before any is acted on.
      targets = []
      let after: string | undefined
      for (;;) {
        const page = await readPage(manager, {
          ...listFilter,
          order: "newest",
          limit: PAGE_LIMIT_MAX,
          ...(after === undefined ? {} : { after }),
        })
        targets.push(...page.map((j) => j.id))
        if (page.length < PAGE_LIMIT_MAX || targets.length > BULK_MAX) break
        after = page[page.length - 1]!.id
      }
    }
    more = targets.length > BULK_MAX
    targets = targets.slice(0, BULK_MAX)
  } else {
    throw new HttpRefusal(400, "Give `ids` (an array) or `filter` (an object)")
  }
  const refused: Array<{ id: string; error: string; tag: string | undefined }> = []
  let done = 0
  for (const id of targets) {
    try {
      await manager[action as Action](id)
      done++
    } catch (error) {
      const tag = (error as { _tag?: string })._tag
      if (tag === undefined || tag === "PersistenceError" || tag === "ManagerClosed") throw error
      refused.push({ id, error: (error as Error).message, tag })
    }
  }
  // `more`: the filter matched more than one action takes; the same action again takes the next.
  return { action, matched: targets.length, done, refused, more }
}

/** The options a request's body sets, as given (the engine checks each). */
const givenOptions = (body: object, names: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(
    names.flatMap((k) => {
      const v = (body as Record<string, unknown>)[k]
      return v === undefined || v === null || v === "" ? [] : [[k, v]]
    }),
  )

/** A time in a query: ISO 8601 or ms since the epoch. */
const time = (value: string | null, name: string): number | undefined => {
  if (value === null || value === "") return undefined
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms))
    throw new HttpRefusal(400, `${name} must be a time (ISO 8601 or ms since the epoch), got ${JSON.stringify(value)}`)
  return ms
}

const schemaOf = (manager: JobManager, name: string) => {
  if (!manager.listJobTypes().includes(name))
    throw new HttpRefusal(404, `Unknown job type ${JSON.stringify(name)}; known: ${manager.listJobTypes().join(", ")}`)
  return manager.getJobSchema(name)
}

const integer = (value: string | null, name: string, min: number): number | undefined => {
  if (value === null || value === "") return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min)
    throw new HttpRefusal(400, `${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`)
  return n
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const tokenOf = (req: IncomingMessage): string | undefined => {
  const auth = req.headers.authorization
  if (auth?.startsWith("Bearer ")) return auth.slice("Bearer ".length).trim()
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=")
    if (k === COOKIE) return decodeURIComponent(v.join("="))
  }
  return undefined
}

const hostName = (host: string) => host.replace(/:\d+$/, "").toLowerCase()

/** Whether a host name or address (without port) is this machine's loopback: the one default the dashboard trusts. */
export const isLoopbackHost = (host: string): boolean => {
  const h = host.toLowerCase()
  return h === "localhost" || h === "[::1]" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

const checkHost = (req: IncomingMessage, options: DashboardOptions) => {
  const allowed = options.allowedHosts ?? (options.token ? "any" : undefined)
  if (allowed === "any") return
  const host = hostName(req.headers.host ?? "")
  const ok = allowed === undefined ? isLoopbackHost(host) : allowed.some((h) => h.toLowerCase() === host)
  if (!ok) {
    const names =
      allowed === undefined
        ? "localhost or 127.0.0.1 (without a token, only loopback names are allowed: set token or allowedHosts)"
        : allowed.join(" or ")
    throw new HttpRefusal(
      403,
      `Host ${JSON.stringify(req.headers.host ?? "")} is not allowed; open the dashboard as ${names}`,
    )
  }
}

/**
 * Every action is a POST from the page's own origin: the browser's Origin (or, from an older
 * browser, Referer) must name the host the request was sent to. A request with neither is
 * refused too: a page always sends one with a POST, and a script can set it.
 */
const checkSameOrigin = (req: IncomingMessage) => {
  const host = req.headers.host
  const origin = req.headers.origin ?? refererOrigin(req.headers.referer)
  if (host === undefined) throw new HttpRefusal(400, "The request has no Host header")
  if (origin === undefined || origin === "null")
    throw new HttpRefusal(403, "Actions need an Origin header naming this dashboard's own origin (a same-origin POST)")
  let originHost: string
  try {
    originHost = new URL(origin).host
  } catch {
    throw new HttpRefusal(403, `Bad Origin ${JSON.stringify(origin)}`)
  }
  if (originHost.toLowerCase() !== host.toLowerCase())
    throw new HttpRefusal(403, `Cross-origin request refused: Origin ${origin} is not this dashboard (${host})`)
}

const refererOrigin = (referer: string | undefined) => {
  if (referer === undefined) return undefined
  try {
    return new URL(referer).origin
  } catch {
    return undefined
  }
}

/** The engine's tagged errors, as HTTP: a missing job 404, a bad request 4xx, the rest 500. */
const refusalOf = (error: unknown): HttpRefusal => {
  if (error instanceof HttpRefusal) return error
  const tag = (error as { _tag?: string } | null)?._tag
  const message = (error as Error | null)?.message ?? String(error)
  switch (tag) {
    case "JobNotFound":
      return new HttpRefusal(404, message)
    case "UnknownJobType":
      return new HttpRefusal(404, message, { known: (error as { known?: unknown }).known })
    case "InvalidParams":
      return new HttpRefusal(422, message, { issues: (error as { issues?: unknown }).issues })
    case "InvalidOptions":
      return new HttpRefusal(422, message, { option: (error as { option?: unknown }).option })
    case "InvalidTransition":
    case "UniqueKeyTaken":
      return new HttpRefusal(409, message)
    case "ManagerClosed":
      return new HttpRefusal(503, message)
    default:
      return new HttpRefusal(500, tag === undefined ? `Internal error: ${message}` : message)
  }
}
