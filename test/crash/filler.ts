import { Effect, Schema } from "effect"
import pg from "pg"
import { defineJob, JobManager } from "../../src/index.js"

/**
 * The crash campaigns' `--stored n`: n jobs put in the store before the campaign, of a type the
 * campaign's workers are not registered for, so that they never claim, run or change them;
 * every claim, recovery and read of the campaign then happens in a big store.
 *
 * How the filler is made: a manager that knows only this type (concurrency 0, so it runs
 * nothing) dispatches the n jobs with `dispatchMany` in chunks of 10,000 and closes; then one
 * direct SQL UPDATE marks the jobs of even `seq` completed (status, completed_at, updated_at;
 * the count triggers keep `job_counts` right). So about half stay queued, half are completed.
 * The jobs take the seqs up to the store's largest when the campaign starts: every campaign job
 * has a larger seq, which is how the harnesses tell the two apart.
 */
export const FILLER_NAME = "crash_stored"

export const CrashStoredJob = defineJob({
  name: FILLER_NAME,
  params: Schema.Struct({ i: Schema.Number }),
  run: () => Effect.void,
})

const CHUNK = 10_000

/** Dispatches `n` filler jobs through the engine (`dispatchMany`, chunks of 10,000). */
export const dispatchFiller = async (
  open: { readonly dataDir: string; readonly databaseUrl?: string },
  n: number,
  log?: (line: string) => void,
): Promise<void> => {
  const manager = await JobManager.open({ ...open, jobs: [CrashStoredJob], concurrency: 0, onError: () => {} })
  try {
    const started = Date.now()
    for (let from = 0; from < n; from += CHUNK) {
      const size = Math.min(CHUNK, n - from)
      await manager.dispatchMany(
        CrashStoredJob,
        Array.from({ length: size }, (_, k) => ({ i: from + k })),
      )
      if ((from / CHUNK) % 10 === 9 || from + size === n)
        log?.(`filler: ${from + size}/${n} dispatched (${Math.round((Date.now() - started) / 1000)} s)`)
    }
  } finally {
    await manager.close()
  }
}

/** The filler's shape: its largest seq and how many of its jobs have each status. */
export interface FillerSnapshot {
  readonly maxSeq: number
  readonly count: number
  readonly byStatus: Readonly<Record<string, number>>
}

/** What differs between the filler as made and as found (empty: untouched). */
export const fillerDifferences = (made: FillerSnapshot, found: FillerSnapshot): string[] => {
  const out: string[] = []
  if (found.count !== made.count) out.push(`filler: ${made.count} jobs stored before the campaign, ${found.count} now`)
  for (const status of new Set([...Object.keys(made.byStatus), ...Object.keys(found.byStatus)])) {
    const before = made.byStatus[status] ?? 0
    const after = found.byStatus[status] ?? 0
    if (before !== after) out.push(`filler: ${before} jobs ${status} before the campaign, ${after} now`)
  }
  return out
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

/** The filler jobs in a PostgreSQL schema as they are now (those of its type up to `maxSeq`). */
const readPgFiller = async (client: pg.ClientBase, schema: string, maxSeq: number): Promise<FillerSnapshot> => {
  const { rows } = await client.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM ${quote(schema)}.jobs WHERE seq <= $1 AND name = $2 GROUP BY status`,
    [maxSeq, FILLER_NAME],
  )
  return {
    maxSeq,
    count: rows.reduce((a, r) => a + r.n, 0),
    byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])),
  }
}

/**
 * Stores `n` filler jobs in a new PostgreSQL schema (`url` carries `?schema=`), about half
 * queued and half completed (the completed ones by a direct UPDATE), and gives their snapshot.
 * Done before the harness adds its audit triggers, so the UPDATE is not in the audit.
 */
export const fillPgStore = async (
  options: { readonly url: string; readonly databaseUrl: string; readonly schema: string; readonly dataDir: string },
  n: number,
  log?: (line: string) => void,
): Promise<FillerSnapshot> => {
  await dispatchFiller({ dataDir: options.dataDir, databaseUrl: options.url }, n, log)
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: "jobstate crash filler" })
  client.on("error", () => undefined)
  await client.connect()
  try {
    const now = new Date().toISOString()
    const started = Date.now()
    await client.query(
      `UPDATE ${quote(options.schema)}.jobs SET status = 'completed', completed_at = $1, updated_at = $1
        WHERE name = $2 AND status = 'queued' AND seq % 2 = 0`,
      [now, FILLER_NAME],
    )
    await client.query(`ANALYZE ${quote(options.schema)}.jobs`)
    const s = quote(options.schema)
    const { rows } = await client.query<{ max: string }>(`SELECT max(seq) AS max FROM ${s}.jobs`)
    const filler = await readPgFiller(client, options.schema, Number(rows[0]!.max))
    // Every write to (or deletion of) a filler job from now on.
    await client.query(`
      CREATE TABLE ${s}.test_filler_writes (job_id text NOT NULL, op text NOT NULL, old_status text, new_status text);
      CREATE FUNCTION ${s}.test_filler_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${s}.test_filler_writes VALUES (OLD.id, TG_OP, OLD.status, CASE WHEN TG_OP = 'UPDATE' THEN NEW.status END);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER test_filler_write AFTER UPDATE OR DELETE ON ${s}.jobs
        FOR EACH ROW WHEN (OLD.seq <= ${filler.maxSeq}) EXECUTE FUNCTION ${s}.test_filler_write();
    `)
    if (filler.count !== n) throw new Error(`filler: dispatched ${n} jobs, found ${filler.count}`)
    log?.(
      `filler: ${JSON.stringify(filler.byStatus)}, seq <= ${filler.maxSeq} (completed and analyzed in ${Date.now() - started} ms)`,
    )
    return filler
  } finally {
    await client.end()
  }
}

/**
 * Violations of the filler invariant on PostgreSQL: its statuses changed, or one of its jobs was
 * written or deleted (the trigger `fillPgStore` adds records it).
 */
export const pgFillerViolations = async (
  client: pg.ClientBase,
  schema: string,
  made: FillerSnapshot,
): Promise<string[]> => {
  const s = quote(schema)
  const { rows } = await client.query<{ job_id: string; op: string; old_status: string; new_status: string | null }>(
    `SELECT job_id, op, old_status, new_status FROM ${s}.test_filler_writes`,
  )
  return [
    ...fillerDifferences(made, await readPgFiller(client, schema, made.maxSeq)),
    ...(rows.length === 0
      ? []
      : [
          `filler: ${rows.length} write(s) to filler jobs, which the campaign must not touch; first: ${rows
            .slice(0, 20)
            .map((w) => `${w.op} ${w.job_id} ${w.old_status} → ${w.new_status}`)
            .join(", ")}`,
        ]),
  ]
}
