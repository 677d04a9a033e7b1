/**
 * The W10 scale section of bench/RESULTS.md: a table per store with a column per store size and
 * the growth from the smallest to the largest, then the issue's goals side by side.
 */
import type { Figure } from "./lib.js"

const sizeLabel = (n: number) =>
  n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1_000 === 0 ? `${n / 1_000}k` : String(n)

const num = (v: number, unit: string): string => {
  if (!Number.isFinite(v)) return "–"
  if (unit === "jobs/s" || unit === "B") return Math.round(v).toLocaleString("en-US")
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

/** The goals of issue 25 as rows, each with the figures it is judged on. */
const goalRows: ReadonlyArray<{ readonly goal: string; readonly of: (f: Figure) => boolean }> = [
  { goal: "bulk enqueue ≥ 0.8× a bare batched INSERT", of: (f) => f.name.startsWith("bulk enqueue: dispatchMany") },
  { goal: "drain (first and last 10,000) ≥ 0.9× the rate at 10k", of: (f) => f.name.startsWith("drain at") },
  { goal: "`open()` ≤ 100 ms", of: (f) => f.name.startsWith("open()") },
  { goal: "any list page ≤ 5 ms (keyset; the offset page is for comparison)", of: (f) => f.name.includes("listJobs") },
  { goal: "counts ≤ 20 ms", of: (f) => f.name.includes("countJobs") },
  { goal: "prune with no event-loop stall over 50 ms", of: (f) => f.name.includes("stall during the prune") },
]

export const scaleSection = (figures: ReadonlyArray<Figure>, date: string | undefined): string[] => {
  const scale = figures.filter((f) => f.stored !== undefined)
  if (scale.length === 0) return []
  const stores = [...new Set(scale.map((f) => f.workload))]
  const sizes = [...new Set(scale.map((f) => f.stored!))].sort((a, b) => a - b)
  const first = sizes[0]!
  const last = sizes[sizes.length - 1]!
  const at = (store: string, name: string, n: number) =>
    scale.find((f) => f.workload === store && f.name === name && f.stored === n)
  const valueCell = (f: Figure | undefined) =>
    f === undefined
      ? "–"
      : `${num(f.jobstate.median, f.unit)}${f.ratio === undefined ? "" : ` (${f.ratio.toFixed(2)}×)`}${f.goal !== undefined && !f.goal.met ? " ✗" : ""}`
  const table = (store: string) => {
    const names = [...new Set(scale.filter((f) => f.workload === store).map((f) => f.name))]
    return [
      `### ${store.replace(/^W10 scale, /, "")}`,
      "",
      `| Figure | Unit | ${sizes.map(sizeLabel).join(" | ")} | ${sizeLabel(last)} ÷ ${sizeLabel(first)} | goal | met |`,
      `|---|---|${sizes.map(() => "---:").join("|")}|---:|---|---|`,
      ...names.map((name) => {
        const row = sizes.map((n) => at(store, name, n))
        const known = row.filter((f) => f !== undefined)
        const growth = known.length > 1 ? known[known.length - 1]!.jobstate.median / known[0]!.jobstate.median : NaN
        const goal = [...known].reverse().find((f) => f.goal !== undefined)
        return `| ${name} | ${known[0]?.unit ?? ""} | ${row.map(valueCell).join(" | ")} | ${Number.isFinite(growth) ? `×${growth.toFixed(growth >= 10 ? 0 : 2)}` : "–"} | ${goal?.goal?.text ?? ""} | ${goal === undefined ? "" : goal.goal!.met ? "met" : "**not met**"} |`
      }),
      "",
    ]
  }
  const judged = (store: string, of: (f: Figure) => boolean) => {
    const onIt = scale.filter((f) => f.workload === store && f.stored === last && f.goal !== undefined && of(f))
    if (onIt.length === 0) return "–"
    const missed = onIt.filter((f) => !f.goal!.met)
    const show = (f: Figure) =>
      `${f.name.replace(/^N (queued|completed): /, "N $1, ")}: ${num(f.jobstate.median, f.unit)} ${f.unit}${f.ratio === undefined ? "" : ` (${f.ratio.toFixed(2)}×)`}`
    if (missed.length === 0) return `met (${onIt.length === 1 ? show(onIt[0]!) : `${onIt.length} figures`})`
    return `**not met**: ${missed.map(show).join("; ")}`
  }
  return [
    "## W10 scale: a store of 10k → 1M jobs (issue 25)",
    "",
    `One run per size${date === undefined ? "" : ` (${date})`}, each step a fresh process on a store of its own (see`,
    "`bench/w10-scale.ts`): N noop jobs stored with `dispatchMany`, 10,000 per call, each call paired with the",
    "floor's: a bare batched INSERT of 10,000 rows into jobstate's own `jobs` table on a store of its own, one",
    "transaction (`bench/bulk-floor.ts`), the two taking turns to go first (both warmed up on a third store);",
    "reads with N queued (a producer, as a dashboard); a worker at concurrency 8 opens and runs the first",
    "10,000; the jobs up to the last 10,000 are completed by SQL (the columns a job's end writes, copied from",
    "one the engine completed, as W6 does; PostgreSQL then vacuumed); a worker opens again and runs the last",
    "10,000; the reads again with N completed; a worker prunes the N completed jobs while it drains a small",
    "queue (rounds of 20 dispatched and awaited). A read is the median of 7 calls after one untimed",
    "(`countJobs`: 5; `getJobInfo`: 21 jobs spread over the store); pages hold 50 jobs. Stall: the worst",
    "lateness of a 1 ms interval in the process. Bytes: SQLite `jobs.db` + WAL after close; PostgreSQL",
    "`pg_total_relation_size` of the schema's tables (indexes, TOAST and free space included). The load",
    "average row says how busy the (shared) machine was: read the figures of a loaded step with care; the CPU",
    "rows (`process.cpuUsage` of the process that ran the step; on PostgreSQL the server's work is not in",
    "them) move less with the load than rates do.",
    "(1.00×) after a value: its ratio to the floor; ✗: a goal not met.",
    "",
    "```",
    "npm run bench -- --only W10                                  # both stores, 10k, 100k, 1M",
    "npm run bench -- --only W10 --sizes 10k,100k --stores sqlite # or BENCH_SCALE_SIZES / BENCH_SCALE_STORES",
    "npm run bench:schema                                         # the bare batched INSERT on SQLite, alone",
    "```",
    "",
    ...stores.flatMap(table),
    `### Goals side by side (those the issue sets at 1M judged at ${sizeLabel(last)})`,
    "",
    `| Goal | ${stores.map((s) => s.replace(/^W10 scale, /, "")).join(" | ")} |`,
    `|---|${stores.map(() => "---").join("|")}|`,
    ...goalRows.map(({ goal, of }) => `| ${goal} | ${stores.map((s) => judged(s, of)).join(" | ")} |`),
    "",
  ]
}
