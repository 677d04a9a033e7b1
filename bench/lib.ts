/**
 * Shared helpers for the benchmark: the parent side (spawn a workload in a fresh child process,
 * collect figures) and the child side (read args, print one JSON line, meters).
 * Nothing here imports jobstate, so a floor child stays free of its dependencies.
 */
import { spawn } from "node:child_process"
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { findSourceMap } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..")

// ---------------------------------------------------------------- figures

export interface Stat {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: ReadonlyArray<number>
}

export interface Figure {
  readonly workload: string
  readonly name: string
  readonly unit: string
  readonly jobstate: Stat
  /** The floor's figure, or what jobstate is compared with (`baselineLabel`). */
  readonly floor?: Stat
  readonly baselineLabel?: string
  /** jobstate median / floor median. */
  readonly ratio?: number
  readonly goal?: { readonly text: string; readonly met: boolean }
  readonly note?: string
  /** W10: how many jobs the store held (the figure is one of a row of sizes). */
  readonly stored?: number
}

/** Settings of one `npm run bench` invocation. */
export interface Bench {
  readonly quick: boolean
  /** Jobs per workload (10,000; 2,000 with --quick). */
  readonly n: number
  /** Runs per figure (3; 1 with --quick). */
  readonly runs: number
}

export type Workload = (b: Bench) => Promise<Figure[]>

export const stat = (values: ReadonlyArray<number>): Stat => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    median: percentile(sorted, 50),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    runs: [...values],
  }
}

/** Percentile `p` (0..100) of ascending `sorted`, nearest rank. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export const sortNumbers = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)

/** Runs `f` `runs` times in sequence. */
export const repeat = async <A>(runs: number, f: (run: number) => Promise<A>): Promise<A[]> => {
  const out: A[] = []
  for (let i = 0; i < runs; i++) out.push(await f(i))
  return out
}

/** A figure from per-run records: `pick` selects the number for jobstate and for the floor. */
export const figure = (
  base: Omit<Figure, "jobstate" | "floor" | "ratio" | "goal">,
  jobstate: ReadonlyArray<number>,
  floor?: ReadonlyArray<number>,
  goal?: { readonly text: string; readonly test: (f: { js: number; floor: number; ratio: number }) => boolean },
): Figure => {
  const js = stat(jobstate)
  const fl = floor === undefined ? undefined : stat(floor)
  const ratio = fl === undefined ? undefined : js.median / fl.median
  return {
    ...base,
    jobstate: js,
    ...(fl === undefined ? {} : { floor: fl, ratio }),
    ...(goal === undefined
      ? {}
      : {
          goal: { text: goal.text, met: goal.test({ js: js.median, floor: fl?.median ?? NaN, ratio: ratio ?? NaN }) },
        }),
  }
}

// ---------------------------------------------------------------- temp dirs

const made: string[] = []

/** A fresh directory under the OS temp dir, removed by `cleanup()`. */
export const tempDir = (prefix = "jobstate-bench-"): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** A fresh copy of a prepared data dir. */
export const copyDir = (from: string): string => {
  const to = tempDir()
  cpSync(from, to, { recursive: true })
  return to
}

export const cleanup = () => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
}

// ---------------------------------------------------------------- children (parent side)

export interface ChildOptions {
  /** Extra node flags, e.g. `--expose-gc`. */
  readonly nodeFlags?: ReadonlyArray<string>
  /** "jobstate" children are the ones profiled under `--profile`. */
  readonly role?: "jobstate" | "floor" | "prep"
  /** Called with each stdout line; return true to stop waiting (the child is then SIGKILLed). */
  readonly onLine?: (line: string) => boolean
  readonly timeoutMs?: number
}

/** Where `--profile` puts CPU profiles; set by run.ts. */
export const profiling: { dir: string | undefined; children: Array<{ pid: number; label: string }> } = {
  dir: undefined,
  children: [],
}

/**
 * Runs `node --import tsx bench/<file> '<json args>'` in a fresh process and returns the last
 * JSON line it printed on stdout.
 */
export const runChild = <R = Record<string, unknown>>(
  file: string,
  args: object,
  options: ChildOptions = {},
): Promise<R> =>
  new Promise((resolvePromise, reject) => {
    const profile = profiling.dir !== undefined && options.role === "jobstate"
    const flags = [...(options.nodeFlags ?? []), ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profiling.dir}`] : [])]
    const child = spawn(process.execPath, [...flags, "--import", "tsx", join("bench", file), JSON.stringify(args)], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...(profile ? { BENCH_PROFILE_DIR: profiling.dir } : {}) },
    })
    if (profile && child.pid !== undefined)
      profiling.children.push({ pid: child.pid, label: `${file} ${JSON.stringify(args)}` })
    let buffered = ""
    let last: R | undefined
    let stopped = false
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${file} ${JSON.stringify(args)}: timed out after ${options.timeoutMs ?? 300_000} ms`))
    }, options.timeoutMs ?? 300_000)
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim()
        buffered = buffered.slice(nl + 1)
        if (line.startsWith("{")) last = JSON.parse(line) as R
        if (!stopped && options.onLine?.(line)) {
          stopped = true
          child.kill("SIGKILL")
        }
      }
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      if (stopped && last !== undefined) resolvePromise(last)
      else if (code === 0 && last !== undefined) resolvePromise(last)
      else reject(new Error(`${file} ${JSON.stringify(args)}: exited with ${code ?? signal} and no result`))
    })
  })

// ---------------------------------------------------------------- child side

/** True when the module at `url` is the process's entry point (run as a child). */
export const isMain = (url: string) =>
  process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === url

/** In a child: runs `f` on the JSON args, prints its result as one JSON line, and exits. */
export const childMain = <A>(url: string, f: (args: A) => Promise<object>) => {
  if (!isMain(url)) return
  const args = JSON.parse(process.argv[2] ?? "{}") as A
  f(args).then(
    (result) => {
      dumpProfileInfo()
      process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
    },
    (error) => {
      console.error(error)
      process.exit(1)
    },
  )
}

type Span = { start: number; end: number }
const window: { start?: number; end?: number; stall?: Span; slow?: Span[] } = {}
/** Microseconds on the clock V8 stamps profile samples with (CLOCK_MONOTONIC). */
const nowUs = () => Number(process.hrtime.bigint() / 1000n)

/** Marks the measured part of a child: under `--profile` only samples inside it are summarised. */
export const measured = {
  start: () => void (window.start = nowUs()),
  stop: () => void (window.end = nowUs()),
  /** The slowest operations, as `performance.now()` spans: a profile is also summarised over them. */
  slow: (spans: ReadonlyArray<readonly [number, number]>) => {
    const offset = nowUs() - performance.now() * 1000
    window.slow = spans.map(([a, b]) => ({ start: a * 1000 + offset, end: b * 1000 + offset }))
  },
}

/**
 * Under `--profile`: the measured window, and the source maps tsx made for the TypeScript files
 * this process loaded, so that profile positions can be reported as lines of the .ts sources.
 */
const dumpProfileInfo = () => {
  const dir = process.env.BENCH_PROFILE_DIR
  if (dir === undefined) return
  writeFileSync(join(dir, `window-${process.pid}.json`), JSON.stringify(window))
  const maps: Record<string, unknown> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith(".ts")) {
        const url = pathToFileURL(path).href
        const map = findSourceMap(url)
        if (map !== undefined) maps[url] = map.payload
      }
    }
  }
  walk(join(repoRoot, "src"))
  walk(join(repoRoot, "bench"))
  writeFileSync(join(dir, `sourcemaps-${process.pid}.json`), JSON.stringify(maps))
}

export const nextTurn = () => new Promise<void>((r) => setImmediate(r))
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Resolves once `condition()` holds, checking every `everyMs`. */
export const waitUntil = (condition: () => boolean, everyMs = 1, timeoutMs = 240_000): Promise<void> =>
  new Promise((resolvePromise, reject) => {
    if (condition()) return resolvePromise()
    const started = Date.now()
    const t = setInterval(() => {
      if (condition()) {
        clearInterval(t)
        resolvePromise()
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(t)
        reject(new Error(`waitUntil: timed out after ${timeoutMs} ms`))
      }
    }, everyMs)
  })

/** The longest event-loop stall: how late a 1 ms interval fired, at worst. Under `--profile` its span is saved. */
export const stallMeter = () => {
  let last = nowUs()
  let worst = 0
  const see = () => {
    const now = nowUs()
    if (now - last > worst) {
      worst = now - last
      window.stall = { start: last, end: now }
    }
    last = now
  }
  const t = setInterval(see, 1)
  return {
    /** Milliseconds beyond the 1 ms period. */
    stop: (): number => {
      clearInterval(t)
      see()
      return Math.max(0, worst / 1000 - 1)
    },
  }
}

export const rssMB = () => process.memoryUsage.rss() / 2 ** 20
/** Peak RSS of this process so far. */
export const peakRssMB = () => (process.resourceUsage().maxRSS * 1024) / 2 ** 20

/** RSS and V8 heap in use after a full GC (run the child with `--expose-gc`) and a short settle. */
export const settledMemoryMB = async () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with --expose-gc")
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(50)
  }
  return { rssMB: rssMB(), heapMB: process.memoryUsage().heapUsed / 2 ** 20 }
}
