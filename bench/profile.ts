/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function with file:line,
 * over the measured window of the child. Positions in TypeScript files are mapped back to the
 * .ts source through the source maps the child saved (see `dumpProfileInfo` in lib.ts), since
 * tsx runs transformed code. For the worst event-loop stall it also lists total (inclusive) time.
 */
import { existsSync, readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { repoRoot } from "./lib.js"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface Profile {
  readonly startTime: number
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: CallFrame
    readonly children?: ReadonlyArray<number>
  }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

interface Span {
  readonly start?: number
  readonly end?: number
}

/** The source map tsc wrote beside a file of the compiled package (dist/), which `import "jobstate"` runs. */
const distMap = (url: string): unknown => {
  if (!url.startsWith("file://")) return undefined
  const file = fileURLToPath(url)
  if (!file.startsWith(join(repoRoot, "dist")) || !existsSync(`${file}.map`)) return undefined
  return JSON.parse(readFileSync(`${file}.map`, "utf8"))
}

const shortPath = (url: string): string => {
  if (!url.startsWith("file://")) return url || "(native)"
  const rel = relative(repoRoot, fileURLToPath(url))
  const nm = rel.lastIndexOf("node_modules/")
  return nm >= 0 ? rel.slice(nm + "node_modules/".length) : rel
}

export const summarizeProfile = (
  profileFile: string,
  sourceMapsFile: string | undefined,
  window: Span & { readonly stall?: Span; readonly slow?: ReadonlyArray<Span> } = {},
  top = 15,
): string => {
  const profile = JSON.parse(readFileSync(profileFile, "utf8")) as Profile
  const payloads =
    sourceMapsFile === undefined ? {} : (JSON.parse(readFileSync(sourceMapsFile, "utf8")) as Record<string, unknown>)
  const maps = new Map<string, SourceMap | null>()
  /** tsx's map of a .ts file this process loaded, or tsc's `.js.map` beside a compiled dist/ file. */
  const mapOf = (url: string): SourceMap | null => {
    let map = maps.get(url)
    if (map !== undefined) return map
    const payload = payloads[url] ?? distMap(url)
    map = payload === undefined ? null : new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0])
    maps.set(url, map)
    return map
  }
  const where = (f: CallFrame): string => {
    const map = f.lineNumber >= 0 ? mapOf(f.url) : null
    if (map !== null) {
      const entry = map.findEntry(f.lineNumber, f.columnNumber) as { originalLine?: number; originalSource?: string }
      if (entry.originalLine !== undefined) {
        // tsc's maps name the .ts source relative to the .js file; tsx's name the file itself.
        const source =
          payloads[f.url] === undefined && entry.originalSource !== undefined
            ? shortPath(new URL(entry.originalSource, f.url).href)
            : shortPath(f.url)
        return `${source}:${entry.originalLine + 1}`
      }
    }
    return f.lineNumber >= 0 && f.url ? `${shortPath(f.url)}:${f.lineNumber + 1}` : shortPath(f.url)
  }
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (f: CallFrame) => `${f.functionName || "(anonymous)"}  ${where(f)}`

  const tally = (spans: ReadonlyArray<Span>, inclusive: boolean) => {
    const inside = (t: number) => spans.some((s) => t >= (s.start ?? -Infinity) && t <= (s.end ?? Infinity))
    const byFunction = new Map<string, number>()
    const byFile = new Map<string, number>()
    let wall = 0
    let busy = 0
    let at = profile.startTime
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000
      at += profile.timeDeltas[i] ?? 0
      if (!inside(at)) return
      wall += ms
      const frame = frames.get(id)!
      if (frame.functionName === "(idle)") return
      busy += ms
      const seen = new Set<string>()
      for (let node: number | undefined = id; node !== undefined; node = inclusive ? parent.get(node) : undefined) {
        const k = key(frames.get(node)!)
        if (seen.has(k) || k.startsWith("(root)")) continue
        seen.add(k)
        byFunction.set(k, (byFunction.get(k) ?? 0) + ms)
      }
      const file = shortPath(frame.url)
      byFile.set(file, (byFile.get(file) ?? 0) + ms)
    })
    const rows = (m: Map<string, number>, n: number) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([k, ms]) => `  ${ms.toFixed(1).padStart(8)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${k}`)
    return { wall, busy, rows, byFunction, byFile }
  }

  const main = tally([window], false)
  const total = tally([window], true)
  const ours = new Map([...total.byFunction].filter(([k]) => /  (src|bench)\//.test(k)))
  const out = [
    `${window.start === undefined ? "whole process" : "measured window"}: ${main.wall.toFixed(0)} ms sampled, ${main.busy.toFixed(0)} ms busy (not idle); % of busy`,
    `top ${top} functions by self time (file:line = where the function is defined):`,
    ...main.rows(main.byFunction, top),
    "top files by self time:",
    ...main.rows(main.byFile, 8),
    `top ${top} jobstate/bench functions by total (inclusive) time:`,
    ...total.rows(ours, top),
  ]
  if (window.stall?.start !== undefined) {
    const stall = tally([window.stall], true)
    out.push(
      `worst event-loop stall: ${(((window.stall.end ?? 0) - window.stall.start) / 1000).toFixed(1)} ms; total (inclusive) time of the functions on the stack during it:`,
      ...stall.rows(stall.byFunction, top + 10),
    )
  }
  if (window.slow !== undefined && window.slow.length > 0) {
    const slow = tally(window.slow, true)
    out.push(
      `the ${window.slow.length} slowest operations (${slow.wall.toFixed(0)} ms sampled, ${slow.busy.toFixed(0)} ms busy); total (inclusive) time of the functions on the stack during them:`,
      ...slow.rows(slow.byFunction, top + 10),
    )
  }
  return out.join("\n")
}
