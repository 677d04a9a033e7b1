import { appendFileSync } from "node:fs"
import { Data, Effect, Schema } from "effect"
import { defineJob, Progress } from "../../src/index.js"

/**
 * The jobs the crash harness (and the fault suite, test/outages) runs. Each records its side
 * effects in an append-only file before it checkpoints, so the harness can tell what was done,
 * and how often: a line `jobId item attempt pid epochMs` per item (see test/outages/faultJobs.ts).
 */
export const CrashCountJob = defineJob({
  name: "crash_count",
  params: Schema.Struct({ n: Schema.Number, effectsFile: Schema.String, delayMs: Schema.Number }),
  state: Schema.Struct({ next: Schema.Number }),
  initialState: () => ({ next: 0 }),
  output: Schema.Struct({ counted: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      for (let i = ctx.state.next; i < ctx.params.n; i++) {
        yield* ctx.checkInterrupt
        yield* Effect.sleep(ctx.params.delayMs)
        appendFileSync(ctx.params.effectsFile, `${ctx.id} ${i} ${ctx.attempt} ${process.pid} ${Date.now()}\n`)
        yield* ctx.checkpoint({ next: i + 1 })
        yield* ctx.progress(Progress.count(i + 1, ctx.params.n))
        if (i % 3 === 0) yield* ctx.log(`item ${i}`)
      }
      return { counted: ctx.params.n }
    }),
})

export const CrashNoopJob = defineJob({
  name: "crash_noop",
  params: Schema.Struct({}),
  run: () => Effect.void,
})

export class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {}

export const CrashFailJob = defineJob({
  name: "crash_fail",
  params: Schema.Struct({ afterMs: Schema.Number }),
  run: (ctx) =>
    Effect.sleep(ctx.params.afterMs).pipe(Effect.andThen(Effect.fail(new Refused({ message: "refused on purpose" })))),
})

export const crashJobs = [CrashCountJob, CrashNoopJob, CrashFailJob]
