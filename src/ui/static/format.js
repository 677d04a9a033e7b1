// How the page writes progress and bytes: plain functions, no Preact, so they are easy to test.

const UNITS = ["B", "KB", "MB", "GB", "TB"]

/** 1536 → "1.5 KB" (powers of 1024, as file managers show them). */
export const bytes = (n) => {
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`
}

/** 75 → "1m 15s". */
export const seconds = (s) => {
  const n = Math.round(s)
  if (n < 60) return `${n}s`
  if (n < 3600) return `${Math.floor(n / 60)}m ${n % 60}s`
  return `${Math.floor(n / 3600)}h ${Math.floor((n % 3600) / 60)}m`
}

const count = (n) => n.toLocaleString("en")
const isNumber = (v) => typeof v === "number" && Number.isFinite(v)
/** `filesDone` → "files"; `contentDone` → "content". */
const noun = (key, suffix) =>
  key
    .slice(0, -suffix.length)
    .replace(/([A-Z])/g, " $1")
    .toLowerCase()

/**
 * A structured progress value in words. Jobs report their own shapes (the built-in file copy
 * reports `filesDone/filesTotal`, `bytesDone/bytesTotal`, `bytesPerSecond`, `etaSeconds`,
 * `currentFile`; the indexer `phase`, `filesFound`, `contentDone/contentTotal`, `currentPath`):
 * the usual names are read as such, other numbers and strings are listed as `name value`.
 */
export const describeStructured = (data, running = true) => {
  if (data === null || typeof data !== "object") return { text: String(data ?? ""), detail: "" }
  const parts = []
  const used = new Set(["fraction", "percent"])
  const use = (k) => used.add(k)
  if (typeof data.phase === "string") {
    parts.push(data.phase)
    use("phase")
  }
  if (isNumber(data.done) && isNumber(data.total)) {
    parts.push(`${count(data.done)}/${count(data.total)}`)
    use("done")
    use("total")
  }
  for (const k of Object.keys(data)) {
    if (!k.endsWith("Done")) continue
    const base = k.slice(0, -"Done".length)
    const total = data[`${base}Total`]
    if (!isNumber(data[k])) continue
    use(k)
    use(`${base}Total`)
    if (!isNumber(total) && data[k] === 0) continue // nothing of it yet, out of an unknown total
    const isBytes = /bytes/i.test(base)
    const show = isBytes ? bytes : count
    parts.push(
      isNumber(total)
        ? `${show(data[k])} / ${show(total)}${isBytes ? "" : " " + noun(k, "Done")}`
        : `${show(data[k])}${isBytes ? "" : " " + noun(k, "Done")}`,
    )
  }
  for (const k of Object.keys(data)) {
    if (!k.endsWith("Found") || !isNumber(data[k])) continue
    use(k)
    parts.push(/bytes/i.test(k) ? `${bytes(data[k])} found` : `${count(data[k])} ${noun(k, "Found")} found`)
  }
  // A rate and the time left were true while the job ran: a paused or ended job shows neither.
  if (isNumber(data.bytesPerSecond)) {
    if (running && data.bytesPerSecond > 0) parts.push(`${bytes(data.bytesPerSecond)}/s`)
    use("bytesPerSecond")
  }
  if (isNumber(data.itemsPerSecond)) {
    if (running && data.itemsPerSecond > 0) parts.push(`${count(Math.round(data.itemsPerSecond))}/s`)
    use("itemsPerSecond")
  }
  if ("etaSeconds" in data) {
    if (running && isNumber(data.etaSeconds) && data.etaSeconds > 0) parts.push(`${seconds(data.etaSeconds)} left`)
    use("etaSeconds")
  }
  // The item being worked on: last, and whole in the tooltip (a path is long).
  let detail = ""
  for (const k of Object.keys(data)) {
    if (!/^current/.test(k)) continue
    use(k)
    if (typeof data[k] === "string" && data[k] !== "") detail = data[k]
  }
  for (const [k, v] of Object.entries(data)) {
    if (used.has(k) || v === null) continue
    if (isNumber(v)) parts.push(`${k} ${count(v)}`)
    else if (typeof v === "string" || typeof v === "boolean") parts.push(`${k} ${v}`)
  }
  if (detail) parts.push(detail.split("/").pop())
  return { text: parts.join(" · "), detail }
}

/** A progress value as a fraction (null: unknown), a label, and a longer tooltip; `running`: whether the job runs now. */
export const progressOf = (p, running = true) => {
  if (!p) return { fraction: null, label: "", detail: "" }
  if (p._tag === "Percentage") return { fraction: p.value, label: `${Math.round(p.value * 100)}%`, detail: "" }
  if (p._tag === "Count")
    return { fraction: p.total > 0 ? p.done / p.total : null, label: `${count(p.done)}/${count(p.total)}`, detail: "" }
  if (p._tag === "Indeterminate")
    return { fraction: null, label: p.message ?? "working", detail: "", indeterminate: true }
  const d = p.data ?? {}
  const fraction = isNumber(d.fraction)
    ? d.fraction
    : isNumber(d.percent)
      ? d.percent / 100
      : isNumber(d.done) && isNumber(d.total) && d.total > 0
        ? d.done / d.total
        : null
  const { text, detail } = describeStructured(d, running)
  return { fraction, label: text, detail: detail || text }
}

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration as typed in a form, in ms: "1500" (ms), "90s", "1.5m", "2h", "1d". Empty is
 * undefined (not given); anything else is returned as typed, for the server to refuse by name.
 */
export const durationMs = (text) => {
  const t = String(text ?? "").trim()
  if (t === "") return undefined
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(t)
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? "ms").toLowerCase()]) : t
}
