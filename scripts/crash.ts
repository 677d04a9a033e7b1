/**
 * The long crash run: `npm run test:crash -- --kills 500 [--seed n] [--data-dir d] [--stored n]`.
 * `--stored n` first fills the store with n jobs of a type the workers do not run (half queued,
 * half completed; see test/crash/filler.ts), which must be untouched at the end.
 * Prints one line per kill and a JSON summary; exits 1 on any violation.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { runCrashCampaign } from "../test/crash/harness.js"

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "500" },
    seed: { type: "string" },
    "data-dir": { type: "string" },
    stored: { type: "string", default: "0" },
  },
})
const seed = Number(values.seed ?? Math.floor(Math.random() * 1_000_000))
const dataDir = values["data-dir"] ?? mkdtempSync(join(tmpdir(), "jobstate-crash-"))
console.log(`seed ${seed}, data dir ${dataDir}`)
const started = Date.now()
const result = await runCrashCampaign({
  dataDir,
  seed,
  kills: Number(values.kills),
  stored: Number(values.stored),
  log: (l) => console.log(l),
})
console.log(JSON.stringify({ ...result, seconds: Math.round((Date.now() - started) / 1000) }, null, 2))
process.exit(result.violations.length === 0 ? 0 : 1)
