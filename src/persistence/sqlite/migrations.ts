import type Database from "better-sqlite3"
import { PersistenceError } from "../../jobs/errors.js"
import type { StoreCheck } from "../JobStore.js"

/**
 * Append-only, numbered migrations. Each runs in one transaction that also records its number
 * (`PRAGMA user_version`), so a crash mid-migration leaves the previous version intact.
 */
export const migrations: ReadonlyArray<{ readonly version: number; readonly sql: string }> = [
  {
    version: 1,
    sql: /* sql */ `
      CREATE TABLE jobs (
        seq              INTEGER PRIMARY KEY,               -- dispatch order: FIFO within a priority (the rowid; jobs are never deleted)
        id               TEXT NOT NULL UNIQUE,              -- UUID v4
        name             TEXT NOT NULL,                     -- job type name
        params           BLOB NOT NULL,                     -- MessagePack of the schema-encoded params
        data             BLOB NOT NULL,                     -- MessagePack of the last checkpointed state
        status           TEXT NOT NULL,                     -- queued|running|paused|completed|failed|cancelled
        snapshot         BLOB NOT NULL,                     -- MessagePack of the lifecycle machine's persisted snapshot
        priority         INTEGER NOT NULL DEFAULT 0,
        progress         REAL,                              -- 0..1 when the progress has a fraction
        progress_data    TEXT,                              -- JSON of the last Progress value
        output           TEXT,                              -- JSON of the schema-encoded output
        error_message    TEXT,                              -- readable error when failed
        error            TEXT,                              -- JSON { _tag, message, details }
        attempts         INTEGER NOT NULL DEFAULT 0,        -- times started
        state_version    INTEGER NOT NULL DEFAULT 0,        -- checkpoints written
        paused_by        TEXT,                              -- user|shutdown while paused
        owner            TEXT,                              -- manager that runs it while running
        request          TEXT,                              -- pause|resume|cancel asked by another process
        created_at       TEXT NOT NULL,                     -- ISO 8601
        started_at       TEXT,
        completed_at     TEXT,
        last_checkpoint  TEXT,
        updated_at       TEXT NOT NULL
      );
      -- Serves the claim (status = 'queued' ORDER BY priority DESC, seq) and listing by status.
      CREATE INDEX jobs_status ON jobs (status, priority DESC, seq);
      CREATE INDEX jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;
      CREATE INDEX jobs_request ON jobs (request) WHERE request IS NOT NULL;

      CREATE TABLE job_logs (
        seq      INTEGER PRIMARY KEY,
        job_id   TEXT NOT NULL,
        at       TEXT NOT NULL,
        level    TEXT NOT NULL,
        message  TEXT NOT NULL
      );
      CREATE INDEX job_logs_job ON job_logs (job_id, seq);

      CREATE TABLE managers (
        id            TEXT PRIMARY KEY,
        pid           INTEGER NOT NULL,
        host          TEXT NOT NULL,
        heartbeat_at  INTEGER NOT NULL                      -- epoch ms; a lease, renewed while alive
      );
    `,
  },
  {
    version: 2,
    sql: /* sql */ `
      -- Leases by their own expiry, and the job types each manager runs (empty: producer only).
      DROP TABLE managers;
      CREATE TABLE managers (
        id          TEXT PRIMARY KEY,
        pid         INTEGER NOT NULL,
        host        TEXT NOT NULL,
        types       TEXT NOT NULL,                          -- JSON array of the job types it claims
        expires_at  INTEGER NOT NULL                        -- epoch ms by the store's clock; renewed while alive
      );
    `,
  },
  {
    version: 3,
    sql: /* sql */ `
      -- No query looks jobs up by owner alone (orphans go by status, requests by their own
      -- index), and the owner changes twice per job: an index nobody reads, paid on every claim.
      DROP INDEX jobs_owner;
    `,
  },
  {
    version: 4,
    sql: /* sql */ `
      -- Production semantics: delays and retries, unique keys, dispatch overrides, schedules, events.
      ALTER TABLE jobs ADD COLUMN run_at INTEGER;           -- epoch ms a queued job waits for (delay, retry backoff)
      ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;  -- failed attempts since dispatch or retry
      ALTER TABLE jobs ADD COLUMN last_error TEXT;          -- JSON of the last failed attempt's error
      ALTER TABLE jobs ADD COLUMN unique_key TEXT;          -- at most one live (queued|running|paused) job of a type per key
      ALTER TABLE jobs ADD COLUMN options TEXT;             -- JSON of the dispatch's overrides (retry, timeoutMs)
      -- The store enforces unique keys, so they hold across processes; a job at rest frees its key.
      CREATE UNIQUE INDEX jobs_unique_key ON jobs (name, unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('queued', 'running', 'paused');
      -- The earliest time a waiting job is due: one timer per engine, not a poll per job.
      CREATE INDEX jobs_run_at ON jobs (run_at) WHERE status = 'queued' AND run_at IS NOT NULL;

      CREATE TABLE schedules (
        name         TEXT PRIMARY KEY,
        job_name     TEXT NOT NULL,
        params       BLOB NOT NULL,                         -- MessagePack of the schema-encoded params
        priority     INTEGER NOT NULL DEFAULT 0,
        options      TEXT,                                  -- JSON of the dispatch options of each job it fires
        cron         TEXT NOT NULL,
        timezone     TEXT,
        next_run_at  INTEGER NOT NULL,                      -- epoch ms of the next tick; a fire moves it on
        last_run_at  INTEGER,
        last_job_id  TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      );

      -- What happened to jobs, for listeners in other processes (manager.events); short-lived.
      -- Written only while some live manager listens (managers.listening), in the commit of
      -- the change it records; listeners read seq > their last and trim rows a minute old.
      -- The trim never deletes the newest row, so a rowid is never reused.
      CREATE TABLE job_events (
        seq     INTEGER PRIMARY KEY,
        job_id  TEXT NOT NULL,
        name    TEXT NOT NULL,                              -- the job's type
        writer  TEXT,                                       -- the manager whose write it records
        type    TEXT NOT NULL,                              -- status|progress|log
        body    TEXT NOT NULL,                              -- JSON of the event's own fields
        at      TEXT NOT NULL
      );
      -- 1 while the manager has manager.events subscribers: others then write job_events rows.
      ALTER TABLE managers ADD COLUMN listening INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 5,
    sql: /* sql */ `
      -- The version of the state format the row's data was written with (defineJob's stateVersion):
      -- older data is migrated when the job resumes; a row newer than the code waits for newer code.
      ALTER TABLE jobs ADD COLUMN state_schema_version INTEGER NOT NULL DEFAULT 1;
    `,
  },
  {
    version: 6,
    sql: /* sql */ `
      -- Child jobs (ctx.spawnChildren / ctx.awaitChildren).
      ALTER TABLE jobs ADD COLUMN parent_id TEXT;          -- the job that spawned it
      ALTER TABLE jobs ADD COLUMN child_key TEXT;          -- its key among its parent's children
      -- 1 while the job is queued waiting for its children: the claim passes it over until the
      -- write that ends its last live child (or its own, when none is left) sets it back to 0.
      ALTER TABLE jobs ADD COLUMN awaiting_children INTEGER NOT NULL DEFAULT 0;
      -- A resumed parent spawning again gets the children it spawned before, by key.
      CREATE UNIQUE INDEX jobs_child_key ON jobs (parent_id, child_key) WHERE parent_id IS NOT NULL;
      -- "Has this parent a live child?" on each child's end, and the cascades: by parent, then status.
      CREATE INDEX jobs_parent ON jobs (parent_id, status) WHERE parent_id IS NOT NULL;
    `,
  },
  {
    version: 7,
    sql: /* sql */ `
      -- What a manager runs at most at once, and its lease period: the dashboard's workers view
      -- shows them, and when the lease was last renewed (expires_at - lease_ms).
      ALTER TABLE managers ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE managers ADD COLUMN lease_ms INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 8,
    sql: /* sql */ `
      -- The indexes PostgreSQL has (test/persistence/schemaDrift.test.ts compares the two):
      -- requestsOf asks by owner, and only rows with a command waiting are in it;
      DROP INDEX jobs_request;
      CREATE INDEX jobs_request ON jobs (owner) WHERE request IS NOT NULL;
      -- damaged() reads this tiny index instead of every status; the query repeats the predicate.
      CREATE INDEX jobs_damaged ON jobs (seq)
        WHERE status NOT IN ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled');
    `,
  },
  {
    version: 9,
    sql: /* sql */ `
      -- SQLite evaluates a NOT IN list in an index's predicate by filling a temporary table on
      -- every insert and status update (W3 lost ~7 %); a chain of <> costs a few comparisons.
      DROP INDEX jobs_damaged;
      CREATE INDEX jobs_damaged ON jobs (seq)
        WHERE status <> 'queued' AND status <> 'running' AND status <> 'paused'
          AND status <> 'completed' AND status <> 'failed' AND status <> 'cancelled';
    `,
  },
  {
    version: 10,
    sql: /* sql */ `
      -- Machine jobs. 1 while one rests (queued.events): the claim passes it over until its inbox
      -- has an entry it has not applied (the write that stores one clears this) or run_at comes.
      ALTER TABLE jobs ADD COLUMN awaiting_events INTEGER NOT NULL DEFAULT 0;
      -- The last inbox entry its machine applied, committed with the checkpoint that applied it.
      ALTER TABLE jobs ADD COLUMN inbox_applied INTEGER NOT NULL DEFAULT 0;
      -- Events sent to a machine job, and the ends of the children it invoked, in order.
      CREATE TABLE job_inbox (
        -- A new entry's seq is above every entry stored (the rowid): a job's own entries, which go
        -- only with the job, keep each job's cursor (inbox_applied) below its next entry.
        seq       INTEGER PRIMARY KEY,
        job_id    TEXT NOT NULL,
        event     TEXT,                                     -- JSON of an event sent
        child_id  TEXT,                                     -- or the invoked child that ended
        sent_at   TEXT NOT NULL
      );
      CREATE INDEX job_inbox_job ON job_inbox (job_id, seq);
    `,
  },
  {
    version: 11,
    sql: /* sql */ `
      -- A page of one status or one type, in dispatch order, reads an index range at any size.
      DROP INDEX jobs_status;
      CREATE INDEX jobs_status ON jobs (status, seq);
      CREATE INDEX jobs_name ON jobs (name, seq);
      -- The claim's order, over the queue alone (the claim names it: INDEXED BY).
      CREATE INDEX jobs_queued ON jobs (priority DESC, seq) WHERE status = 'queued';
      -- The dashboard's jobs ended per minute: the last hour's rows, not every row.
      CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
      -- countJobs: how many jobs of each type have each status, kept by the triggers below in the
      -- transaction of every insert, status change and delete.
      CREATE TABLE job_counts (
        name    TEXT NOT NULL,
        status  TEXT NOT NULL,
        count   INTEGER NOT NULL,
        PRIMARY KEY (name, status)
      ) WITHOUT ROWID;
      INSERT INTO job_counts (name, status, count) SELECT name, status, count(*) FROM jobs GROUP BY name, status;
      CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts (name, status, count) VALUES (new.name, new.status, 1)
          ON CONFLICT (name, status) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER jobs_count_update AFTER UPDATE OF name, status ON jobs
        WHEN old.status IS NOT new.status OR old.name IS NOT new.name BEGIN
        UPDATE job_counts SET count = count - 1 WHERE name = old.name AND status = old.status;
        INSERT INTO job_counts (name, status, count) VALUES (new.name, new.status, 1)
          ON CONFLICT (name, status) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET count = count - 1 WHERE name = old.name AND status = old.status;
      END;
    `,
  },
  {
    version: 12,
    sql: /* sql */ `
      -- The claim reads each of its types' queue apart (name first): queued jobs of a type no
      -- worker here runs are not read past. A store of 500,000 queued jobs of another type made
      -- every claim read them all.
      DROP INDEX jobs_queued;
      CREATE INDEX jobs_queued ON jobs (name, priority DESC, seq) WHERE status = 'queued';
    `,
  },
]

export const latestSchemaVersion = migrations[migrations.length - 1]!.version

/** Throws `PersistenceError` (NewerSchema) for a database a newer jobstate wrote; else its version. */
export const assertNotNewer = (db: Database.Database, file: string): number => {
  const current = db.pragma("user_version", { simple: true }) as number
  if (current > latestSchemaVersion) {
    throw new PersistenceError({
      operation: "open",
      reason: "NewerSchema",
      detail: `${file} has schema version ${current}, newer than this jobstate's ${latestSchemaVersion}; upgrade jobstate to open it`,
    })
  }
  return current
}

/**
 * Brings the database to the latest version; refuses, untouched, a database from a newer
 * jobstate. The version is read inside the write transaction, so two processes opening a new
 * data dir at once migrate it exactly once.
 */
export const migrate = (db: Database.Database, file: string): void => {
  db.transaction(() => {
    const current = assertNotNewer(db, file)
    for (const m of migrations) {
      if (m.version <= current) continue
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    }
  }).immediate()
}

/** The store's health as `jobstate doctor` reports it: its schema version, and SQLite's own integrity check. */
export const check = (db: Database.Database): StoreCheck => {
  const found = (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check)
  return {
    schemaVersion: db.pragma("user_version", { simple: true }) as number,
    latestSchemaVersion,
    integrity: found.length === 1 && found[0] === "ok" ? [] : found,
  }
}
