import * as fsp from "node:fs/promises"
import { join, resolve } from "node:path"
import { Clock, Effect } from "effect"
// Application code on the public API: it imports the engine only through jobstate's entry.
import { defineJob, JobInterrupted, Progress, type JobContext } from "../index.js"
import { type ContentFacts, type EntryRow, IndexDb } from "./IndexDb.js"
import {
  IndexerError,
  IndexerOutput,
  IndexerParams,
  IndexerProgress,
  IndexerState,
  MAX_LISTED_ERRORS,
} from "./indexerSchemas.js"
import { hashFile, io } from "./io.js"

type Ctx = JobContext<IndexerParams, IndexerState, IndexerProgress>

/** How many directory children are read between two interrupt checks. */
const CHECK_EVERY = 256

const initialState = (): IndexerState => ({
  stamp: null,
  phase: "walk",
  stack: [],
  current: null,
  contentAfter: null,
  found: { files: 0, dirs: 0, bytes: 0 },
  contentDone: 0,
  errors: [],
  errorCount: 0,
  elapsedMs: 0,
})

const kindOf = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryRow["kind"] =>
  st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other"

/** The index file's name in the manager's data dir, when `params.indexDb` is not given. */
export const DEFAULT_INDEX_DB = "index.db"

/**
 * The index file: `params.indexDb`, or `index.db` in the manager's data dir. A job sees only
 * its own directory, `<dataDir>/jobs/<id>` (see `JobEngine.dataDir`), so the manager's is two
 * levels up; the test "defaults the index to index.db in the manager's data dir" holds the two together.
 */
export const indexDbOf = (ctx: {
  readonly params: { readonly indexDb?: string | undefined }
  readonly dataDir: string
}): string =>
  ctx.params.indexDb !== undefined ? resolve(ctx.params.indexDb) : resolve(ctx.dataDir, "..", "..", DEFAULT_INDEX_DB)

/**
 * Indexes a directory tree into a SQLite table of its own (`entries` in `params.indexDb`, by
 * default `index.db` in the manager's data dir).
 *
 * The walk reads one directory at a time from a stack kept in the checkpointed state, and
 * writes rows in batches. Every batch is written, then checkpointed, and only then is an
 * interrupt honoured; an interrupt that arrives between batches first writes the partial
 * batch. So a pause never drops rows that the state counts as done (the seed's indexer
 * popped a batch before its interrupt check and lost it on pause). Rows are upserted by
 * path, so work repeated after a crash, and every later run, updates instead of duplicating;
 * rows of files that are gone are deleted when the walk ends.
 */
export const IndexerJob = defineJob({
  name: "indexer",
  description: "Index a directory tree into SQLite: metadata, content hashes, media facts",
  params: IndexerParams,
  state: IndexerState,
  initialState,
  output: IndexerOutput,
  progress: IndexerProgress,
  run: (ctx) =>
    Effect.acquireUseRelease(
      IndexDb.open(indexDbOf(ctx)),
      (db) => runIndexer(ctx, db),
      (db) => db.close(),
    ),
})

const runIndexer = (ctx: Ctx, db: IndexDb) =>
  Effect.gen(function* () {
    const location = resolve(ctx.params.location)
    const indexDb = indexDbOf(ctx)
    // The index's own files would change under the walk if they lie inside the location.
    const ownFiles = new Set(["", "-wal", "-shm", "-journal"].map((s) => indexDb + s))
    const batchSize = ctx.params.batchSize ?? 1000
    const level = ctx.params.mode === "Metadata" ? 0 : ctx.params.mode === "Content" ? 1 : 2
    const startedAt = yield* Clock.currentTimeMillis
    const prev = ctx.state
    const st = {
      ...prev,
      stack: [...prev.stack],
      current: prev.current ? { ...prev.current } : null,
      found: { ...prev.found },
      errors: [...prev.errors],
    }
    let rows: EntryRow[] = []
    let facts: ContentFacts[] = []
    let dirty = false
    let runItems = 0
    let contentTotal: number | null = null

    const rootStat = yield* io("stat", location, () => fsp.stat(location)).pipe(
      Effect.catchTag("IoError", (e) => {
        const reason = e.code === "ENOENT" ? "LocationNotFound" : "LocationUnreadable"
        return Effect.fail(new IndexerError({ reason, detail: e.message, cause: e }))
      }),
    )
    if (!rootStat.isDirectory()) return yield* new IndexerError({ reason: "NotADirectory", detail: location })
    if (st.stamp === null) {
      st.stamp = yield* db.nextStamp(startedAt)
      st.stack = [location]
    }
    const stamp = st.stamp

    /** Writes what is pending, then checkpoints the state that describes it. */
    const flush = Effect.gen(function* () {
      if (rows.length > 0) {
        yield* report("processing", rows.at(-1)!.path)
        yield* db.upsert(rows, stamp)
        rows = []
      }
      if (facts.length > 0) {
        yield* db.setContent(facts)
        facts = []
      }
      dirty = false
      const now = yield* Clock.currentTimeMillis
      yield* ctx.checkpoint({
        ...st,
        stack: [...st.stack],
        current: st.current ? { ...st.current } : null,
        found: { ...st.found },
        errors: [...st.errors],
        elapsedMs: prev.elapsedMs + (now - startedAt),
      })
    })

    /** Saves whatever was read since the last batch when `effect` is interrupted, then lets the interrupt through. */
    const guard = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.tapError(effect, (e) => (e instanceof JobInterrupted && dirty ? flush : Effect.void))
    const interruptPoint = guard(ctx.checkInterrupt)

    const recordError = (path: string, reason: string) =>
      Effect.gen(function* () {
        st.errorCount++
        if (st.errors.length < MAX_LISTED_ERRORS) st.errors.push({ path, reason })
        dirty = true
        yield* ctx.log(`Cannot index ${path}: ${reason}`, "warn")
      })

    const report = (phase: IndexerProgress["phase"], currentPath: string | null) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const seconds = (now - startedAt) / 1000
        yield* ctx.progress(
          Progress.structured({
            phase,
            dirsFound: st.found.dirs,
            filesFound: st.found.files,
            bytesFound: st.found.bytes,
            contentDone: st.contentDone,
            contentTotal,
            currentPath,
            itemsPerSecond: seconds > 0 ? runItems / seconds : 0,
            fraction: phase === "content" && contentTotal ? st.contentDone / contentTotal : null,
          }),
        )
      })

    /** Reads the current directory from after its last written child; subdirectories go on the stack. */
    const readCurrent = (current: { dir: string; after: string | null }) =>
      Effect.gen(function* () {
        const names = yield* io("read directory", current.dir, () => fsp.readdir(current.dir))
        names.sort()
        let sinceCheck = 0
        for (const name of names) {
          if (current.after !== null && name <= current.after) continue
          const path = join(current.dir, name)
          current.after = name
          dirty = true
          if (ownFiles.has(path)) continue
          const stat = yield* io("stat", path, () => fsp.lstat(path)).pipe(
            Effect.catchTag("IoError", (e) => recordError(path, e.message).pipe(Effect.as(null))),
          )
          if (stat !== null) {
            const kind = kindOf(stat)
            // birthtimeMs is 0 where the filesystem keeps no birth time.
            const birthtime = stat.birthtimeMs > 0 ? stat.birthtimeMs : null
            rows.push({
              path,
              parent: current.dir,
              kind,
              size: stat.size,
              mtime: stat.mtimeMs,
              ctime: stat.ctimeMs,
              birthtime,
            })
            runItems++
            if (kind === "dir") {
              st.stack.push(path)
              st.found.dirs++
            } else {
              st.found.files++
              if (kind === "file") st.found.bytes += stat.size
            }
          }
          if (rows.length >= batchSize) {
            yield* flush
            yield* report("discovery", path)
          } else if (++sinceCheck >= CHECK_EVERY) {
            sinceCheck = 0
            yield* interruptPoint
            yield* report("discovery", path)
          }
        }
      })

    const walk = Effect.gen(function* () {
      for (;;) {
        if (st.current === null) {
          const dir = st.stack.pop()
          if (dir === undefined) break
          st.current = { dir, after: null }
          dirty = true
        }
        const current = st.current
        yield* guard(readCurrent(current)).pipe(
          Effect.catchTag("IoError", (e) =>
            // Keep what an unreadable directory held before, rather than deleting it as gone.
            recordError(current.dir, e.message).pipe(Effect.andThen(db.keepSubtree(current.dir, stamp))),
          ),
        )
        st.current = null
        yield* interruptPoint
        yield* report("discovery", current.dir)
      }
      // Anything below the location that this run did not see no longer exists.
      yield* flush.pipe(Effect.andThen(db.deleteUnseen(location, stamp)))
      st.phase = level > 0 ? "content" : "done"
      yield* flush
    })

    const analyze = (file: { path: string }) =>
      Effect.gen(function* () {
        const hash = yield* hashFile(file.path, { between: ctx.checkInterrupt })
        if (level < 2) return { path: file.path, hash, mime: null, width: null, height: null, analyzed: 1 }
        const type = yield* io("detect type", file.path, () =>
          import("file-type").then((m) => m.fileTypeFromFile(file.path)),
        )
        const mime = type?.mime ?? null
        let width: number | null = null
        let height: number | null = null
        if (mime?.startsWith("image/")) {
          // A malformed or unsupported image is not an error worth reporting: it just has no size.
          const size = yield* Effect.promise(() =>
            import("image-size/fromFile").then((m) => m.imageSizeFromFile(file.path)).catch(() => null),
          )
          width = size?.width ?? null
          height = size?.height ?? null
        }
        return { path: file.path, hash, mime, width, height, analyzed: 2 }
      })

    const content = Effect.gen(function* () {
      contentTotal = st.contentDone + (yield* db.countToAnalyze(location, level, st.contentAfter))
      for (;;) {
        const batch = yield* db.toAnalyze(location, level, st.contentAfter, batchSize)
        if (batch.length === 0) break
        for (const file of batch) {
          const result = yield* guard(analyze(file)).pipe(
            Effect.catchTag("IoError", (e) => recordError(file.path, e.message).pipe(Effect.as(null))),
          )
          if (result !== null) facts.push(result)
          st.contentAfter = file.path
          st.contentDone++
          runItems++
          dirty = true
          yield* interruptPoint
          yield* report("content", file.path)
        }
        yield* flush
      }
      st.phase = "done"
      yield* flush
    })

    if (st.phase === "walk") {
      yield* ctx.log(`Indexing ${location} (${ctx.params.mode}) into ${indexDb}`)
      yield* walk
    }
    if (st.phase === "content") yield* content

    const totals = yield* db.totals(location)
    const finishedAt = yield* Clock.currentTimeMillis
    yield* ctx.log(`Indexed ${totals.files} files and ${totals.dirs} directories; ${st.errorCount} could not be read`)
    return {
      totalFiles: totals.files,
      totalDirs: totals.dirs,
      totalBytes: totals.bytes,
      errors: st.errors,
      errorCount: st.errorCount,
      durationMs: prev.elapsedMs + (finishedAt - startedAt),
      indexDb,
    }
  })

export { IndexerError, IndexerOutput, IndexerParams, IndexerProgress, IndexerState } from "./indexerSchemas.js"
export { IndexDb } from "./IndexDb.js"
