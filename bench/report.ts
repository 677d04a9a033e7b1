/** Renders the results as markdown (bench/RESULTS.md) and collects the machine description. */
import Database from "better-sqlite3"
import { readFileSync } from "node:fs"
import { cpus, release, totalmem } from "node:os"
import { join } from "node:path"
import { repoRoot, type Bench, type Figure, type Stat } from "./lib.js"
import { scaleSection } from "./report-scale.js"

export const machine = () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    dependencies: Record<string, string>
    peerDependencies?: Record<string, string>
  }
  const installed = (name: string) =>
    (JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8")) as { version: string })
      .version
  const db = new Database(":memory:")
  const sqlite = (db.prepare(`SELECT sqlite_version() AS v`).get() as { v: string }).v
  db.close()
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    ramGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    sqlite,
    // Effect and XState are peer dependencies: the app's copies are the ones that run.
    dependencies: Object.fromEntries(
      [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {})]
        .sort()
        .map((name) => [name, installed(name)]),
    ),
    date: new Date().toISOString(),
  }
}

export type Machine = ReturnType<typeof machine>

/** Workloads run again on their own (`--only`) after the full run: when, how many runs, N. */
export type Reruns = Readonly<Record<string, { readonly date: string; readonly runs: number; readonly n: number }>>

/** bench/results.json. */
export interface Results extends Bench {
  readonly machine: Machine
  readonly figures: ReadonlyArray<Figure>
  readonly reruns?: Reruns
}

const num = (v: number, unit: string): string => {
  if (!Number.isFinite(v)) return "–"
  if (["jobs/s", "calls/s", "checkpoints/s", "B", "writes", "jobs"].includes(unit))
    return Math.round(v).toLocaleString("en-US")
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

const cell = (s: Stat | undefined, unit: string, label?: string): string => {
  if (s === undefined) return "–"
  const range = s.runs.length > 1 ? ` (${num(s.min, unit)}–${num(s.max, unit)})` : ""
  return `${label === undefined ? "" : `${label}: `}${num(s.median, unit)}${range}`
}

export const markdown = (b: Bench, m: Machine, all: ReadonlyArray<Figure>, reruns: Reruns = {}): string => {
  // W10's figures, one per store size, have a section of their own.
  const figures = all.filter((f) => f.stored === undefined)
  const sized = (k: string) => all.some((f) => f.stored !== undefined && f.workload.startsWith(`${k} `))
  const lines = [
    "# jobstate benchmark",
    "",
    `${b.quick ? "**Quick run** (`--quick`): " : ""}N = ${b.n.toLocaleString("en-US")} jobs unless said; ${b.runs} run${b.runs > 1 ? "s" : ""} per figure, each in a fresh process on a fresh database; median${b.runs > 1 ? " (min–max)" : ""}.`,
    "",
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGB} GB RAM, ${m.os}`,
    `- Node ${m.node}, SQLite ${m.sqlite} (bundled with better-sqlite3)`,
    `- Dependencies: ${Object.entries(m.dependencies)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `- Date: ${m.date}`,
    ...Object.entries(reruns).map(
      ([k, r]) =>
        `- ${k} run again on its own (\`--only ${k}\`, same machine): ${r.date}, ${sized(k) ? "one run per store size (its section)" : `${r.runs} run${r.runs > 1 ? "s" : ""}, N = ${r.n.toLocaleString("en-US")}`}`,
    ),
    "",
    "Floor: bare better-sqlite3, WAL, synchronous=NORMAL, one INSERT to enqueue, one UPDATE to claim, one UPDATE to",
    "complete, each its own transaction (bench/floor.ts). Ratio = jobstate median / floor (or baseline) median.",
    "",
    "| Workload | Figure | Unit | jobstate | floor | ratio | goal | met |",
    "|---|---|---|---:|---:|---:|---|---|",
    ...figures.map(
      (f) =>
        `| ${f.workload} | ${f.name}${f.note ? ` — ${f.note}` : ""} | ${f.unit} | ${cell(f.jobstate, f.unit)} | ${cell(f.floor, f.unit, f.baselineLabel)} | ${f.ratio === undefined ? "–" : `${f.ratio.toFixed(2)}×`} | ${f.goal?.text ?? ""} | ${f.goal === undefined ? "" : f.goal.met ? "met" : "**not met**"} |`,
    ),
    "",
    "## Goals",
    "",
    ...figures
      .filter((f) => f.goal !== undefined)
      .map(
        (f) =>
          `- ${f.goal!.met ? "met" : "**not met**"}: ${f.workload}, ${f.name}: ${cell(f.jobstate, f.unit)} ${f.unit}${f.ratio === undefined ? "" : ` (${f.ratio.toFixed(2)}× ${f.baselineLabel ?? "floor"})`}, goal ${f.goal!.text}`,
      ),
    "",
    "## How each workload is measured",
    "",
    "See the header comment of each `bench/w*.ts`. In short:",
    "",
    "- W1: N awaited `dispatch` calls while one blocking job holds the only slot (concurrency 1), so nothing else runs; floor: N awaited INSERTs.",
    "- W2: N noop jobs stored by an earlier process; open → all completed (all claimed and none live, checked against the rows after). Stall: worst lateness of a 1 ms interval, from when open() returned until all completed; heap read after the drain, after GC. Floor: claim + complete per job, setImmediate between jobs.",
    "- W3: producer dispatches and yields (setImmediate) after each; latency = `performance.now()` at dispatch (in params) → first line of `run`. Floor: producer INSERTs, one consumer loop claims/completes.",
    "- W4: 200 jobs call `ctx.progress` 100 times each in a tight loop; calls/s over first dispatch → all completed (the goal is judged on this), and over the time inside the report loops only; writes = `stats().progressWrites`. Floor: 20,000 single-row UPDATEs timed alone.",
    "- W5: RSS and V8 heap after GC with the data dir open and nothing running (jobstate: a blocking job holds the one slot); floor: its database open.",
    "- W6: open() runs recovery synchronously, so the stall figure includes it. 100k completed rows (SQL copies of a real completed row) + 1,000 jobs left `running` by a SIGKILLed manager; open → first resumed `run`, → all completed.",
    "- W7: one job calling `checkInterrupt` every ms; `pause()` until it resolves (stored state read back), `resume()` until `run` starts again.",
    "- W8: schema-valid checkpoint states of the built-in jobs (FileCopyState stores a walk cursor, not a list of finished files, so it stays small); bytes and per-call codec time, MessagePack vs JSON. The third state is the brief's assumed shape, for comparison only.",
    "- W9: machine jobs on SQLite and PostgreSQL. Transitions: a counter machine whose state invokes a `fromPromise` step that resolves at once and re-enters on `onDone` (one committed checkpoint per step), beside a plain job awaiting `ctx.checkpoint` as often, concurrency 8, in one process (ABBA rounds); CPU time from `process.cpuUsage`. send→applied: `manager.send` until the machine's own action on that transition runs (the engine runs it only after the transition is committed), one sample at a time; resting jobs (each its own, claimed again) and one live job. Resting: N jobs come to rest; RSS/heap after GC before and after; a plain job's dispatch → result meanwhile; then each is sent its event, drained to completion.",
    "- W10: a store of 10k, 100k and 1M jobs on SQLite and PostgreSQL, one run per size: see its section below.",
    "- `npm run bench -- --profile W2` runs a workload's jobstate children under `node --cpu-prof` and prints the top self-time functions of the measured part (positions mapped to the .ts sources).",
    "",
    ...scaleSection(all, reruns.W10?.date ?? m.date),
  ]
  return lines.join("\n")
}
