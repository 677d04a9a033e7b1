/**
 * Audit tables and triggers the multi-node tests add to a jobstate schema, so that PostgreSQL
 * itself records what happened, whatever process did it:
 *
 * - `test_effects`: one row per side effect of a `pg_count` job (written by the job, see
 *   `pgJobs.ts`), with the job row's status, owner and checkpoint count at that moment.
 * - `test_job_changes`: every change of a job row's status, owner or output, every write to a
 *   row that had already ended, every checkpoint count that went down, every deleted row.
 * - `test_managers`: every manager lease ever inserted (id → pid), since the engine forgets
 *   the leases of long-dead managers.
 */
import pg from "pg"
import { PostgresJobStore } from "../../src/persistence/PostgresJobStore.js"

const q = (name: string) => `"${name.replaceAll('"', '""')}"`

/** The engine's URL for a database and schema (`?schema=` is jobstate's parameter). */
export const schemaUrl = (databaseUrl: string, schema: string): string => {
  const url = new URL(databaseUrl)
  url.searchParams.set("schema", schema)
  return url.toString()
}

/** SQL that creates the audit tables and triggers in `schema` (which must exist: the engine's migration makes it). */
export const auditSql = (schema: string): string => {
  const s = q(schema)
  return /* sql */ `
    CREATE TABLE ${s}.test_effects (
      seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id         text NOT NULL,
      item           integer NOT NULL,
      pid            integer NOT NULL,
      life           integer NOT NULL,
      at             timestamptz NOT NULL DEFAULT clock_timestamp(),
      status         text,      -- the job row's, when the effect was done
      owner          text,
      state_version  integer
    );
    CREATE TABLE ${s}.test_job_changes (
      seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id             text NOT NULL,
      op                 text NOT NULL,
      old_status         text,
      new_status         text,
      old_owner          text,
      new_owner          text,
      old_paused_by      text,
      new_paused_by      text,
      output_changed     boolean NOT NULL DEFAULT false,
      old_state_version  integer,
      new_state_version  integer,
      at                 timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE ${s}.test_managers (
      id    text NOT NULL,
      pid   integer NOT NULL,
      host  text NOT NULL,
      at    timestamptz NOT NULL DEFAULT clock_timestamp()
    );

    CREATE FUNCTION ${s}.test_audit_job() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        INSERT INTO ${s}.test_job_changes (job_id, op, old_status, old_owner) VALUES (OLD.id, 'DELETE', OLD.status, OLD.owner);
      ELSIF OLD.status IN ('completed', 'failed', 'cancelled')
         OR OLD.status IS DISTINCT FROM NEW.status
         OR OLD.owner IS DISTINCT FROM NEW.owner
         OR OLD.output IS DISTINCT FROM NEW.output
         OR NEW.state_version < OLD.state_version THEN
        INSERT INTO ${s}.test_job_changes (job_id, op, old_status, new_status, old_owner, new_owner, old_paused_by, new_paused_by,
          output_changed, old_state_version, new_state_version)
        VALUES (NEW.id, 'UPDATE', OLD.status, NEW.status, OLD.owner, NEW.owner, OLD.paused_by, NEW.paused_by,
          OLD.output IS DISTINCT FROM NEW.output, OLD.state_version, NEW.state_version);
      END IF;
      RETURN NULL;
    END
    $$;
    CREATE TRIGGER test_audit_job AFTER UPDATE OR DELETE ON ${s}.jobs FOR EACH ROW EXECUTE FUNCTION ${s}.test_audit_job();

    CREATE FUNCTION ${s}.test_audit_manager() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO ${s}.test_managers (id, pid, host) VALUES (NEW.id, NEW.pid, NEW.host);
      RETURN NULL;
    END
    $$;
    CREATE TRIGGER test_audit_manager AFTER INSERT ON ${s}.managers FOR EACH ROW EXECUTE FUNCTION ${s}.test_audit_manager();
  `
}

/** Creates (migrates) the jobstate schema through the engine's own store, then adds the audit. */
export const installAudit = async (databaseUrl: string, schema: string): Promise<void> => {
  const store = await PostgresJobStore.open({ databaseUrl, schema })
  await store.close()
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "jobstate test audit" })
  client.on("error", () => undefined)
  await client.connect()
  try {
    await client.query(auditSql(schema))
  } finally {
    await client.end()
  }
}

/** Runs one statement and gives its rows (`TestDatabase.admin` is one). */
export type RunSql = <R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]) => Promise<R[]>

/** A `RunSql` on a client or pool. */
export const runOn =
  (db: Pick<pg.ClientBase, "query">): RunSql =>
  async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) =>
    (await db.query<R>(sql, values)).rows

export interface EffectRow {
  readonly seq: number
  readonly job_id: string
  readonly item: number
  readonly pid: number
  readonly life: number
  readonly status: string | null
  readonly owner: string | null
  readonly state_version: number | null
}

/** The side effects recorded in `schema`, in the order they were done. */
export const readEffects = async (run: RunSql, schema: string, jobId?: string): Promise<EffectRow[]> => {
  const rows = await run<EffectRow & { seq: string }>(
    `SELECT seq, job_id, item, pid, life, status, owner, state_version FROM ${q(schema)}.test_effects
     WHERE $1::text IS NULL OR job_id = $1 ORDER BY seq`,
    [jobId ?? null],
  )
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }))
}

/**
 * What is wrong with one job's side effects when no process was killed: each item done once,
 * in order from 0, by a process that owned the running job at that moment, never behind or
 * ahead of its committed checkpoint. `managerPids` maps each manager id to its process.
 */
export const effectProblems = (
  effects: ReadonlyArray<EffectRow>,
  managerPids: ReadonlyMap<string, number>,
): string[] => {
  const problems: string[] = []
  effects.forEach((e, k) => {
    if (e.item !== k) problems.push(`effect #${k} is item ${e.item}, expected ${k} (each item once, in order)`)
    if (e.status !== "running") problems.push(`item ${e.item} was done while the job was ${e.status}`)
    const ownerPid = e.owner === null ? undefined : managerPids.get(e.owner)
    if (ownerPid !== e.pid)
      problems.push(`item ${e.item} was done by pid ${e.pid} while the job's owner was ${e.owner} (pid ${ownerPid})`)
    if (e.state_version !== e.item)
      problems.push(`item ${e.item} was done when the committed checkpoint count was ${e.state_version}`)
  })
  return problems
}

/** Manager id → pid, from every lease ever inserted in `schema`. */
export const readManagerPids = async (run: RunSql, schema: string): Promise<Map<string, number>> => {
  const rows = await run<{ id: string; pid: number }>(`SELECT id, pid FROM ${q(schema)}.test_managers`)
  return new Map(rows.map((r) => [r.id, r.pid]))
}
