// The jobstate dashboard: Preact + htm, no build step, fed live by Server-Sent Events.
import { render } from "preact"
import { useEffect, useMemo, useRef, useState } from "preact/hooks"
import { html } from "./html.js"
import { Lifecycle, MachineDiagram, stateText, Throughput } from "./diagram.js"
import { durationMs, progressOf } from "./format.js"
import { SchemaForm, eventVariants, initialValue } from "./schemaForm.js"
import { timelineOf } from "./timeline.js"
import { validate } from "./validate.js"

const STATUSES = ["queued", "running", "paused", "completed", "failed", "cancelled"]
/**
 * Whether the machine takes the action now, by the table the server reads from it (`commands`:
 * status → actions), so that a status heard live enables the right buttons; a running job is
 * resumed only when it is stalled (its manager is gone).
 */
const allowed = (action, job, commands) =>
  (commands?.[job.status] ?? []).includes(action) ||
  (action === "resume" && job.stalled !== null && job.stalled !== undefined)
/** A priority as typed: a name (as the CLI takes them) or an integer; anything else goes as is, for the server to refuse. */
const PRIORITIES = { low: -1, normal: 0, high: 1, critical: 10 }
const priorityOf = (text) => {
  const t = text.trim()
  return PRIORITIES[t.toLowerCase()] ?? (/^-?\d+$/.test(t) ? Number(t) : t)
}

/** Every call is relative to the page, so the dashboard works under any path prefix. */
const api = async (path, init) => {
  const res = await fetch(path, { credentials: "same-origin", ...init })
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }))
  if (!res.ok) throw Object.assign(new Error(body.error ?? `HTTP ${res.status}`), body)
  return body
}
const post = (path, body) =>
  api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

const short = (id) => id.slice(0, 8)
const ago = (iso) => {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000)
  return s < 60
    ? `${s}s ago`
    : s < 3600
      ? `${Math.round(s / 60)}m ago`
      : s < 86400
        ? `${Math.round(s / 3600)}h ago`
        : `${Math.round(s / 86400)}d ago`
}
const duration = (a, b) => (a && b ? `${((Date.parse(b) - Date.parse(a)) / 1000).toFixed(2)} s` : "")
const sameDay = (d) => d.toDateString() === new Date().toDateString()
const DAY = 86_400_000
/** `ago` is for recent times: a job older than a day shows its date, which "3d ago" hides in an incident. */
const FORMATS = {
  time: (d) => d.toLocaleTimeString(),
  ago: (d) => (Date.now() - d.getTime() < DAY ? ago(d.toISOString()) : d.toLocaleString()),
  full: (d) => (sameDay(d) ? d.toLocaleTimeString() : d.toLocaleString()),
}

/**
 * Every time on the page: the viewer's local time (or how long ago), the exact UTC instant in
 * its tooltip. The store keeps UTC; one rule here keeps the page from mixing the two.
 */
const When = ({ iso, as = "full" }) => {
  if (!iso) return html`<span class="muted">–</span>`
  const d = new Date(iso)
  return html`<time datetime=${iso} title=${iso}>${FORMATS[as](d)}</time>`
}

const Bar = ({ job, live }) => {
  const p = progressOf(live ?? job.progressData, job.status === "running")
  const fraction = p.fraction ?? (job.status === "completed" ? 1 : job.progress)
  if (fraction === null && !p.indeterminate)
    return html`<span class="muted bar-label" title=${p.detail}>${p.label}</span>`
  return html`<span class=${"bar" + (p.indeterminate && job.status === "running" ? " indeterminate" : "")} data-progress=${fraction ?? ""}>
    <i style=${`width:${Math.round((fraction ?? 0) * 100)}%`} /></span><span class="bar-label" title=${p.detail}>${p.label || (fraction !== null ? Math.round(fraction * 100) + "%" : "")}</span>`
}

/**
 * Why a job is where it is, when its status alone does not say: its manager is gone, no worker
 * runs its type, it waits for its time, or for its children. Each a different thing to do.
 */
const waitOf = (job) => {
  if (job.stalled)
    return { label: "stalled", why: `its manager ${job.stalled.owner ?? ""} is gone; a sweep will requeue it` }
  if (job.status !== "queued") return null
  // A machine job at rest: its runAt is its next timer, not a delay.
  if (job.awaitingEvents)
    return {
      label: "waiting for an event",
      why: `it runs again when an event is sent to it or a child of it ends${job.runAt ? `, or at ${new Date(job.runAt).toLocaleString()} (its next timer)` : ""}`,
    }
  if (job.awaitingChildren) return { label: "waiting for children", why: "it resumes when its children have ended" }
  // Not due yet, whether or not a worker runs its type now.
  if (job.runAt && Date.parse(job.runAt) > Date.now())
    return { label: "waiting (delay)", why: `runs at ${new Date(job.runAt).toLocaleString()}` }
  if (job.waitingForWorker) return { label: "waiting for a worker", why: `no running manager claims type ${job.name}` }
  return null
}
const Status = ({ job }) => {
  const wait = waitOf(job)
  return html`<span class=${"status " + job.status} data-status=${job.status} data-wait=${wait?.label ?? ""} title=${wait?.why ?? ""}>${wait?.label ?? job.status}</span>`
}

/** Live state shared by the views: counts, the jobs of the page, progress and status heard. */
const useLive = () => {
  const [connected, setConnected] = useState(false)
  const [tick, setTick] = useState(0)
  const progress = useRef(new Map())
  // Job id → the status events heard, `{ status, at, n }`: `n` counts what the page has learnt,
  // so a view knows which events came after the rows it read (see `latest`).
  const statuses = useRef(new Map())
  // Job id → `{ job, n }`: a job as an action's response gave it.
  const patched = useRef(new Map())
  const learnt = useRef(0)
  const listeners = useRef(new Set())
  useEffect(() => {
    let source
    let timer
    const open = () => {
      source = new EventSource("api/events")
      source.addEventListener("ready", () => {
        setConnected(true)
        setTick((t) => t + 1)
      })
      source.addEventListener("overflow", () => {
        source.close()
        setConnected(false)
        timer = setTimeout(open, 500)
      })
      source.onerror = () => setConnected(false)
      source.onmessage = (m) => {
        const e = JSON.parse(m.data)
        if (e.type === "progress") progress.current.set(e.id, e.progress)
        if (e.type === "status") {
          const heard = statuses.current.get(e.id) ?? []
          statuses.current.set(e.id, [...heard, { status: e.status, at: e.at, n: ++learnt.current }])
        }
        for (const l of listeners.current) l(e)
        scheduleTick()
      }
    }
    // Re-render at most every 200 ms, however many events arrive.
    let pending = false
    const scheduleTick = () => {
      if (pending) return
      pending = true
      setTimeout(() => {
        pending = false
        setTick((t) => t + 1)
      }, 200)
    }
    open()
    return () => {
      source?.close()
      clearTimeout(timer)
    }
  }, [])
  /** The page now knows `job` as it is (an action's response): shown at once, wherever it is listed. */
  const patch = (job) => {
    patched.current.set(job.id, { job, n: ++learnt.current })
    setTick((t) => t + 1)
  }
  return {
    connected,
    tick,
    progress: progress.current,
    statuses: statuses.current,
    patched: patched.current,
    patch,
    learnt,
    listeners: listeners.current,
  }
}

/**
 * A job as the page knows it best: the row read when the page had learnt `n` things, replaced
 * by an action's newer response, with the status of any event heard after both.
 */
const latest = (live, row, n) => {
  const patch = live.patched.get(row.id)
  const base = patch !== undefined && patch.n > n ? patch : { job: row, n }
  const after = (live.statuses.get(row.id) ?? []).filter((h) => h.n > base.n)
  return after.length ? { ...base.job, status: after[after.length - 1].status } : base.job
}

/** The list's filter changed: its page starts again at the newest jobs (a cursor belongs to one filter). */
const refilter = (filter, change) => ({ ...filter, ...change, after: "", before: "", offset: 0 })

const Counts = ({ overview, filter, setFilter }) => {
  const by = Object.fromEntries(STATUSES.map((s) => [s, 0]))
  for (const c of overview?.counts ?? []) by[c.status] = (by[c.status] ?? 0) + c.count
  const total = Object.values(by).reduce((a, b) => a + b, 0)
  return html`<div class="counts">
    <button class=${"count" + (filter.status === "" ? " on" : "")} onClick=${() => setFilter(refilter(filter, { status: "" }))}><span class="muted">all</span><b data-count="all">${total}</b></button>
    ${STATUSES.map(
      (
        s,
      ) => html`<button class=${"count" + (filter.status === s ? " on" : "")} onClick=${() => setFilter(refilter(filter, { status: s }))}>
      <span class=${"status " + s}>${s}</span><b data-count=${s}>${by[s]}</b></button>`,
    )}
  </div>`
}

/** The creation-time filter's choices: how far back, in ms. */
const SINCE = { "": null, "15m": 15 * 60_000, "1h": 3_600_000, "24h": DAY, "7d": 7 * DAY }

const JobList = ({ live, overview, selected, select, filter, setFilter }) => {
  const [page, setPage] = useState(null)
  const [error, setError] = useState(null)
  const [checked, setChecked] = useState(new Set())
  const [bulkMessage, setBulkMessage] = useState(null)
  const [busy, setBusy] = useState(false)
  const since = SINCE[filter.created] ?? null
  const query = {
    status: filter.status,
    name: filter.name,
    text: filter.text,
    parent: filter.parent,
    limit: String(filter.limit),
    // Keyset pages (the cursor of the page shown); an id-prefix search pages by offset.
    ...(filter.after ? { after: filter.after } : filter.before ? { before: filter.before } : {}),
    ...(filter.offset > 0 ? { offset: String(filter.offset) } : {}),
  }
  const key = new URLSearchParams({ ...query, created: filter.created }).toString()
  // Reload on a filter change, on reconnect, and (at most every second) when a status changes.
  const [reload, setReload] = useState(0)
  useEffect(() => {
    let due = null
    const l = (e) => {
      if (e.type === "status" && due === null)
        due = setTimeout(() => {
          due = null
          setReload((r) => r + 1)
        }, 1000)
    }
    live.listeners.add(l)
    // Other processes record their events a moment after a listener appears (and a stream may
    // overflow): a slow re-read every 5 s keeps the page right whatever the feed missed.
    const every = setInterval(() => setReload((r) => r + 1), 5000)
    return () => {
      live.listeners.delete(l)
      clearTimeout(due)
      clearInterval(every)
    }
  }, [])
  useEffect(() => {
    const n = live.learnt.current
    // "The last hour" is read from now, each time the list is read.
    const q = new URLSearchParams({
      ...query,
      ...(since === null ? {} : { since: new Date(Date.now() - since).toISOString() }),
    })
    api(`api/jobs?${q}`).then(
      (p) => {
        setPage({ ...p, n })
        setError(null)
      },
      (e) => setError(e.message),
    )
  }, [key, reload, live.connected])
  // Another filter: another set of jobs, nothing of it chosen.
  useEffect(() => {
    setChecked(new Set())
    setBulkMessage(null)
  }, [key])
  const types = overview?.types ?? []
  const jobs = (page?.jobs ?? []).map((j) => latest(live, j, page.n))
  const toggle = (id) =>
    setChecked((c) => {
      const next = new Set(c)
      next.has(id) ? next.delete(id) : next.add(id)
      return next
    })
  const allChecked = jobs.length > 0 && jobs.every((j) => checked.has(j.id))
  const bulk = async (action, body, what) => {
    if (
      action === "cancel" &&
      !window.confirm(`Cancel ${what}? They stop for good and their private files are deleted.`)
    )
      return
    setBusy(true)
    setBulkMessage(null)
    try {
      const r = await post("api/bulk", { action, ...body })
      const refused = r.refused.length
        ? `; ${r.refused.length} refused (${r.refused
            .slice(0, 3)
            .map((x) => `${short(x.id)}: ${x.error}`)
            .join("; ")}${r.refused.length > 3 ? "; …" : ""})`
        : ""
      const more = r.more ? ` More jobs match: these were the first ${r.matched}; do it again for the next.` : ""
      setBulkMessage({ ok: r.refused.length === 0, text: `${action}: ${r.done} of ${r.matched} done${refused}${more}` })
      setChecked(new Set())
      setReload((x) => x + 1)
    } catch (e) {
      setBulkMessage({ ok: false, text: e.message })
    } finally {
      setBusy(false)
    }
  }
  const chosen = [...checked]
  // Every job of the filter, not only this page: offered where it is what an incident needs.
  const filterBody = { filter: { status: filter.status, name: filter.name, parent: filter.parent } }
  // "all failed jobs of type report under 1a2b3c4d"
  const filterWords = [
    "all",
    filter.status || "",
    "jobs",
    filter.name ? `of type ${filter.name}` : "",
    filter.parent ? `under ${short(filter.parent)}` : "",
  ]
    .filter(Boolean)
    .join(" ")
  // The pages around this one: by the cursors the list gave (by offset for an id-prefix search).
  const newer = page?.prev
    ? () => setFilter({ ...filter, after: "", before: page.prev, offset: 0 })
    : filter.offset > 0
      ? () => setFilter({ ...filter, offset: Math.max(0, filter.offset - filter.limit) })
      : null
  const older = page?.next
    ? () => setFilter({ ...filter, after: page.next, before: "", offset: 0 })
    : page?.more && filter.text
      ? () => setFilter({ ...filter, offset: filter.offset + filter.limit })
      : null
  const canFilterAct =
    (filter.status !== "" || filter.name !== "" || filter.parent !== "") && filter.text === "" && since === null
  return html`<div class="card">
    <h2>Jobs</h2>
    <div class="filters">
      <select name="status" aria-label="status" value=${filter.status} onChange=${(e) => setFilter(refilter(filter, { status: e.target.value }))}>
        <option value="">every status</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <select name="type" aria-label="type" value=${filter.name} onChange=${(e) => setFilter(refilter(filter, { name: e.target.value }))}>
        <option value="">every type</option>${types.map((t) => html`<option value=${t}>${t}</option>`)}</select>
      <select name="created" aria-label="created" value=${filter.created} onChange=${(e) => setFilter(refilter(filter, { created: e.target.value }))}>
        <option value="">any time</option><option value="15m">last 15 min</option><option value="1h">last hour</option><option value="24h">last 24 h</option><option value="7d">last 7 days</option></select>
      <input name="text" placeholder="id prefix" value=${filter.text} onInput=${(e) => setFilter(refilter(filter, { text: e.target.value.trim() }))} />
      ${filter.parent && html`<span class="chip" data-filter="parent">children of <code>${short(filter.parent)}</code> <button class="link" aria-label="every job" onClick=${() => setFilter(refilter(filter, { parent: "" }))}>✕</button></span>`}
    </div>
    <div class="bulk">
      ${
        chosen.length > 0
          ? html`<span data-checked=${chosen.length}>${chosen.length} chosen:</span>
          ${["retry", "cancel", "pause", "resume"].map((a) => html`<button class="act" name=${`bulk-${a}`} disabled=${busy} onClick=${() => bulk(a, { ids: chosen }, `${chosen.length} jobs`)}>${a}</button>`)}`
          : html`<span class="muted">Tick jobs to act on several at once.</span>`
      }
      ${canFilterAct && filter.status === "failed" && html`<button class="act" name="retry-all" disabled=${busy} onClick=${() => bulk("retry", filterBody, filterWords)}>retry ${filterWords}</button>`}
      ${canFilterAct && ["queued", "running", "paused", ""].includes(filter.status) && html`<button class="act" name="cancel-all" disabled=${busy} onClick=${() => bulk("cancel", filterBody, filterWords)}>cancel ${filterWords}</button>`}
    </div>
    ${bulkMessage && html`<div class=${bulkMessage.ok ? "ok-box" : "error-box"} data-bulk-result>${bulkMessage.text}</div>`}
    ${error && html`<div class="error-box">${error}</div>`}
    <div class="scroll"><table>
      <thead><tr><th><input type="checkbox" name="check-all" aria-label="choose every job of the page" checked=${allChecked} onChange=${() => setChecked(allChecked ? new Set() : new Set(jobs.map((j) => j.id)))} /></th>
        <th>id</th><th>type</th><th>status</th><th>progress</th><th>attempts</th><th>runs at</th><th>created</th></tr></thead>
      <tbody>${jobs.map(
        (
          j,
        ) => html`<tr class=${"job" + (j.id === selected ? " sel" : "")} data-id=${j.id} onClick=${() => select(j.id)}>
        <td onClick=${(e) => e.stopPropagation()}><input type="checkbox" name="check" aria-label=${`choose ${j.id}`} checked=${checked.has(j.id)} onChange=${() => toggle(j.id)} /></td>
        <td><code>${short(j.id)}</code></td><td>${j.name}</td><td><${Status} job=${j} /></td>
        <td><${Bar} job=${j} live=${live.progress.get(j.id)} /></td><td>${j.attempts}${j.failures ? html` <span class="muted" title=${`${j.failures} failed since dispatch or retry`}>(${j.failures}✗)</span>` : ""}</td>
        <td data-run-at>${j.status === "queued" && j.runAt && Date.parse(j.runAt) > Date.now() ? html`<${When} iso=${j.runAt} />` : ""}</td>
        <td><${When} iso=${j.createdAt} as="ago" /></td></tr>`,
      )}
      ${page && jobs.length === 0 ? html`<tr><td colspan="8" class="muted">No jobs match.</td></tr>` : null}</tbody>
    </table></div>
    <div class="pager">
      <button class="act" name="newest" disabled=${!filter.after && !filter.before && filter.offset === 0} onClick=${() => setFilter(refilter(filter, {}))}>⇤ newest</button>
      <button class="act" name="newer" disabled=${!newer} onClick=${newer}>← newer</button>
      <span data-page>${page ? pageWords(page, filter) : "…"}</span>
      <button class="act" name="older" disabled=${!older} onClick=${older}>older →</button>
    </div>
  </div>`
}

/**
 * What the pager says of a page: how many it shows, of how many the counts give (a keyset page
 * has no position to say); an id-prefix search, paged by offset, says which.
 */
const pageWords = (page, filter) => {
  const of = page.total !== null ? ` of ${page.total}` : ""
  if (!filter.text) return `${page.jobs.length} shown${of}`
  return `${page.jobs.length ? page.offset + 1 : 0}–${page.offset + page.jobs.length}${of}`
}

const Json = ({ value }) =>
  value === null || value === undefined
    ? html`<span class="muted">–</span>`
    : html`<pre>${JSON.stringify(value, null, 2)}</pre>`

/** A stored error: its tag and message, its stack as lines (the engine's own frames dimmed), its other fields as JSON. */
/** A stored error, its causes ("caused by", as `Effect.tryPromise` keeps a rejection) and the frames of the deepest one with a stack. */
const ErrorView = ({ error }) => {
  const { stack: _, ...rest } = error.details ?? {}
  const causes = []
  for (let c = error.cause; c; c = c.cause) causes.push(c)
  const withStack = [error, ...causes].filter((e) => typeof e.details?.stack === "string").pop()
  // The first line repeats the message; the frames follow.
  const frames = withStack ? withStack.details.stack.split("\n").filter((l) => /^\s+at /.test(l)) : []
  return html`<div class="error-box" data-error=${error._tag}>[${error._tag}] ${error.message}</div>
    ${causes.map((c) => html`<div class="error-box cause" data-error-cause=${c._tag}>caused by [${c._tag}] ${c.message}</div>`)}
    ${frames.length > 0 && html`<pre class="stack" data-stack>${frames.map((f) => html`<div class=${/node_modules|node:internal|jobstate\/(dist|src)\/(actors|persistence|machines)/.test(f) ? "muted" : ""}>${f.trim()}</div>`)}</pre>`}
    ${Object.keys(rest).length > 0 && html`<${Json} value=${rest} />`}`
}

/** A parent's children, newest first, each a link to itself (the first 50; "list them" pages through all). */
const Children = ({ id, live, select }) => {
  const [jobs, setJobs] = useState(null)
  useEffect(() => {
    const load = () =>
      api(`api/jobs?parent=${encodeURIComponent(id)}&limit=50`).then(
        (p) => setJobs(p.jobs),
        () => {},
      )
    void load()
    const l = (e) => e.type === "status" && load()
    live.listeners.add(l)
    return () => live.listeners.delete(l)
  }, [id])
  if (!jobs) return null
  return html`<div class="children" data-children-list>${jobs.map(
    (c) => html`<a href=${`#job=${c.id}`} data-child=${c.id} onClick=${(e) => {
      e.preventDefault()
      select(c.id)
    }}>
    <code>${short(c.id)}</code> ${c.name} <${Status} job=${c} /></a>`,
  )}</div>`
}

/** The schemas of a type and, for a machine job type, its machine's layout: read once per type while the page is open. */
const typeReads = new Map()
const typeOf = (name) => {
  if (!typeReads.has(name)) {
    const read = api(`api/types/${encodeURIComponent(name)}`).then(async (schema) => ({
      schema,
      diagram: schema.machine ? await api(`api/types/${encodeURIComponent(name)}/machine`) : null,
    }))
    // A failure is not kept: the next look asks again.
    read.catch(() => typeReads.delete(name))
    typeReads.set(name, read)
  }
  return typeReads.get(name)
}

const ENDED = ["completed", "failed", "cancelled"]

/**
 * A machine job's own machine: drawn from its type's definition when this dashboard's manager
 * knows the type (a store's rows never say what a machine is), else its state and path as text;
 * and a form that sends it an event. Nothing for a job that is not a machine job, nor until the
 * page knows the manager's types (`known` undefined).
 */
const Machine = ({ job, known, onSent }) => {
  const [type, setType] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    setType(null)
    setError(null)
    if (known) typeOf(job.name).then(setType, (e) => setError(e.message))
  }, [job.name, known])
  if (known === undefined || (known && type === null && error === null)) return null
  if (type !== null ? !type.schema.machine : job.machineState === undefined) return null
  const path = job.machinePath ?? []
  const anywhere = type?.diagram?.anywhere ?? []
  return html`<h3>machine</h3>
    ${error && html`<div class="error-box">${error}</div>`}
    ${
      type?.diagram
        ? html`<div class="diagram"><${MachineDiagram} diagram=${type.diagram} job=${job} /></div>`
        : html`<p class="muted" data-machine-undrawn>This dashboard does not know the type ${job.name} (give its module with <code>--jobs</code>): its machine is not drawn.</p>`
    }
    ${anywhere.length > 0 && html`<div class="muted">from any state: ${anywhere.map((a, i) => html`${i ? "; " : ""}${a.labels.join(", ")} → ${a.to}`)}</div>`}
    <div class="muted" data-machine-state=${job.machineState === undefined ? "" : stateText(job.machineState)} data-machine-path=${path.map(stateText).join(" ")}>
      state: <b>${job.machineState === undefined ? "not started" : stateText(job.machineState)}</b>${path.length > 0 && html`; path: ${path.map((v, i) => html`${i ? " → " : ""}${stateText(v)}`)}`}</div>
    ${type?.schema.events && !ENDED.includes(job.status) && html`<${SendEvent} key=${job.id} job=${job} schema=${type.schema.events} onSent=${onSent} />`}`
}

/**
 * Sends an event, built from the type's `events` schema: its type chosen from the schema's, its
 * fields as the dispatch form's params are (checked in the page first, with the server's wording;
 * the server's issues shown next to their fields). A schema the form cannot read is typed as JSON.
 */
const SendEvent = ({ job, schema, onSent }) => {
  const variants = useMemo(() => eventVariants(schema), [schema])
  const [chosen, setChosen] = useState(0)
  const [value, setValue] = useState({})
  const [text, setText] = useState("")
  const [issues, setIssues] = useState([])
  const [message, setMessage] = useState(null)
  const variant = variants?.[chosen]
  useEffect(() => {
    setValue(variant ? (initialValue(variant.fields) ?? {}) : {})
    setIssues([])
  }, [chosen, schema])
  const submit = async (e) => {
    e.preventDefault()
    setMessage(null)
    let event
    if (variant) event = { type: variant.type, ...value }
    else {
      try {
        event = JSON.parse(text)
      } catch (err) {
        setMessage({ ok: false, text: `The event is not valid JSON: ${err.message}` })
        return
      }
    }
    // Nothing posts until the event fits its variant: the same issues the server would give.
    const local = validate(variant ? variant.schema : schema, event)
    if (local.length) {
      setIssues(local)
      setMessage({
        ok: false,
        text: `Invalid event for ${JSON.stringify(job.name)}: ${local.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      })
      return
    }
    try {
      const r = await post(`api/jobs/${encodeURIComponent(job.id)}/send`, event)
      setIssues([])
      setMessage({ ok: true, text: `Sent ${r.event}: stored, the machine applies it when the job runs` })
      onSent(r.job)
    } catch (err) {
      setIssues(err.issues ?? [])
      setMessage({ ok: false, text: err.message })
    }
  }
  return html`<form onSubmit=${submit} data-form="send">
    ${
      variant
        ? html`<div class="field"><label for="send-type">event</label><select id="send-type" name="event-type" value=${chosen} onChange=${(e) => setChosen(Number(e.target.value))}>
        ${variants.map((v, i) => html`<option value=${i}>${v.type}</option>`)}</select></div>
        ${Object.keys(variant.fields.properties ?? {}).length > 0 && html`<${SchemaForm} schema=${variant.fields} value=${value} onChange=${setValue} issues=${issues} />`}`
        : html`<div class="field"><label for="send-json">event <span class="hint">(JSON, with its type)</span></label><textarea id="send-json" name="event" rows="3" value=${text} onInput=${(e) => setText(e.target.value)} /></div>`
    }
    ${message && html`<div class=${message.ok ? "ok-box" : "error-box"} data-result=${message.ok ? "ok" : "error"}>${message.text}</div>`}
    <button class="act primary" type="submit">Send</button>
  </form>`
}

const JobDetail = ({ id, live, diagram, types: known, onChanged, select, showChildren }) => {
  const [data, setData] = useState(null)
  const [logs, setLogs] = useState([])
  const [error, setError] = useState(null)
  const [acting, setActing] = useState(null)
  const [message, setMessage] = useState(null)
  const lastSeq = useRef(0)
  const load = () => {
    const n = live.learnt.current
    return api(`api/jobs/${encodeURIComponent(id)}`).then(
      (d) => {
        setData({ ...d, n })
        setError(null)
        setLogs(d.logs)
        lastSeq.current = d.logs.length ? d.logs[d.logs.length - 1].seq : 0
      },
      (e) => setError(e.message),
    )
  }
  // Another job: start blank. The feed (re)connected: read again, showing what is there meanwhile.
  useEffect(() => {
    setData(null)
    setMessage(null)
  }, [id])
  useEffect(() => {
    void load()
  }, [id, live.connected])
  // Tail: a log or status event of this job fetches the lines after the last one shown.
  useEffect(() => {
    let busy = false
    const l = async (e) => {
      if (e.id !== id || busy) return
      if (e.type === "status") {
        const n = live.learnt.current
        api(`api/jobs/${encodeURIComponent(id)}`).then(
          (d) => setData((old) => ({ ...d, n, logs: old?.logs ?? d.logs })),
          () => {},
        )
      }
      if (e.type !== "log" && e.type !== "status") return
      busy = true
      try {
        const { logs: more } = await api(`api/jobs/${encodeURIComponent(id)}/logs?afterSeq=${lastSeq.current}`)
        if (more.length) {
          lastSeq.current = more[more.length - 1].seq
          setLogs((old) => [...old, ...more].slice(-1000))
        }
      } finally {
        busy = false
      }
    }
    live.listeners.add(l)
    return () => live.listeners.delete(l)
  }, [id])
  // A running machine job moves from state to state without a status to hear: read it every second meanwhile.
  const moving = data?.job.machineState !== undefined && data?.job.status === "running"
  useEffect(() => {
    if (!moving) return
    const every = setInterval(() => {
      const n = live.learnt.current
      api(`api/jobs/${encodeURIComponent(id)}/info`).then(
        (r) => setData((old) => (old?.job.id === r.job.id ? { ...old, job: r.job, n } : old)),
        () => {},
      )
    }, 1000)
    return () => clearInterval(every)
  }, [id, moving])
  if (error) return html`<div class="card"><div class="error-box">${error}</div></div>`
  if (!data) return html`<div class="card muted">Loading job…</div>`
  const act = async (action) => {
    // Cancelling cannot be undone (retry starts the job again, and its private files are gone): ask.
    if (
      action === "cancel" &&
      !window.confirm(`Cancel ${data.job.name} ${id}? It stops for good and its private files are deleted.`)
    )
      return
    setActing(action)
    setMessage(null)
    try {
      const r = await post(`api/jobs/${encodeURIComponent(id)}/${action}`)
      setMessage({ ok: true, text: `${action}: ${r.status}` })
      // The list shows the response at once; the details (and the history) are read again.
      live.patch(r.job)
      onChanged()
      await load()
    } catch (e) {
      setMessage({ ok: false, text: e.message })
    } finally {
      setActing(null)
    }
  }
  // The path: what was stored, then the status events heard since. The status: the newest the
  // page knows, which an action's response may tell before its event comes (then it ends the path).
  const timeline = timelineOf(data.history, live.statuses.get(id) ?? [])
  const job = latest(live, data.job, data.n)
  const path = timeline.map((s) => s.status)
  if (path[path.length - 1] !== job.status) path.push(job.status)
  return html`<div class="card" data-job=${job.id}>
    <h2>${job.name} <code>${job.id}</code> <${Status} job=${job} /></h2>
    <div class="actions">${(diagram?.actions ?? []).map((a) => html`<button class="act" name=${a} disabled=${acting !== null || !allowed(a, job, diagram?.commands)} onClick=${() => act(a)}>${acting === a ? "…" : a}</button>`)}</div>
    ${message && html`<div class=${message.ok ? "ok-box" : "error-box"}>${message.text}</div>`}
    <${Bar} job=${job} live=${live.progress.get(id)} />
    <div class="diagram"><${Lifecycle} diagram=${diagram} job=${job} path=${path} /></div>
    <div class="muted" data-path=${path.join(" ")}>path: ${path.map((status, i) => html`${i ? " → " : ""}<span title=${timeline[i]?.at ?? "just now"}>${status}</span>`)}</div>
    <${Machine} job=${job} known=${known?.includes(job.name)} onSent=${(sent) => {
      // The event is stored; the job may run now: read it again (the feed tells its statuses).
      live.patch(sent)
      void load()
    }} />
    <dl class="fields">
      <dt>priority</dt><dd>${job.priority}</dd>
      <dt>attempts</dt><dd>${job.attempts} (${job.failures} failed since dispatch or retry)</dd>
      ${job.runAt && html`<dt>runs at</dt><dd><${When} iso=${job.runAt} /></dd>`}
      ${job.uniqueKey && html`<dt>uniqueKey</dt><dd>${job.uniqueKey}</dd>`}
      <dt>checkpoints</dt><dd>${job.checkpoints}${job.lastCheckpoint ? html`, last at <${When} iso=${job.lastCheckpoint} />` : ""}</dd>
      <dt>created</dt><dd><${When} iso=${job.createdAt} /></dd>
      <dt>started</dt><dd><${When} iso=${job.startedAt} />${job.startedAt ? ` (waited ${duration(job.createdAt, job.startedAt)})` : ""}</dd>
      <dt>ended</dt><dd><${When} iso=${job.completedAt} />${job.completedAt && job.startedAt ? ` (ran ${duration(job.startedAt, job.completedAt)})` : ""}</dd>
      ${job.stalled && html`<dt>stalled</dt><dd>since <${When} iso=${job.stalled.since} />: its manager ${job.stalled.owner ?? ""} is gone</dd>`}
      ${job.waitingForWorker && html`<dt>waiting</dt><dd>for a worker of type ${job.name}</dd>`}
      ${job.pausedBy && html`<dt>paused by</dt><dd>${job.pausedBy}</dd>`}
      ${
        job.parentId &&
        html`<dt>parent</dt><dd><a href=${`#job=${job.parentId}`} data-parent=${job.parentId} onClick=${(e) => {
          e.preventDefault()
          select(job.parentId)
        }}><code>${short(job.parentId)}</code></a></dd>`
      }
      ${
        job.children &&
        html`<dt>children</dt><dd data-children>${STATUSES.filter((s) => job.children[s]).map((s) => html`<span class=${"status " + s}>${job.children[s]} ${s}</span> `)}
        <button class="link" name="show-children" onClick=${() => showChildren(job.id)}>list them</button></dd>`
      }
    </dl>
    ${job.children && html`<${Children} id=${job.id} live=${live} select=${select} />`}
    <h3>params</h3><${Json} value=${data.params} />
    ${job.output !== null && html`<h3>output</h3><${Json} value=${job.output} />`}
    ${job.error && html`<h3>error</h3><${ErrorView} error=${job.error} />`}
    ${job.lastError && !job.error && html`<h3>last error</h3><${ErrorView} error=${job.lastError} />`}
    <h3>log</h3>
    <div class="logs" data-logs>${logs.length === 0 ? html`<span class="debug">(no lines)</span>` : logs.map((l) => html`<div class=${l.level}><${When} iso=${l.at} as="time" /> ${l.level} ${l.message}</div>`)}</div>
  </div>`
}

/** The dispatch form's label for each option the engine may refuse. */
const OPTION_LABELS = {
  priority: "priority",
  delayMs: "delay",
  timeoutMs: "timeout",
  uniqueKey: "unique key",
  runAt: "delay",
}

const Dispatch = ({ types, onDispatched }) => {
  const [name, setName] = useState(types[0] ?? "")
  const [schema, setSchema] = useState(null)
  const [value, setValue] = useState({})
  const [priority, setPriority] = useState("0")
  const [options, setOptions] = useState({ delay: "", uniqueKey: "", timeout: "" })
  const [issues, setIssues] = useState([])
  const [message, setMessage] = useState(null)
  useEffect(() => {
    if (!name && types[0]) setName(types[0])
  }, [types])
  useEffect(() => {
    if (!name) return
    api(`api/types/${encodeURIComponent(name)}`).then(
      (s) => {
        setSchema(s)
        setValue(initialValue(s.params) ?? {})
        setIssues([])
        setMessage(null)
      },
      (e) => setMessage({ ok: false, text: e.message }),
    )
  }, [name])
  const submit = async (e) => {
    e.preventDefault()
    setMessage(null)
    // Nothing posts until the params fit the schema: the same issues the server would give.
    const local = validate(schema?.params, value)
    if (local.length) {
      setIssues(local)
      setMessage({
        ok: false,
        text: `Invalid params for ${JSON.stringify(name)}: ${local.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      })
      return
    }
    // Durations as typed ("90s", "5m", "1500"); one that is not a duration is named by its field.
    const delayMs = durationMs(options.delay)
    const timeoutMs = durationMs(options.timeout)
    const notDuration = [
      ["delay", delayMs],
      ["timeout", timeoutMs],
    ].find(([, ms]) => typeof ms === "string")
    if (notDuration) {
      setMessage({
        ok: false,
        text: `${notDuration[0]}: ${JSON.stringify(notDuration[1])} is not a duration (e.g. 1500, 90s, 5m, 2h)`,
      })
      return
    }
    try {
      const r = await post("api/dispatch", {
        name,
        params: value,
        priority: priorityOf(priority),
        delayMs,
        uniqueKey: options.uniqueKey.trim() || undefined,
        timeoutMs,
      })
      setIssues([])
      setMessage({ ok: true, text: `Dispatched ${r.name} ${r.id}`, id: r.id })
      onDispatched(r.id)
    } catch (err) {
      // The engine names an option by its API name (delayMs); the form by its field's label.
      const field = OPTION_LABELS[err.option]
      setIssues(err.issues ?? [])
      setMessage({ ok: false, text: field ? `${field}: ${err.message}` : err.message })
    }
  }
  return html`<div class="card"><h2>Dispatch a job</h2>
    <form onSubmit=${submit} data-form="dispatch">
      <div class="field"><label for="dispatch-type">type</label><select id="dispatch-type" name="type" value=${name} onChange=${(e) => setName(e.target.value)}>${types.map((t) => html`<option value=${t}>${t}</option>`)}</select>
        ${schema?.description && html`<span class="hint"> ${schema.description}</span>`}</div>
      ${schema && html`<${SchemaForm} schema=${schema.params} value=${value} onChange=${setValue} issues=${issues} />`}
      <div class="field"><label for="dispatch-priority">priority</label><input id="dispatch-priority" name="priority" value=${priority} onInput=${(e) => setPriority(e.target.value)} size="5" /></div>
      <div class="options">
        <div class="field"><label for="dispatch-delay">delay <span class="hint">(e.g. 90s, 5m, 2h; empty: now)</span></label><input id="dispatch-delay" name="delay" value=${options.delay} onInput=${(e) => setOptions({ ...options, delay: e.target.value })} size="8" /></div>
        <div class="field"><label for="dispatch-uniqueKey">unique key <span class="hint">(one live job per key)</span></label><input id="dispatch-uniqueKey" name="uniqueKey" value=${options.uniqueKey} onInput=${(e) => setOptions({ ...options, uniqueKey: e.target.value })} size="16" /></div>
        <div class="field"><label for="dispatch-timeout">timeout <span class="hint">(per attempt; empty: the type's)</span></label><input id="dispatch-timeout" name="timeout" value=${options.timeout} onInput=${(e) => setOptions({ ...options, timeout: e.target.value })} size="8" /></div>
      </div>
      <details><summary>params as JSON</summary><pre data-params-json>${JSON.stringify(value, null, 2)}</pre></details>
      ${message && html`<div class=${message.ok ? "ok-box" : "error-box"} data-result=${message.ok ? "ok" : "error"}>${message.text}</div>`}
      <button class="act primary" type="submit">Dispatch</button>
    </form></div>`
}

/** The schedules: each with its next and last run, removable; and a form that adds one (or replaces one of the same name). */
const Schedules = ({ schedules, types, onChanged }) => {
  const [name, setName] = useState("")
  const [type, setType] = useState(types[0] ?? "")
  const [schema, setSchema] = useState(null)
  const [value, setValue] = useState({})
  const [cron, setCron] = useState("")
  const [timezone, setTimezone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC")
  const [issues, setIssues] = useState([])
  const [message, setMessage] = useState(null)
  useEffect(() => {
    if (!type) return
    api(`api/types/${encodeURIComponent(type)}`).then(
      (s) => {
        setSchema(s)
        setValue(initialValue(s.params) ?? {})
        setIssues([])
      },
      (e) => setMessage({ ok: false, text: e.message }),
    )
  }, [type])
  const remove = async (s) => {
    if (!window.confirm(`Remove the schedule ${s.name}? The jobs it dispatched stay.`)) return
    try {
      await post(`api/schedules/${encodeURIComponent(s.name)}/remove`)
      setMessage({ ok: true, text: `Removed ${s.name}` })
      onChanged()
    } catch (e) {
      setMessage({ ok: false, text: e.message })
    }
  }
  const submit = async (e) => {
    e.preventDefault()
    setMessage(null)
    const local = validate(schema?.params, value)
    if (local.length) {
      setIssues(local)
      setMessage({
        ok: false,
        text: `Invalid params for ${JSON.stringify(type)}: ${local.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      })
      return
    }
    try {
      const r = await post("api/schedules", { name, type, params: value, cron, timezone })
      setIssues([])
      setMessage({
        ok: true,
        text: `Scheduled ${r.schedule.name}: next run ${new Date(r.schedule.nextRunAt).toLocaleString()}`,
      })
      onChanged()
    } catch (err) {
      setIssues(err.issues ?? [])
      setMessage({ ok: false, text: err.message })
    }
  }
  return html`<div class="card"><h2>Schedules</h2>
    ${message && html`<div class=${message.ok ? "ok-box" : "error-box"} data-result=${message.ok ? "ok" : "error"}>${message.text}</div>`}
    ${
      schedules.length === 0
        ? html`<p class="muted">No schedules yet.</p>`
        : html`<table>
      <thead><tr><th>name</th><th>job</th><th>cron</th><th>zone</th><th>next run</th><th>last run</th><th>last job</th><th></th></tr></thead>
      <tbody>${schedules.map(
        (
          s,
        ) => html`<tr data-schedule=${s.name}><td>${s.name}</td><td>${s.jobName}</td><td><code>${s.cron}</code></td><td>${s.timezone}</td><td><${When} iso=${s.nextRunAt} /></td><td><${When} iso=${s.lastRunAt} /></td>
        <td>${s.lastJobId ? html`<a href=${`#job=${s.lastJobId}`}><code>${short(s.lastJobId)}</code></a>` : "–"}</td>
        <td><button class="act" name="remove" onClick=${() => remove(s)}>remove</button></td></tr>`,
      )}</tbody></table>`
    }
    <h3>Add a schedule</h3>
    <form onSubmit=${submit} data-form="schedule">
      <div class="options">
        <div class="field"><label for="schedule-name">name</label><input id="schedule-name" name="name" value=${name} onInput=${(e) => setName(e.target.value)} placeholder="nightly-report" /></div>
        <div class="field"><label for="schedule-type">type</label><select id="schedule-type" name="type" value=${type} onChange=${(e) => setType(e.target.value)}>${types.map((t) => html`<option value=${t}>${t}</option>`)}</select></div>
        <div class="field"><label for="schedule-cron">cron <span class="hint">(minute hour day month weekday)</span></label><input id="schedule-cron" name="cron" value=${cron} onInput=${(e) => setCron(e.target.value)} placeholder="0 3 * * *" /></div>
        <div class="field"><label for="schedule-timezone">zone</label><input id="schedule-timezone" name="timezone" value=${timezone} onInput=${(e) => setTimezone(e.target.value)} /></div>
      </div>
      ${schema && html`<${SchemaForm} schema=${schema.params} value=${value} onChange=${setValue} issues=${issues} />`}
      <button class="act primary" type="submit">Schedule</button>
    </form></div>`
}

/** Every manager on the store, read every two seconds: what it runs, and whether its lease is fresh. */
const Workers = ({ select }) => {
  const [managers, setManagers] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    const load = () =>
      api("api/managers").then(
        (r) => {
          setManagers(r.managers)
          setError(null)
        },
        (e) => setError(e.message),
      )
    void load()
    const every = setInterval(load, 2000)
    return () => clearInterval(every)
  }, [])
  return html`<div class="card"><h2>Workers</h2>
    ${error && html`<div class="error-box">${error}</div>`}
    ${
      managers &&
      html`<table>
      <thead><tr><th>manager</th><th>host</th><th>pid</th><th>types</th><th>running</th><th>lease renewed</th><th>state</th></tr></thead>
      <tbody>${managers.map(
        (m) => html`<tr data-manager=${m.id} data-state=${m.state}>
        <td><code title=${m.id}>${short(m.id)}</code>${m.self ? html` <span class="muted">(this page's)</span>` : ""}</td><td>${m.host}</td><td>${m.pid}</td>
        <td class="wrap">${m.concurrency === 0 ? html`<span class="muted">producer</span>` : m.types.join(", ")}</td>
        <td data-running=${m.running.length}>${
          m.concurrency === 0
            ? "–"
            : html`${m.running.length}/${m.concurrency} ${m.running.map(
                (id) =>
                  html` <a href=${`#job=${id}`} onClick=${(e) => {
                    e.preventDefault()
                    select(id)
                  }}><code>${short(id)}</code></a>`,
              )}`
        }</td>
        <td title=${`lease period ${m.leaseMs / 1000} s`}>${(m.renewedAgoMs / 1000).toFixed(1)} s ago</td>
        <td><span class=${"state " + (m.state === "live" ? "ok" : "bad")}>${m.state}</span></td></tr>`,
      )}</tbody></table>`
    }
  </div>`
}

const Stats = ({ overview }) => {
  const types = new Map()
  for (const c of overview.counts) {
    const row = types.get(c.name) ?? Object.fromEntries(STATUSES.map((s) => [s, 0]))
    row[c.status] = c.count
    types.set(c.name, row)
  }
  return html`<div class="card"><h2>Throughput (jobs ended per minute, last hour)</h2>
    <${Throughput} ended=${overview.ended} since=${overview.since} />
    <h2>By type</h2><table><thead><tr><th>type</th>${STATUSES.map((s) => html`<th>${s}</th>`)}</tr></thead>
    <tbody>${[...types].map(([name, row]) => html`<tr data-type=${name}><td>${name}</td>${STATUSES.map((s) => html`<td data-count=${s}>${row[s] || ""}</td>`)}</tr>`)}</tbody></table></div>`
}

const Replay = () => {
  const [rows, setRows] = useState(null)
  const [error, setError] = useState(null)
  const [actor, setActor] = useState("")
  const load = async (file) => {
    setError(null)
    try {
      setRows(
        (
          await api("api/replay", {
            method: "POST",
            headers: { "content-type": "text/plain" },
            body: await file.text(),
          })
        ).rows,
      )
    } catch (e) {
      setError(e.message)
    }
  }
  const actors = useMemo(() => [...new Set((rows ?? []).map((r) => r.actor))], [rows])
  return html`<div class="card"><h2>Replay an inspection recording</h2>
    <p class="muted">A file made with <code>npx jobstate inspect --out events.jsonl</code>: every event of the manager and job actors, with the state after it.</p>
    <input type="file" accept=".jsonl,.json,.txt" onChange=${(e) => e.target.files[0] && load(e.target.files[0])} />
    ${error && html`<div class="error-box">${error}</div>`}
    ${
      rows &&
      html`<p>${rows.length} events, ${actors.length} actors. <select value=${actor} onChange=${(e) => setActor(e.target.value)}><option value="">every actor</option>${actors.map((a) => html`<option>${a}</option>`)}</select></p>
      <table><thead><tr><th>#</th><th>time</th><th>actor</th><th>kind</th><th>event</th><th>state</th><th>status</th></tr></thead>
      <tbody>${rows
        .filter((r) => !actor || r.actor === actor)
        .slice(0, 2000)
        .map(
          (r) =>
            html`<tr data-replay-row><td>${r.seq}</td><td>+${r.at} ms</td><td>${r.actor}</td><td>${r.kind}</td><td class="mono">${r.event}</td><td class="mono">${r.state}</td><td>${r.status}</td></tr>`,
        )}</tbody></table>`
    }
  </div>`
}

/**
 * What the address keeps, in its hash: the view, the job shown, the list's filters and page, so
 * a reload, a bookmark or Back shows the same. Defaults are left out of it.
 */
const ROUTE = {
  view: "jobs",
  job: "",
  status: "",
  type: "",
  text: "",
  parent: "",
  created: "",
  after: "",
  before: "",
  offset: "0",
}
const readRoute = () => {
  const q = new URLSearchParams(location.hash.slice(1))
  return Object.fromEntries(Object.entries(ROUTE).map(([k, d]) => [k, q.get(k) ?? d]))
}
const hashOf = (route) => {
  const q = new URLSearchParams(Object.entries(route).filter(([k, v]) => v !== ROUTE[k])).toString()
  return q === "" ? "" : `#${q}`
}

/** The route, written to the address as it changes: a new history entry per step, but not per key typed. */
const useRoute = () => {
  const [route, setRoute] = useState(readRoute)
  const written = useRef(route)
  useEffect(() => {
    const back = () => {
      written.current = readRoute()
      setRoute(written.current)
    }
    addEventListener("popstate", back)
    return () => removeEventListener("popstate", back)
  }, [])
  useEffect(() => {
    const hash = hashOf(route)
    if (hash === location.hash) return
    const typing = Object.keys(ROUTE).every((k) => k === "text" || route[k] === written.current[k])
    history[typing ? "replaceState" : "pushState"](null, "", hash === "" ? location.pathname + location.search : hash)
    written.current = route
  }, [route])
  return [route, (change) => setRoute((r) => ({ ...r, ...change }))]
}

const App = () => {
  const live = useLive()
  const [overview, setOverview] = useState(null)
  const [diagram, setDiagram] = useState(null)
  const [error, setError] = useState(null)
  const [route, go] = useRoute()
  const view = route.view
  const setView = (v) => go({ view: v })
  const selected = route.job || null
  const filter = {
    status: route.status,
    name: route.type,
    text: route.text,
    parent: route.parent,
    created: route.created,
    limit: 50,
    after: route.after,
    before: route.before,
    offset: Number(route.offset) || 0,
  }
  const setFilter = (f) =>
    go({
      status: f.status,
      type: f.name,
      text: f.text,
      parent: f.parent,
      created: f.created,
      after: f.after,
      before: f.before,
      offset: String(f.offset),
    })
  const refresh = () =>
    api("api/overview").then(
      (o) => {
        setOverview(o)
        setError(null)
      },
      (e) => setError(e.message),
    )
  useEffect(() => {
    api("api/lifecycle").then(setDiagram, () => {})
  }, [])
  useEffect(() => {
    void refresh()
  }, [live.connected])
  // Counts move with every status: refresh them at most every two seconds while events come.
  const last = useRef(0)
  useEffect(() => {
    if (Date.now() - last.current > 2000) {
      last.current = Date.now()
      void refresh()
    }
  }, [live.tick])
  const select = (id) => go({ job: id, view: "jobs" })
  const showChildren = (id) =>
    go({ view: "jobs", parent: id, status: "", type: "", text: "", created: "", after: "", before: "", offset: "0" })
  const tabs = ["jobs", "workers", "dispatch", "schedules", "stats", "replay"]
  return html`<header><h1>jobstate</h1>
      <nav>${tabs.map((t) => html`<button class=${view === t ? "on" : ""} data-view=${t} onClick=${() => setView(t)}>${t}</button>`)}</nav>
      <span class=${"live" + (live.connected ? " on" : "")} data-live=${live.connected ? "on" : "off"}>${live.connected ? "live" : "connecting…"}</span></header>
    <main>
      ${error && html`<div class="error-box">${error}</div>`}
      <${Counts} overview=${overview} filter=${filter} setFilter=${(f) => {
        setFilter(f)
        setView("jobs")
      }} />
      ${
        view === "jobs" &&
        html`<div class="split">
        <${JobList} live=${live} overview=${overview} selected=${selected} select=${select} filter=${filter} setFilter=${setFilter} />
        ${selected ? html`<${JobDetail} id=${selected} live=${live} diagram=${diagram} types=${overview?.types} onChanged=${refresh} select=${select} showChildren=${showChildren} />` : html`<div class="card muted">Select a job to see its params, output, log and lifecycle.</div>`}
      </div>`
      }
      ${
        view === "dispatch" &&
        overview &&
        html`<${Dispatch} types=${overview.types} onDispatched=${(id) => {
          void refresh()
          select(id)
        }} />`
      }
      ${view === "workers" && html`<${Workers} select=${select} />`}
      ${view === "schedules" && overview && html`<${Schedules} schedules=${overview.schedules} types=${overview.types} onChanged=${refresh} />`}
      ${view === "stats" && overview && html`<${Stats} overview=${overview} />`}
      ${view === "replay" && html`<${Replay} />`}
    </main>`
}

// The placeholder goes: render() adds to what the element holds.
const root = document.getElementById("app")
root.textContent = ""
render(html`<${App} />`, root)
