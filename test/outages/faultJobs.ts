/**
 * The job of the fault suite. `fault_count` counts to `n`: per item, `delayMs` of work, then a
 * side effect, then a checkpoint. The side effect is a line appended to a file beside the store
 * (`<effectsDir>/effects.log`), outside the database, so that it survives whatever the store
 * goes through: `jobId item attempt pid`. The suite reads it back (see `readEffects`).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { defineJob, Progress } from "../../src/index.js"

export const FaultCountJob = defineJob({
  name: "fault_count",
  params: Schema.Struct({ n: Schema.Number, delayMs: Schema.Number, effectsDir: Schema.String }),
  state: Schema.Struct({ next: Schema.Number }),
  initialState: () => ({ next: 0 }),
  output: Schema.Struct({ counted: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      for (let i = ctx.state.next; i < ctx.params.n; i++) {
        yield* ctx.checkInterrupt
        yield* Effect.sleep(ctx.params.delayMs)
        appendFileSync(join(ctx.params.effectsDir, "effects.log"), `${ctx.id} ${i} ${ctx.attempt} ${process.pid} ${Date.now()}\n`)
        yield* ctx.checkpoint({ next: i + 1 })
        yield* ctx.progress(Progress.count(i + 1, ctx.params.n))
      }
      return { counted: ctx.params.n }
    }),
})

export interface EffectLine {
  readonly id: string
  readonly item: number
  readonly attempt: number
  readonly pid: number
  readonly at: number
}

export const readEffects = (effectsDir: string): EffectLine[] => {
  const file = join(effectsDir, "effects.log")
  if (!existsSync(file)) return []
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [id, item, attempt, pid, at] = l.split(" ")
      return { id: id!, item: Number(item), attempt: Number(attempt), pid: Number(pid), at: Number(at) }
    })
}

/**
 * What is wrong with the side effects of jobs that each had to count to `n`, given how many
 * faults the run went through: an item never done (a side effect lost), an item done more often
 * than once plus once per fault (work redone beyond the item in flight at each fault), and two
 * attempts of one job running at the same time (an earlier attempt's effect after a later one's).
 */
export const effectViolations = (effects: ReadonlyArray<EffectLine>, ids: ReadonlyArray<string>, n: number, faults: number): string[] => {
  const violations: string[] = []
  for (const id of ids) {
    const mine = effects.filter((e) => e.id === id)
    const redone = mine.length - new Set(mine.map((e) => e.item)).size
    for (let item = 0; item < n; item++) if (!mine.some((e) => e.item === item)) violations.push(`job ${id}: item ${item} never done`)
    if (redone > faults) violations.push(`job ${id}: ${redone} items redone, more than one per fault (${faults} faults)`)
    let attempt = 0
    for (const e of mine) {
      if (e.attempt < attempt) violations.push(`job ${id}: attempt ${e.attempt} did item ${e.item} after attempt ${attempt} had begun (two attempts at once)`)
      attempt = Math.max(attempt, e.attempt)
    }
  }
  return violations
}
