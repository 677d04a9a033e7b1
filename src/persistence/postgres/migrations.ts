import type pg from "pg"
import { PersistenceError } from "../../jobs/errors.js"
import type { StoreCheck } from "../JobStore.js"
import { quoteIdent, type Queryable } from "./connection.js"

/**
 * Append-only, numbered migrations of one schema. Each is recorded in `jobstate_migrations` in the same
 * transaction that runs it. The SQL is unqualified: `migrate` sets the transaction's
 * `search_path` to the store's schema, so one text serves every schema. The numbers are this
 * store's own; they do not follow the SQLite file's.
 */
export const pgMigrations: ReadonlyArray<{ readonly version: number; readonly sql: string }> = [
  {
    version: 1,
    sql: /* sql */ `
      CREATE TABLE jobs (
        seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- dispatch order: FIFO within a priority
        id               text COLLATE "C" NOT NULL UNIQUE,   -- UUID v4; byte order (as SQLite's), so a prefix LIKE uses the index
        name             text NOT NULL,                      -- job type name
        params           bytea NOT NULL,                     -- MessagePack of the schema-encoded params
        data             bytea NOT NULL,                     -- MessagePack of the last checkpointed state
        status           text NOT NULL,                      -- queued|running|paused|completed|failed|cancelled
        snapshot         bytea NOT NULL,                     -- MessagePack of the lifecycle machine's persisted snapshot
        priority         integer NOT NULL DEFAULT 0,
        progress         double precision,                   -- 0..1 when the progress has a fraction
        progress_data    text,                               -- JSON of the last Progress value
        output           text,                               -- JSON of the schema-encoded output
        error_message    text,                               -- readable error when failed
        error            text,                               -- JSON { _tag, message, details }
        attempts         integer NOT NULL DEFAULT 0,         -- times started
        state_version    integer NOT NULL DEFAULT 0,         -- checkpoints written
        paused_by        text,                               -- user|shutdown while paused
        owner            text,                               -- manager that runs it while running
        request          text,                               -- pause|resume|cancel asked by another process
        created_at       text NOT NULL,                      -- ISO 8601, as the SQLite store writes them
        started_at       text,
        completed_at     text,
        last_checkpoint  text,
        updated_at       text NOT NULL
      ) WITH (fillfactor = 80);  -- room on each page, so checkpoints and progress (no indexed column changes) are HOT updates

      -- Serves the claim (status = 'queued' ORDER BY priority DESC, seq) and listing by status.
      CREATE INDEX jobs_status ON jobs (status, priority DESC, seq);
      -- requestsFor asks by owner; only rows with a command waiting are in it.
      CREATE INDEX jobs_request ON jobs (owner) WHERE request IS NOT NULL;
      -- damaged() reads this tiny index instead of every row; the query repeats the predicate.
      CREATE INDEX jobs_damaged ON jobs (seq)
        WHERE status NOT IN ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled');

      CREATE TABLE job_logs (
        seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id   text COLLATE "C" NOT NULL,
        at       text NOT NULL,
        level    text NOT NULL,
        message  text NOT NULL
      );
      CREATE INDEX job_logs_job ON job_logs (job_id, seq);

      CREATE TABLE managers (
        id          text PRIMARY KEY,
        pid         integer NOT NULL,
        host        text NOT NULL,
        types       text NOT NULL,                           -- JSON array of the job types it claims
        expires_at  timestamptz NOT NULL                     -- by the database's clock; renewed while alive
      );

      -- Tells listeners (the channel jobstate_<schema>) that a job was dispatched, changed
      -- status or got a command. In a trigger, not in each statement, so that every write
      -- path notifies, the engine's and an operator's UPDATE alike. NOTIFY is transactional
      -- and identical notifications of one transaction are sent once, so a claim of eight
      -- rows is one notification, sent at commit, or none on rollback.
      CREATE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('jobstate_' || TG_TABLE_SCHEMA, '');
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION notify_change();
      -- Checkpoints and progress set neither column, so they never run the function.
      CREATE TRIGGER jobs_changed AFTER UPDATE OF status, request ON jobs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status OR (NEW.request IS NOT NULL AND NEW.request IS DISTINCT FROM OLD.request))
        EXECUTE FUNCTION notify_change();
    `,
  },
  {
    version: 2,
    sql: /* sql */ `
      -- Production semantics: delays and retries, unique keys, dispatch overrides, schedules, events.
      ALTER TABLE jobs ADD COLUMN run_at bigint;            -- epoch ms a queued job waits for (delay, retry backoff)
      ALTER TABLE jobs ADD COLUMN failures integer NOT NULL DEFAULT 0;  -- failed attempts since dispatch or retry
      ALTER TABLE jobs ADD COLUMN last_error text;          -- JSON of the last failed attempt's error
      ALTER TABLE jobs ADD COLUMN unique_key text;          -- at most one live (queued|running|paused) job of a type per key
      ALTER TABLE jobs ADD COLUMN options text;             -- JSON of the dispatch's overrides (retry, timeoutMs)
      -- The store enforces unique keys, so they hold across processes; a job at rest frees its key.
      CREATE UNIQUE INDEX jobs_unique_key ON jobs (name, unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('queued', 'running', 'paused');
      -- The earliest time a waiting job is due: one timer per engine, not a poll per job.
      CREATE INDEX jobs_run_at ON jobs (run_at) WHERE status = 'queued' AND run_at IS NOT NULL;

      CREATE TABLE schedules (
        name         text PRIMARY KEY,
        job_name     text NOT NULL,
        params       bytea NOT NULL,                        -- MessagePack of the schema-encoded params
        priority     integer NOT NULL DEFAULT 0,
        options      text,                                  -- JSON of the dispatch options of each job it fires
        cron         text NOT NULL,
        timezone     text,
        next_run_at  bigint NOT NULL,                       -- epoch ms of the next tick; a fire moves it on
        last_run_at  bigint,
        last_job_id  text,
        created_at   text NOT NULL,
        updated_at   text NOT NULL
      );

      -- What happened to jobs, for listeners in other processes (manager.events); short-lived.
      CREATE TABLE job_events (
        seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id  text COLLATE "C" NOT NULL,
        name    text NOT NULL,                              -- the job's type
        writer  text,                                       -- the manager whose write it records
        type    text NOT NULL,                              -- status|progress|log
        body    text NOT NULL,                              -- JSON of the event's own fields
        at      text NOT NULL
      );
      -- Written only while some live manager listens (managers.listening), in the commit of the
      -- change it records; listeners read seq > their last (and the gaps of commits not yet
      -- visible) and trim rows a minute old.
      -- true while the manager has manager.events subscribers: others then write job_events rows.
      ALTER TABLE managers ADD COLUMN listening boolean NOT NULL DEFAULT false;
    `,
  },
  {
    version: 3,
    sql: /* sql */ `
      -- The version of the state format the row's data was written with (defineJob's stateVersion):
      -- older data is migrated when the job resumes; a row newer than the code waits for newer code.
      ALTER TABLE jobs ADD COLUMN state_schema_version integer NOT NULL DEFAULT 1;
    `,
  },
  {
    version: 4,
    sql: /* sql */ `
      -- Child jobs (ctx.spawnChildren / ctx.awaitChildren).
      ALTER TABLE jobs ADD COLUMN parent_id text COLLATE "C";   -- the job that spawned it
      ALTER TABLE jobs ADD COLUMN child_key text;               -- its key among its parent's children
      -- true while the job is queued waiting for its children: the claim passes it over until the
      -- commit that ends its last live child (or its own, when none is left) sets it back.
      ALTER TABLE jobs ADD COLUMN awaiting_children boolean NOT NULL DEFAULT false;
      -- A resumed parent spawning again gets the children it spawned before, by key.
      CREATE UNIQUE INDEX jobs_child_key ON jobs (parent_id, child_key) WHERE parent_id IS NOT NULL;
      -- "Has this parent a live child?" on each child's end, and the cascades: by parent, then status.
      CREATE INDEX jobs_parent ON jobs (parent_id, status) WHERE parent_id IS NOT NULL;
    `,
  },
  {
    version: 5,
    sql: /* sql */ `
      -- The notifying triggers fire once per statement, not once per row: a transaction's
      -- notifications are sent once anyway, and each row's PL/pgSQL call cost about 10 µs
      -- (eight per claim at concurrency 8, eight more per group of ends). A statement that
      -- changes no status or request now notifies too (a guard that failed, an insert a
      -- unique key refused): other managers look, find nothing new, and wait again.
      DROP TRIGGER jobs_inserted ON jobs;
      DROP TRIGGER jobs_changed ON jobs;
      CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
      -- Checkpoints and progress set neither column, so they never run the function.
      CREATE TRIGGER jobs_changed AFTER UPDATE OF status, request ON jobs FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
    `,
  },
  {
    version: 6,
    sql: /* sql */ `
      -- What a manager runs at most at once, and its lease period: the dashboard's workers view
      -- shows them, and when the lease was last renewed (expires_at - lease_ms).
      ALTER TABLE managers ADD COLUMN concurrency integer NOT NULL DEFAULT 0;
      ALTER TABLE managers ADD COLUMN lease_ms integer NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    sql: /* sql */ `
      -- Machine jobs. true while one rests (queued.events): the claim passes it over until its
      -- inbox has an entry it has not applied (the write that stores one clears this) or run_at comes.
      ALTER TABLE jobs ADD COLUMN awaiting_events boolean NOT NULL DEFAULT false;
      -- The last inbox entry its machine applied, committed with the checkpoint that applied it.
      ALTER TABLE jobs ADD COLUMN inbox_applied bigint NOT NULL DEFAULT 0;
      -- Events sent to a machine job, and the ends of the children it invoked, in order. A send
      -- locks the job's row first, so a job's entries commit in the order of their seq.
      CREATE TABLE job_inbox (
        seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id    text COLLATE "C" NOT NULL,
        event     text,                                     -- JSON of an event sent
        child_id  text,                                     -- or the invoked child that ended
        sent_at   text NOT NULL
      );
      CREATE INDEX job_inbox_job ON job_inbox (job_id, seq);
      -- The manager running the job (or, when it rests, any that may claim it) looks at once.
      CREATE TRIGGER job_inbox_inserted AFTER INSERT ON job_inbox FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
    `,
  },
  {
    version: 8,
    sql: /* sql */ `
      -- A page of one status or one type, in dispatch order, reads an index range at any size.
      DROP INDEX jobs_status;
      CREATE INDEX jobs_status ON jobs (status, seq);
      CREATE INDEX jobs_name ON jobs (name, seq);
      -- The claim's order, over the queue alone.
      CREATE INDEX jobs_queued ON jobs (priority DESC, seq) WHERE status = 'queued';
      -- The dashboard's jobs ended per minute: the last hour's rows, not every row.
      CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;

      -- countJobs: how many jobs of each type have each status. One row per (name, status)
      -- updated by every commit would serialise the commits of all workers, so each insert,
      -- status change and delete adds a row of changes instead (no lock on anything shared),
      -- and the store folds them into job_counts now and then (countJobs reads both).
      CREATE TABLE job_counts (
        name    text NOT NULL,
        status  text NOT NULL,
        count   bigint NOT NULL,
        PRIMARY KEY (name, status)
      );
      CREATE TABLE job_count_changes (
        name    text NOT NULL,
        status  text NOT NULL,
        change  bigint NOT NULL
      );
      INSERT INTO job_counts (name, status, count) SELECT name, status, count(*) FROM jobs GROUP BY name, status;
      -- The functions keep the schema they were made in: the engine's statements name their tables.
      CREATE FUNCTION count_inserted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        INSERT INTO job_count_changes (name, status, change) SELECT name, status, count(*) FROM inserted GROUP BY name, status;
        RETURN NULL;
      END
      $$;
      CREATE FUNCTION count_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        INSERT INTO job_count_changes (name, status, change) SELECT name, status, -count(*) FROM deleted GROUP BY name, status;
        RETURN NULL;
      END
      $$;
      CREATE FUNCTION count_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        INSERT INTO job_count_changes (name, status, change) VALUES (OLD.name, OLD.status, -1), (NEW.name, NEW.status, 1);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION count_inserted();
      CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS deleted
        FOR EACH STATEMENT EXECUTE FUNCTION count_deleted();
      -- Checkpoints and progress set neither column, so they never run the function.
      CREATE TRIGGER jobs_count_update AFTER UPDATE OF name, status ON jobs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.name IS DISTINCT FROM NEW.name)
        EXECUTE FUNCTION count_changed();
    `,
  },
  {
    version: 9,
    sql: /* sql */ `
      -- The claim reads each of its types' queue apart (name first): queued jobs of a type no
      -- worker here runs are not read past.
      DROP INDEX jobs_queued;
      CREATE INDEX jobs_queued ON jobs (name, priority DESC, seq) WHERE status = 'queued';
    `,
  },
]

export const latestPgSchemaVersion = pgMigrations[pgMigrations.length - 1]!.version

/**
 * Brings the schema to the latest version, or refuses, untouched, one a newer jobstate wrote.
 * All in one transaction under an advisory lock on the schema's name: many workers starting
 * at once queue on the lock, the first migrates, the others find the work done.
 */
/** The schema's version: 0 when jobstate never migrated it (or it does not exist). */
export const schemaVersion = async (client: pg.ClientBase, schema: string): Promise<number> => {
  const s = quoteIdent(schema)
  const found = await client.query<{ exists: boolean }>(/* sql */ `SELECT to_regclass($1) IS NOT NULL AS exists`, [
    `${s}.jobstate_migrations`,
  ])
  if (!found.rows[0]!.exists) return 0
  return (
    (
      await client.query<{ version: number | null }>(
        /* sql */ `SELECT max(version) AS version FROM ${s}.jobstate_migrations`,
      )
    ).rows[0]!.version ?? 0
  )
}

const newerSchema = (location: string, current: number) =>
  new PersistenceError({
    operation: "open",
    reason: "NewerSchema",
    detail: `${location} has schema version ${current}, newer than this jobstate's ${latestPgSchemaVersion}; upgrade jobstate to open it`,
  })

/**
 * For a tool that only looks: the schema must be there, at this jobstate's version, and nothing
 * is created or migrated (a mistyped `?schema=` is an error, not a new empty store).
 */
export const assertReadable = async (client: pg.ClientBase, schema: string, location: string): Promise<void> => {
  const current = await schemaVersion(client, schema)
  if (current > latestPgSchemaVersion) throw newerSchema(location, current)
  if (current === 0) {
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `${location} has no jobstate tables: check the schema in ?schema= (a worker, or any command that writes, creates them)`,
    })
  }
  if (current < latestPgSchemaVersion) {
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `${location} has schema version ${current}; open it once with a command that writes (a worker) to upgrade it`,
    })
  }
}

export const migrate = async (client: pg.ClientBase, schema: string, location: string): Promise<void> => {
  const s = quoteIdent(schema)
  await client.query("BEGIN")
  try {
    await client.query(/* sql */ `SELECT pg_advisory_xact_lock(hashtext('jobstate migrate'), hashtext($1))`, [schema])
    const current = await schemaVersion(client, schema)
    if (current > latestPgSchemaVersion) throw newerSchema(location, current)
    if (current < latestPgSchemaVersion) {
      await client.query(/* sql */ `CREATE SCHEMA IF NOT EXISTS ${s}`)
      await client.query(/* sql */ `SET LOCAL search_path TO ${s}`)
      await client.query(/* sql */ `
        CREATE TABLE IF NOT EXISTS jobstate_migrations (
          version     integer PRIMARY KEY,
          applied_at  timestamptz NOT NULL DEFAULT now()
        )`)
      for (const m of pgMigrations) {
        if (m.version <= current) continue
        await client.query(/* sql */ `INSERT INTO jobstate_migrations (version) VALUES ($1)`, [m.version])
        await client.query(m.sql)
      }
    }
    await client.query("COMMIT")
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined)
    throw error
  }
}

/** The store's health as `jobstate doctor` reports it: its schema version (PostgreSQL checks its pages itself). */
export const check = async (db: Queryable, schema: string): Promise<StoreCheck> => {
  const { rows } = await db.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${quoteIdent(schema)}.jobstate_migrations`,
  )
  return { schemaVersion: rows[0]?.version ?? 0, latestSchemaVersion: latestPgSchemaVersion, integrity: undefined }
}
