import Database from "better-sqlite3"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { InvalidOptions, PersistenceError } from "../../jobs/errors.js"
import type { Refs } from "../jobColumns.js"
import { Checkpointer } from "./checkpointer.js"
import { assertNotNewer, latestSchemaVersion, migrate } from "./migrations.js"

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock. Default 5 000. */
  readonly busyTimeoutMs?: number
  /** Open without writing anything (no migration, no journal change): for commands that only look. */
  readonly readOnly?: boolean
  /** The store's clock (ms since the epoch), by which leases expire. */
  readonly now?: () => number
}

/** How long a write waits for another connection's lock, unless told (`busyTimeoutMs`). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000

/**
 * The most one call blocks the event loop waiting for another process's lock: SQLite's own
 * busy handler sleeps on this thread (better-sqlite3 is synchronous), so past this the wait goes
 * on asynchronously, between tries (see `lockWaiting`), and timers, leases and the app
 * run meanwhile.
 */
const SYNC_BUSY_MS = 10

/**
 * Should the checkpointer thread end, the engine's connection checkpoints once the WAL holds this
 * many pages, not SQLite's 1,000: a row written often (a job's claim, its end) is copied back
 * once, not four times (an awaited dispatch ~8 % faster).
 */
const WAL_CHECKPOINT_PAGES = 4000

/** How the SQLite statements name what they bind (`@at`) and the row's columns (`output`). */
export const sqliteRefs: Refs = { value: (name) => `@${name}`, column: (name) => name, same: (a, b) => `${a} IS ${b}` }

/** Named values as better-sqlite3 binds them: a boolean as 1 or 0 (it binds no booleans). */
export const bindable = (values: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const bound: Record<string, unknown> = {}
  for (const key in values) {
    const value = values[key]
    bound[key] = typeof value === "boolean" ? (value ? 1 : 0) : value
  }
  return bound
}

/** A list of values as one parameter, for `json_each(?)`. */
export const json = (values: ReadonlyArray<string>) => JSON.stringify(values)

const wrap = <A>(operation: string, reason: "Read" | "Write", f: () => A): A => {
  try {
    return f()
  } catch (cause) {
    if (cause instanceof PersistenceError) throw cause
    throw new PersistenceError({ operation, reason, detail: (cause as Error).message ?? String(cause), cause })
  }
}

/** Another connection holds the lock this call needs (a writer in another process, say). */
const isLocked = (error: unknown): boolean => {
  const code = (error as { cause?: { code?: unknown } }).cause?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * A synchronous store call as the interface's promise; a throw becomes a rejection. A call
 * that finds the file locked by another connection is tried again after a short wait, with
 * the event loop free meanwhile, until `busyTimeoutMs` has passed; then it fails with a
 * `PersistenceError` saying the file is locked. (Each statement or transaction is atomic: a
 * try that met the lock changed nothing.)
 */
export const lockWaiting =
  (location: string, busyTimeoutMs: number) =>
  <A>(operation: string, reason: "Read" | "Write", f: () => A): Promise<A> => {
    try {
      return Promise.resolve(wrap(operation, reason, f))
    } catch (error) {
      return isLocked(error) ? waitForLock(location, busyTimeoutMs, operation, reason, f, error) : Promise.reject(error)
    }
  }

const waitForLock = async <A>(
  location: string,
  busyTimeoutMs: number,
  operation: string,
  reason: "Read" | "Write",
  f: () => A,
  first: unknown,
): Promise<A> => {
  const deadline = Date.now() + busyTimeoutMs
  let error = first
  for (let wait = 2; Date.now() < deadline; wait = Math.min(wait * 2, 50)) {
    await sleep(wait)
    try {
      return wrap(operation, reason, f)
    } catch (e) {
      if (!isLocked(e)) throw e
      error = e
    }
  }
  const { cause } = error as PersistenceError
  throw new PersistenceError({
    operation,
    reason,
    detail: `${location} is locked by another connection; waited ${busyTimeoutMs} ms (busyTimeoutMs): ${(cause as Error).message}`,
    cause,
  })
}

/**
 * Switching to WAL needs a moment alone with the file; when another process is opening the
 * same new database, SQLite answers "locked" at once instead of waiting, so wait here.
 */
const setWal = (db: Database.Database, busyTimeoutMs: number) => {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      db.pragma("journal_mode = WAL")
      return
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    }
  }
}

const isReadOnlyDirError = (error: unknown): boolean => {
  const cause = (error as { cause?: { code?: string } }).cause
  return (
    cause?.code === "SQLITE_READONLY" ||
    cause?.code === "SQLITE_CANTOPEN" ||
    /readonly|unable to open/.test(String((error as Error).message))
  )
}

/** An open connection, handed to the store that `openDatabase` makes with it. */
export interface OpenDatabase {
  readonly db: Database.Database
  /** The file as messages name it (a read-only copy is named as the file it copies). */
  readonly location: string
  /** How long a call waits for another process's lock before it fails. */
  readonly busyTimeoutMs: number
  /** What closing the store must also undo (a read-only copy to delete). */
  readonly onClose: () => void
  /** What closing the store must do first, while the connection is open (stop the checkpointer). */
  readonly beforeClose: () => void
}

/**
 * Opens (creating, unless read-only) `<dataDir>/jobs.db`, migrates it, and makes the store with
 * it (`make`, whose failure closes the connection). WAL mode, synchronous NORMAL.
 */
export const openDatabase = <S>(dataDir: string, options: SqliteStoreOptions, make: (opened: OpenDatabase) => S): S => {
  try {
    return openFile(join(dataDir, "jobs.db"), options, make)
  } catch (error) {
    if (!isReadOnlyDirError(error)) throw error
    if (options.readOnly) return openCopy(dataDir, options, make)
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `${join(dataDir, "jobs.db")} is read-only for this user: commands that only look (list, show, logs, watch) work, but running jobs needs to write there`,
      cause: error,
    })
  }
}

/**
 * A WAL database can be read only where its `-shm` file can be made; in a directory this
 * process may not write, read a copy instead (taken now: a snapshot, not a live view).
 */
const openCopy = <S>(dataDir: string, options: SqliteStoreOptions, make: (opened: OpenDatabase) => S): S => {
  const dir = mkdtempSync(join(tmpdir(), "jobstate-ro-"))
  const file = join(dataDir, "jobs.db")
  try {
    copyFileSync(file, join(dir, "jobs.db"))
    if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, join(dir, "jobs.db-wal"))
    return openFile(join(dir, "jobs.db"), options, make, file, () => rmSync(dir, { recursive: true, force: true }))
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

const openFile = <S>(
  file: string,
  options: SqliteStoreOptions,
  make: (opened: OpenDatabase) => S,
  shownAs = file,
  onClose = () => {},
): S => {
  const dataDir = join(file, "..")
  let db: Database.Database
  try {
    if (options.readOnly) db = new Database(file, { readonly: true, fileMustExist: true })
    else {
      mkdirSync(dataDir, { recursive: true })
      db = new Database(file)
    }
  } catch (cause) {
    // A data dir that names a file (or a file inside one) is the caller's mistake, said as such.
    const code = (cause as { code?: unknown }).code
    if (code === "EEXIST" || code === "ENOTDIR") {
      const what = code === "EEXIST" ? "is a file" : "lies inside a file"
      throw new InvalidOptions({
        option: "dataDir",
        detail: `${dataDir} ${what}, not a directory: give the directory jobstate keeps jobs.db in`,
      })
    }
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `${file}: ${(cause as Error).message}`,
      cause,
    })
  }
  let checkpointer: Checkpointer | undefined
  try {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
    db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    // Refuse a newer database before changing anything about it, even its journal mode.
    const version = assertNotNewer(db, file)
    if (options.readOnly) {
      if (version < latestSchemaVersion) {
        throw new PersistenceError({
          operation: "open",
          reason: "Open",
          detail:
            version === 0
              ? `${file} has no jobstate tables: it is empty, or another program's database`
              : `${file} has schema version ${version}; open it once with a command that writes (a worker) to upgrade it`,
        })
      }
    } else {
      setWal(db, busyTimeoutMs)
      db.pragma("synchronous = NORMAL")
      db.pragma("foreign_keys = ON")
      migrate(db, file)
    }
    // Past open, a lock is waited for between tries, not on this thread (see SYNC_BUSY_MS).
    db.pragma(`busy_timeout = ${Math.min(busyTimeoutMs, SYNC_BUSY_MS)}`)
    // Checkpoints are made by a thread of their own (see Checkpointer).
    if (!options.readOnly) checkpointer = new Checkpointer(db, file, WAL_CHECKPOINT_PAGES, () => {})
    return make({ db, location: shownAs, busyTimeoutMs, onClose, beforeClose: () => checkpointer?.stop() })
  } catch (cause) {
    checkpointer?.stop()
    db.close()
    if (cause instanceof PersistenceError) throw cause
    throw new PersistenceError({
      operation: "open",
      reason: "Open",
      detail: `${file}: ${(cause as Error).message}`,
      cause,
    })
  }
}

/** `PRAGMA data_version` changes only when another connection commits: a look costs one pragma. */
export const watch = (
  db: Database.Database,
  isClosed: () => boolean,
  onChange: () => void,
  intervalMs: number,
): (() => void) => {
  let seen = -1
  const timer = setInterval(() => {
    if (isClosed()) return
    try {
      const version = db.pragma("data_version", { simple: true }) as number
      if (version === seen) return
      seen = version
    } catch {
      return
    }
    onChange()
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
