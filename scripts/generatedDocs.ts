/**
 * The parts of the docs generated from the code, between markers:
 *   <!-- generated:NAME (npm run docs) -->
 *   …
 *   <!-- /generated:NAME -->
 * `npm run docs` writes them; test/docs.test.ts fails when one has drifted from the code.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { machineGraph } from "../src/machines/machineGraph.js"
import { toMermaid } from "../src/cli/renderMachine.js"
import { jobLifecycleMachine } from "../src/machines/jobLifecycleMachine.js"

interface BenchFigure {
  readonly workload: string
  readonly name: string
  readonly unit: string
  readonly stored?: number
  readonly jobstate: { readonly median: number }
}

/** The W10 figures the README shows: what a store of 10k and of 1M jobs costs, from bench/results.json. */
const SCALE_ROWS: ReadonlyArray<{ readonly label: string; readonly figure: string }> = [
  {
    label: "bulk enqueue (`dispatchMany`, 10,000 a call)",
    figure: "bulk enqueue: dispatchMany, 10,000 per call (floor: bare batched INSERT)",
  },
  { label: "drain at concurrency 8 (no-op jobs)", figure: "drain at concurrency 8: the first 10,000 (N queued)" },
  { label: "`open()` of a worker", figure: "open() of a worker (concurrency 8) with N queued" },
  { label: "a page of one status (keyset)", figure: "N queued: listJobs, first page of status queued" },
  { label: "`countJobs()`", figure: "N completed: countJobs" },
  {
    label: "longest event-loop stall while pruning",
    figure: "longest event-loop stall during the prune, a manager draining meanwhile",
  },
]

const formatted = (value: number): string =>
  value < 0.01
    ? "< 0.01"
    : value >= 100
      ? Math.round(value).toLocaleString("en-US")
      : value >= 1
        ? value.toFixed(1)
        : value.toFixed(2)

/** The README's scale table: each figure at 10k and at 1M jobs stored, on both stores. */
export const scaleTable = (figures: ReadonlyArray<BenchFigure>): string => {
  const at = (store: string, name: string, stored: number) =>
    figures.find((f) => f.workload === `W10 scale, ${store}` && f.name === name && f.stored === stored)
  const cell = (store: string, name: string, stored: number) => {
    const f = at(store, name, stored)
    return f === undefined ? "–" : `${formatted(f.jobstate.median)} ${f.unit}`
  }
  return [
    "| With N jobs stored | SQLite, 10k | SQLite, 1M | PostgreSQL, 10k | PostgreSQL, 1M |",
    "|---|---:|---:|---:|---:|",
    ...SCALE_ROWS.map(
      ({ label, figure }) =>
        `| ${label} | ${cell("SQLite", figure, 10_000)} | ${cell("SQLite", figure, 1_000_000)} | ${cell("PostgreSQL", figure, 10_000)} | ${cell("PostgreSQL", figure, 1_000_000)} |`,
    ),
  ].join("\n")
}

/** Each generated block: the file it is in, and its text. */
export const generatedBlocks: Record<string, { readonly file: string; readonly text: () => string }> = {
  lifecycle: {
    file: "docs/stores.md",
    text: () => ["```mermaid", toMermaid([machineGraph(jobLifecycleMachine)]).trimEnd(), "```"].join("\n"),
  },
  scale: {
    file: "README.md",
    text: () =>
      scaleTable(
        (
          JSON.parse(readFileSync(new URL("../bench/results.json", import.meta.url), "utf8")) as {
            figures: BenchFigure[]
          }
        ).figures,
      ),
  },
}

const markers = (name: string) => [`<!-- generated:${name} (npm run docs) -->`, `<!-- /generated:${name} -->`] as const

/** `text` with the block `name` replaced by `body`; throws when the markers are missing. */
export const withBlock = (text: string, name: string, body: string, file: string): string => {
  const [open, close] = markers(name)
  const start = text.indexOf(open)
  const end = text.indexOf(close)
  if (start < 0 || end < start) throw new Error(`${file} has no ${open} … ${close} block`)
  return `${text.slice(0, start + open.length)}\n${body}\n${text.slice(end)}`
}

/** Writes the generated blocks (all, or those named) into their files; says which changed. */
export const writeBlocks = (names: ReadonlyArray<string> = Object.keys(generatedBlocks)): void => {
  for (const name of names) {
    const block = generatedBlocks[name]!
    const file = fileURLToPath(new URL(`../${block.file}`, import.meta.url))
    const before = readFileSync(file, "utf8")
    const after = withBlock(before, name, block.text(), block.file)
    if (after !== before) writeFileSync(file, after)
    console.log(`${block.file}: ${name} ${after === before ? "unchanged" : "written"}`)
  }
}

if (process.argv[1]?.endsWith("generatedDocs.ts")) writeBlocks()
