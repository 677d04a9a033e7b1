/**
 * `npm run bench` — every workload, 3 runs each, N = 10,000; writes bench/RESULTS.md and bench/results.json.
 *   --quick          N = 2,000, 1 run each
 *   --only W2,W4     only these workloads: their figures replace theirs in bench/results.json and
 *                    RESULTS.md, the others' stay (with --quick: printed, nothing written)
 *   --sizes 10k,1M   W10: the store sizes (default 10k,100k,1M; 10k with --quick; or BENCH_SCALE_SIZES)
 *   --stores sqlite  W10: the stores (default sqlite,postgres; or BENCH_SCALE_STORES)
 *   --profile W4     run the workload's jobstate children under `node --cpu-prof` (1 run) and print
 *                    the top self-time functions; writes no results
 * RESULTS.md is the generated part (up to its second top-level `# ` heading) and the notes written
 * by hand after it, which a run keeps.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { cleanup, profiling, repoRoot, tempDir, type Bench, type Figure, type Workload } from "./lib.js"
import { writeBlocks } from "../scripts/generatedDocs.js"
import { summarizeProfile } from "./profile.js"
import { machine, markdown, type Results } from "./report.js"
import w1 from "./w1-enqueue.js"
import w2 from "./w2-drain.js"
import w3 from "./w3-mixed.js"
import w4 from "./w4-progress.js"
import w5 from "./w5-memory.js"
import w6 from "./w6-recovery.js"
import w7 from "./w7-pause.js"
import w8 from "./w8-state.js"
import w9 from "./w9-machines.js"
import w10 from "./w10-scale.js"

const workloads: Record<string, Workload> = {
  W1: w1,
  W2: w2,
  W3: w3,
  W4: w4,
  W5: w5,
  W6: w6,
  W7: w7,
  W8: w8,
  W9: w9,
  W10: w10,
}

const argv = process.argv.slice(2)
const option = (name: string) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1]?.split(",").map((s) => s.trim().toUpperCase()) : undefined
}
const quick = argv.includes("--quick")
const profile = option("--profile")
const only = profile ?? option("--only") ?? Object.keys(workloads)
const bench: Bench = { quick, n: quick ? 2_000 : 10_000, runs: quick || profile ? 1 : 3 }

for (const name of only)
  if (!(name in workloads)) throw new Error(`unknown workload ${name}; known: ${Object.keys(workloads).join(", ")}`)
if (profile) profiling.dir = tempDir("jobstate-bench-prof-")

const started = performance.now()
const figures: Figure[] = []
try {
  for (const name of only) {
    const t0 = performance.now()
    process.stderr.write(`${name} …`)
    figures.push(...(await workloads[name]!(bench)))
    process.stderr.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }
  if (profiling.dir !== undefined) {
    const files = readdirSync(profiling.dir)
    for (const child of profiling.children) {
      const prof = files.find((f) => f.endsWith(".cpuprofile") && f.includes(`.${child.pid}.`))
      const maps = files.find((f) => f === `sourcemaps-${child.pid}.json`)
      const window = files.find((f) => f === `window-${child.pid}.json`)
      if (prof === undefined) continue
      const summary = summarizeProfile(
        join(profiling.dir, prof),
        maps && join(profiling.dir, maps),
        window && JSON.parse(readFileSync(join(profiling.dir, window), "utf8")),
      )
      console.log(`\n## ${child.label}\n${summary}`)
    }
  } else {
    const m = machine()
    const resultsFile = join(repoRoot, "bench", "results.json")
    const resultsMd = join(repoRoot, "bench", "RESULTS.md")
    const partial = option("--only") !== undefined
    const old = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, "utf8")) as Results) : undefined
    if (partial && (old === undefined || old.quick !== bench.quick)) {
      console.log(markdown(bench, m, figures))
      process.stderr.write(
        `not written: --only merges into the results of a full run${old === undefined ? ", and there are none" : ` made ${old.quick ? "with" : "without"} --quick`}\n`,
      )
    } else {
      const order = Object.keys(workloads)
      const keyOf = (f: Figure) => order.indexOf(f.workload.split(/[ ,]/)[0]!)
      const results: Results =
        partial && old !== undefined
          ? {
              ...old,
              figures: [...old.figures.filter((f) => !only.includes(order[keyOf(f)]!)), ...figures].sort(
                (a, b) => keyOf(a) - keyOf(b),
              ),
              reruns: {
                ...old.reruns,
                ...Object.fromEntries(only.map((k) => [k, { date: m.date, runs: bench.runs, n: bench.n }])),
              },
            }
          : { ...bench, machine: m, figures }
      // The notes written by hand after the generated part are kept.
      const text = existsSync(resultsMd) ? readFileSync(resultsMd, "utf8") : ""
      const notes = text.search(/\n# /)
      const md = markdown(results, results.machine, results.figures, results.reruns)
      writeFileSync(resultsMd, notes < 0 ? md : `${md}\n${text.slice(notes + 1)}`)
      writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`)
      // The README's scale table is made from these results.
      if (only.includes("W10") || !partial) writeBlocks(["scale"])
      console.log(md)
    }
  }
  process.stderr.write(`total ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
} finally {
  cleanup()
}
