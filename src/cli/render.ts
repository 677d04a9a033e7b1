import { MultiBar, Presets, type SingleBar } from "cli-progress"
import { Progress } from "../jobs/Progress.js"

/** A count as every message prints one: 1,234,567. */
export const formatCount = (n: number): string => n.toLocaleString("en-US")

export const formatBytes = (n: number): string => {
  if (n < 1024) return `${Math.round(n)} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

export const formatDuration = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms - minutes * 60_000) / 1000)} s`
}

/** Wall time between two stored ISO timestamps, when both are known. */
export const elapsedBetween = (from: string | null, to: string | null): string | null =>
  from === null || to === null ? null : formatDuration(Date.parse(to) - Date.parse(from))

const truncate = (s: string, max: number) => (s.length <= max ? s : `…${s.slice(s.length - max + 1)}`)

/** What a bar shows for one progress value: a fraction when the job knows one, and a short text. */
export interface ProgressLine {
  readonly fraction: number | null
  readonly detail: string
}

type Data = Record<string, unknown>
const num = (d: Data, k: string) => (typeof d[k] === "number" ? (d[k] as number) : 0)

// The builtin jobs' structured progress is recognised by its shape, so that `watch` can render
// rows of any manager's jobs without knowing which definitions that manager registered.
// A rate and an ETA describe a job that is moving: a paused, queued or finished one shows neither.
const describeStructured = (d: Data, moving: boolean): string => {
  if ("bytesDone" in d && "filesDone" in d) {
    const eta =
      moving && typeof d.etaSeconds === "number" && d.etaSeconds > 0
        ? ` · eta ${formatDuration(d.etaSeconds * 1000)}`
        : ""
    const rate = moving ? ` · ${formatBytes(num(d, "bytesPerSecond"))}/s` : ""
    return `${num(d, "filesDone")}/${num(d, "filesTotal")} files · ${formatBytes(num(d, "bytesDone"))}/${formatBytes(num(d, "bytesTotal"))}${rate}${eta}`
  }
  if ("phase" in d && "filesFound" in d) {
    return d.phase === "content"
      ? `content ${num(d, "contentDone")}/${typeof d.contentTotal === "number" ? d.contentTotal : "?"} files`
      : `${String(d.phase)} · ${num(d, "dirsFound")} dirs, ${num(d, "filesFound")} files, ${formatBytes(num(d, "bytesFound"))}`
  }
  // A phase and done out of total, as the dashboard shows them; anything else as JSON.
  const counted = typeof d.done === "number" && typeof d.total === "number" ? `${d.done}/${d.total}` : undefined
  const phase = typeof d.phase === "string" ? d.phase : undefined
  if (counted !== undefined || phase !== undefined) return [phase, counted].filter((x) => x !== undefined).join(" · ")
  return truncate(JSON.stringify(d), 60)
}

/** What to show for a job in `status`: a completed job is whole even when its progress had no fraction. */
export const lineFor = (status: string, progress: Progress<unknown> | null): ProgressLine => {
  const line = describeProgress(progress, status === "running")
  return status === "completed" ? { ...line, fraction: 1 } : line
}

/** `moving`: the job is running, so a rate and an ETA mean something. */
export const describeProgress = (progress: Progress<unknown> | null, moving = true): ProgressLine => {
  if (progress === null) return { fraction: null, detail: "" }
  const fraction = Progress.fraction(progress)
  switch (progress._tag) {
    case "Percentage":
      return { fraction, detail: "" }
    case "Count":
      return { fraction, detail: `${progress.done}/${progress.total}` }
    case "Indeterminate":
      return { fraction, detail: progress.message ?? "" }
    case "Structured":
      return {
        fraction,
        detail:
          typeof progress.data === "object" && progress.data !== null
            ? describeStructured(progress.data as Data, moving)
            : String(progress.data),
      }
  }
}

const percent = (fraction: number | null) =>
  fraction === null ? " --%" : `${String(Math.floor(fraction * 100)).padStart(3)}%`

/** Live progress of several jobs: one bar each on a terminal, occasional plain lines elsewhere. */
export interface ProgressView {
  /** Shows the job's latest status and progress. */
  update(key: string, label: string, status: string, progress: Progress<unknown> | null): void
  /** Removes the job's bar, for views that outlive many jobs. */
  remove(key: string): void
  /** Prints a line above the bars. */
  log(line: string): void
  stop(): void
}

/** Bars need a cursor that can move up; CI logs and pipes get lines instead. */
export const isInteractive = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && !process.env.CI && process.env.TERM !== "dumb"

export const createProgressView = (
  stream: NodeJS.WriteStream,
  options: { readonly interactive?: boolean; readonly plainIntervalMs?: number } = {},
): ProgressView =>
  (options.interactive ?? isInteractive(stream)) ? barsView(stream) : plainView(stream, options.plainIntervalMs ?? 1000)

const SCALE = 1000

const barsView = (stream: NodeJS.WriteStream): ProgressView => {
  const multi = new MultiBar(
    {
      stream,
      format: "{label} {bar} {pct} {status}{detail}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
      // The bars are drawn only while a terminal is attached, so its width is known.
      linewrap: false,
    },
    Presets.shades_classic,
  )
  const bars = new Map<string, SingleBar>()
  return {
    update(key, label, status, progress) {
      const { fraction, detail } = lineFor(status, progress)
      const payload = {
        label: label.padEnd(10),
        pct: percent(fraction),
        status: status === "running" ? "" : `[${status}] `,
        detail: truncate(detail, Math.max(20, (stream.columns ?? 100) - 60)),
      }
      const value = Math.round((fraction ?? 0) * SCALE)
      const bar = bars.get(key)
      if (bar === undefined) bars.set(key, multi.create(SCALE, value, payload))
      else bar.update(value, payload)
    },
    remove(key) {
      const bar = bars.get(key)
      if (bar === undefined) return
      bars.delete(key)
      multi.update()
      multi.remove(bar)
    },
    log(line) {
      multi.log(`${line}\n`)
      multi.update()
    },
    stop() {
      multi.stop()
    },
  }
}

const plainView = (stream: NodeJS.WriteStream, intervalMs: number): ProgressView => {
  // A line per job at most every intervalMs, and at once when its status changes, so a CI log
  // shows the run's shape without thousands of lines; a line that says nothing new is skipped.
  const last = new Map<string, { at: number; status: string; text: string }>()
  return {
    update(key, label, status, progress) {
      const now = Date.now()
      const prev = last.get(key)
      if (prev !== undefined && prev.status === status && now - prev.at < intervalMs) return
      const { fraction, detail } = lineFor(status, progress)
      const text = `[${label}] ${status} ${percent(fraction).trim()}${detail ? ` ${detail}` : ""}`
      if (prev?.text === text) return
      last.set(key, { at: now, status, text })
      stream.write(`${text}\n`)
    },
    remove(key) {
      last.delete(key)
    },
    log(line) {
      stream.write(`${line}\n`)
    },
    stop() {},
  }
}

/** A count that goes up, shown as it goes: `add` as work is done, `done` when it is over. */
export interface CountLine {
  add(n: number): void
  /** Clears the line (the command prints its own summary after). */
  done(): void
}

/**
 * A running count on one line of a terminal, redrawn in place at most every `intervalMs` (and
 * not before `delayMs`: a quick run draws nothing). Elsewhere (a pipe, a CI log) it writes
 * nothing: the command's summary says it once.
 */
export const createCountLine = (
  stream: NodeJS.WriteStream,
  text: (count: number) => string,
  options: { readonly interactive?: boolean; readonly intervalMs?: number; readonly delayMs?: number } = {},
): CountLine => {
  if (!(options.interactive ?? isInteractive(stream))) return { add() {}, done() {} }
  const intervalMs = options.intervalMs ?? 100
  const started = Date.now()
  let count = 0
  let drawnAt: number | undefined
  return {
    add(n) {
      count += n
      const now = Date.now()
      if (now - started < (options.delayMs ?? 0)) return
      if (drawnAt !== undefined && now - drawnAt < intervalMs) return
      drawnAt = now
      stream.write(`\r\x1b[2K${text(count)}`)
    },
    done() {
      if (drawnAt !== undefined) stream.write("\r\x1b[2K")
    },
  }
}
