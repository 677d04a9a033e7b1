/**
 * The job types of the multi-node PostgreSQL tests. `pg_count` records every side effect as a
 * row of `<schema>.test_effects` (see `audit.ts`), written on a connection of its own in the
 * same database, and checkpoints right after each one. The row is filled from the job's row
 * *as the database has it at that moment* (status, owner, checkpoint count), so the tests can
 * tell, without comparing clocks, whether the process doing the work really owned the job
 * and whether it was redoing work that a committed checkpoint covered.
 *
 * A process that runs `pg_count` jobs calls `configureEffects` first (see `pgWorker.ts`).
 */
import { Data, Effect, Schema } from "effect"
import pg from "pg"
import { defineJob, Progress } from "../../src/index.js"
import { postgresOptions } from "../../src/persistence/openStore.js"

class EffectNotRecorded extends Data.TaggedError("EffectNotRecorded")<{ readonly message: string }> {}

export class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {}

let effects: { readonly pool: pg.Pool; readonly schema: string; readonly life: number } | undefined

/**
 * Where this process records side effects: the database and schema of `databaseUrl` (a
 * `postgres://…?schema=name` URL, as the engine takes it). `life` tags this process's rows
 * (the crash harness numbers its worker processes).
 */
export const configureEffects = (databaseUrl: string, life = -1) => {
  const { databaseUrl: url, schema = "jobstate" } = postgresOptions(databaseUrl)
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    application_name: "jobstate test effects",
    allowExitOnIdle: true,
  })
  pool.on("error", () => undefined)
  effects = { pool, schema, life }
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`

/** INSERT … SELECT: the effect row carries what the job's row says at the moment of the effect. */
const recordEffect = (jobId: string, item: number) =>
  Effect.tryPromise({
    try: async () => {
      if (effects === undefined) throw new Error("configureEffects was not called in this process")
      const s = q(effects.schema)
      const result = await effects.pool.query(
        /* sql */ `
          INSERT INTO ${s}.test_effects (job_id, item, pid, life, status, owner, state_version)
          SELECT j.id, $2, $3, $4, j.status, j.owner, j.state_version FROM ${s}.jobs j WHERE j.id = $1`,
        [jobId, item, process.pid, effects.life],
      )
      if (result.rowCount !== 1) throw new Error(`job ${jobId} has no row`)
    },
    catch: (e) => new EffectNotRecorded({ message: `item ${item} of job ${jobId}: ${(e as Error).message}` }),
  })

/** Counts to `n`: per item, a pause point, `delayMs` of work, the side effect, a checkpoint. */
export const PgCountJob = defineJob({
  name: "pg_count",
  description: "Counts to n, one recorded side effect and one checkpoint per item (tests only)",
  params: Schema.Struct({ n: Schema.Number, delayMs: Schema.Number }),
  state: Schema.Struct({ next: Schema.Number }),
  initialState: () => ({ next: 0 }),
  output: Schema.Struct({ counted: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      for (let i = ctx.state.next; i < ctx.params.n; i++) {
        yield* ctx.checkInterrupt
        yield* Effect.sleep(ctx.params.delayMs)
        yield* recordEffect(ctx.id, i)
        yield* ctx.checkpoint({ next: i + 1 })
        yield* ctx.progress(Progress.count(i + 1, ctx.params.n))
      }
      return { counted: ctx.params.n }
    }),
})

export const PgNoopJob = defineJob({
  name: "pg_noop",
  params: Schema.Struct({}),
  run: () => Effect.void,
})

/** Fails on purpose after `afterMs`. */
export const PgFailJob = defineJob({
  name: "pg_fail",
  params: Schema.Struct({ afterMs: Schema.Number }),
  run: (ctx) =>
    Effect.sleep(ctx.params.afterMs).pipe(Effect.andThen(Effect.fail(new Refused({ message: "refused on purpose" })))),
})

export const pgJobs = [PgCountJob, PgNoopJob, PgFailJob]
