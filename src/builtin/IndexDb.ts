import Database from "better-sqlite3"
import { mkdirSync } from "node:fs"
import { dirname, sep } from "node:path"
import { Effect } from "effect"
import { IndexerError } from "./indexerSchemas.js"

/** A row of `entries` as the walk writes it. Times are milliseconds since the epoch, fractions kept. */
export interface EntryRow {
  readonly path: string
  readonly parent: string
  readonly kind: "file" | "dir" | "symlink" | "other"
  readonly size: number
  readonly mtime: number
  readonly ctime: number
  /** Null where the filesystem does not record it. */
  readonly birthtime: number | null
}

/** What the content phase learned about one file. */
export interface ContentFacts {
  readonly path: string
  readonly hash: string | null
  readonly mime: string | null
  readonly width: number | null
  readonly height: number | null
  /** 1: hashed (Content), 2: media facts read too (Deep). */
  readonly analyzed: number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  id         INTEGER PRIMARY KEY,
  path       TEXT NOT NULL UNIQUE,  -- absolute
  parent     TEXT NOT NULL,         -- absolute path of the containing directory
  kind       TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink', 'other')),
  size       INTEGER NOT NULL,
  mtime      REAL NOT NULL,
  ctime      REAL NOT NULL,
  birthtime  REAL,
  hash       TEXT,                  -- xxHash3-128, hex
  mime       TEXT,
  width      INTEGER,
  height     INTEGER,
  analyzed   INTEGER NOT NULL DEFAULT 0,  -- 0: stat only, 1: hashed, 2: media facts read
  indexed_at INTEGER NOT NULL       -- the stamp of the run that last saw the entry
);
CREATE INDEX IF NOT EXISTS entries_parent ON entries (parent);
`

// Content facts stay only while kind, size and mtime are unchanged (rsync's test): then a
// re-run in Content mode hashes only what changed.
const UPSERT = `
INSERT INTO entries (path, parent, kind, size, mtime, ctime, birthtime, indexed_at)
VALUES (@path, @parent, @kind, @size, @mtime, @ctime, @birthtime, @stamp)
ON CONFLICT (path) DO UPDATE SET
  parent = excluded.parent, ctime = excluded.ctime, birthtime = excluded.birthtime,
  indexed_at = excluded.indexed_at,
  analyzed = CASE WHEN kind = excluded.kind AND size = excluded.size AND mtime = excluded.mtime THEN analyzed ELSE 0 END,
  hash   = CASE WHEN kind = excluded.kind AND size = excluded.size AND mtime = excluded.mtime THEN hash   ELSE NULL END,
  mime   = CASE WHEN kind = excluded.kind AND size = excluded.size AND mtime = excluded.mtime THEN mime   ELSE NULL END,
  width  = CASE WHEN kind = excluded.kind AND size = excluded.size AND mtime = excluded.mtime THEN width  ELSE NULL END,
  height = CASE WHEN kind = excluded.kind AND size = excluded.size AND mtime = excluded.mtime THEN height ELSE NULL END,
  kind = excluded.kind, size = excluded.size, mtime = excluded.mtime
`

/**
 * The paths strictly below `dir` as a half-open range [lo, hi): every such path starts with
 * `dir/`, and `0` is the character after `/`, so one index range scan finds a whole subtree.
 */
export const subtreeRange = (dir: string): readonly [string, string] => {
  const lo = dir.endsWith(sep) ? dir : dir + sep
  return [lo, lo.slice(0, -1) + String.fromCharCode(sep.charCodeAt(0) + 1)]
}

/** The indexer's own SQLite file: one table, `entries`. Every call is an Effect failing with `IndexerError`. */
export class IndexDb {
  private readonly statements = new Map<string, Database.Statement>()
  private constructor(private readonly db: Database.Database) {}

  private prepare(sql: string): Database.Statement {
    let stmt = this.statements.get(sql)
    if (stmt === undefined) {
      stmt = this.db.prepare(sql)
      this.statements.set(sql, stmt)
    }
    return stmt
  }

  /** Opens (creating when needed) the index at `file`; close it with `close`. */
  static open(file: string): Effect.Effect<IndexDb, IndexerError> {
    return call("open", () => {
      mkdirSync(dirname(file), { recursive: true })
      const db = new Database(file)
      try {
        db.pragma("busy_timeout = 5000")
        db.pragma("journal_mode = WAL")
        db.pragma("synchronous = NORMAL")
        db.exec(SCHEMA)
        return new IndexDb(db)
      } catch (e) {
        db.close()
        throw e
      }
    })
  }

  close(): Effect.Effect<void> {
    return Effect.sync(() => this.db.close())
  }

  /** A stamp newer than any in the index, so rows this run touches can be told from older ones. */
  nextStamp(now: number): Effect.Effect<number, IndexerError> {
    return call("read stamps", () => {
      const row = this.prepare("SELECT max(indexed_at) AS m FROM entries").get() as { m: number | null }
      return Math.max(now, (row.m ?? 0) + 1)
    })
  }

  /** Inserts or updates a batch of rows in one transaction. */
  upsert(rows: ReadonlyArray<EntryRow>, stamp: number): Effect.Effect<void, IndexerError> {
    return call("write entries", () => {
      const stmt = this.prepare(UPSERT)
      this.db.transaction(() => {
        for (const r of rows) stmt.run({ ...r, stamp })
      })()
    })
  }

  /** Marks a subtree as seen by this run without reading it, so that a directory that could not be read keeps its old rows. */
  keepSubtree(dir: string, stamp: number): Effect.Effect<void, IndexerError> {
    return call("keep entries", () => {
      const [lo, hi] = subtreeRange(dir)
      this.prepare("UPDATE entries SET indexed_at = ? WHERE path >= ? AND path < ?").run(stamp, lo, hi)
    })
  }

  /** Deletes the rows below `dir` that this run did not see: their files are gone. */
  deleteUnseen(dir: string, stamp: number): Effect.Effect<number, IndexerError> {
    return call("delete stale entries", () => {
      const [lo, hi] = subtreeRange(dir)
      return this.prepare("DELETE FROM entries WHERE path >= ? AND path < ? AND indexed_at < ?").run(lo, hi, stamp)
        .changes
    })
  }

  /** Files below `dir` after `after` (in path order) not yet analysed to `level`. */
  toAnalyze(
    dir: string,
    level: number,
    after: string | null,
    limit: number,
  ): Effect.Effect<ReadonlyArray<{ path: string; size: number }>, IndexerError> {
    return call("read entries", () => {
      const [lo, hi] = subtreeRange(dir)
      return this.prepare(
        `SELECT path, size FROM entries
           WHERE path >= ? AND path < ? AND path > ? AND kind = 'file' AND analyzed < ?
           ORDER BY path LIMIT ?`,
      ).all(lo, hi, after ?? "", level, limit) as Array<{ path: string; size: number }>
    })
  }

  countToAnalyze(dir: string, level: number, after: string | null): Effect.Effect<number, IndexerError> {
    return call("count entries", () => {
      const [lo, hi] = subtreeRange(dir)
      const row = this.prepare(
        "SELECT count(*) AS n FROM entries WHERE path >= ? AND path < ? AND path > ? AND kind = 'file' AND analyzed < ?",
      ).get(lo, hi, after ?? "", level) as { n: number }
      return row.n
    })
  }

  /** Stores a batch of content facts in one transaction. */
  setContent(facts: ReadonlyArray<ContentFacts>): Effect.Effect<void, IndexerError> {
    return call("write content", () => {
      const stmt = this.prepare(
        "UPDATE entries SET hash = @hash, mime = @mime, width = @width, height = @height, analyzed = @analyzed WHERE path = @path",
      )
      this.db.transaction(() => {
        for (const f of facts) stmt.run(f)
      })()
    })
  }

  /** What the index holds below `dir`. */
  totals(dir: string): Effect.Effect<{ files: number; dirs: number; bytes: number }, IndexerError> {
    return call("count entries", () => {
      const [lo, hi] = subtreeRange(dir)
      const row = this.prepare(
        `SELECT coalesce(sum(kind <> 'dir'), 0) AS files, coalesce(sum(kind = 'dir'), 0) AS dirs,
                  coalesce(sum(CASE WHEN kind = 'file' THEN size ELSE 0 END), 0) AS bytes
           FROM entries WHERE path >= ? AND path < ?`,
      ).get(lo, hi) as { files: number; dirs: number; bytes: number }
      return row
    })
  }
}

const call = <A>(operation: string, f: () => A): Effect.Effect<A, IndexerError> =>
  Effect.try({
    try: f,
    catch: (cause) =>
      new IndexerError({
        reason: "IndexDb",
        detail: `${operation}: ${(cause as Error)?.message ?? String(cause)}`,
        cause,
      }),
  })
