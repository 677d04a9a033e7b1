import { Data, Schema } from "effect"

export const IndexMode = Schema.Literals(["Metadata", "Content", "Deep"])
export type IndexMode = typeof IndexMode.Type

export const IndexerParams = Schema.Struct({
  /** The directory to index; symlinks under it are indexed as links, never followed. */
  location: Schema.String,
  /** Metadata: stat facts. Content: + a content hash per file. Deep: + MIME type and image size. */
  mode: IndexMode,
  /**
   * The SQLite file the index lives in. Default: `index.db` in the manager's data dir (for the
   * CLI, `./.jobstate/index.db`), one file for every indexer job of that data dir, so a re-run
   * finds the index it updates. Several locations may share one index file.
   */
  indexDb: Schema.optionalKey(Schema.String),
  /** Rows per write transaction (default 1000). */
  batchSize: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
})
export type IndexerParams = typeof IndexerParams.Type

export const IndexError = Schema.Struct({ path: Schema.String, reason: Schema.String })
export type IndexError = typeof IndexError.Type

export const IndexerState = Schema.Struct({
  /** The `indexed_at` of this run's rows, fixed on the first start; rows under the location older than it are gone from disk. */
  stamp: Schema.NullOr(Schema.Finite),
  phase: Schema.Literals(["walk", "content", "done"]),
  /** Directories found but not read yet. */
  stack: Schema.Array(Schema.String),
  /** The directory being read, and the last of its children (in sorted order) whose row is in the index. */
  current: Schema.NullOr(Schema.Struct({ dir: Schema.String, after: Schema.NullOr(Schema.String) })),
  /** Content phase: every file up to this path (in the index's order) has been analysed. */
  contentAfter: Schema.NullOr(Schema.String),
  /** Counts for progress only; the output counts what the index holds. */
  found: Schema.Struct({ files: Schema.Finite, dirs: Schema.Finite, bytes: Schema.Finite }),
  contentDone: Schema.Finite,
  /** The first `MAX_LISTED_ERRORS` errors; `errorCount` counts them all. */
  errors: Schema.Array(IndexError),
  errorCount: Schema.Finite,
  elapsedMs: Schema.Finite,
})
export type IndexerState = typeof IndexerState.Type

export const IndexerProgress = Schema.Struct({
  phase: Schema.Literals(["discovery", "processing", "content"]),
  dirsFound: Schema.Finite,
  filesFound: Schema.Finite,
  bytesFound: Schema.Finite,
  /** Content phase: files analysed so far, out of `contentTotal`. */
  contentDone: Schema.Finite,
  contentTotal: Schema.NullOr(Schema.Finite),
  currentPath: Schema.NullOr(Schema.String),
  /** Entries (walk) or files (content) per second in this run. */
  itemsPerSecond: Schema.Finite,
  /** Known only in the content phase: how much of the walk is left is not known until it ends. */
  fraction: Schema.NullOr(Schema.Finite),
})
export type IndexerProgress = typeof IndexerProgress.Type

export const IndexerOutput = Schema.Struct({
  /** Entries under the location that are not directories (files, symlinks, others), as the index now holds them. */
  totalFiles: Schema.Finite,
  totalDirs: Schema.Finite,
  /** Sum of the sizes of regular files. */
  totalBytes: Schema.Finite,
  /** Paths that could not be read; they do not fail the job. The first `MAX_LISTED_ERRORS` only. */
  errors: Schema.Array(IndexError),
  errorCount: Schema.Finite,
  durationMs: Schema.Finite,
  /** The index file written (absent in outputs stored before it was reported). */
  indexDb: Schema.optionalKey(Schema.String),
})
export type IndexerOutput = typeof IndexerOutput.Type

/** At most this many errors are kept in the state and output, so that a huge unreadable tree cannot bloat every checkpoint. */
export const MAX_LISTED_ERRORS = 1000

/** The index cannot be built at all. Unreadable entries below the location are not this: they are listed in the output. */
export class IndexerError extends Data.TaggedError("IndexerError")<{
  readonly reason: "LocationNotFound" | "LocationUnreadable" | "NotADirectory" | "IndexDb"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    switch (this.reason) {
      case "LocationNotFound":
        return `Cannot index: the location does not exist: ${this.detail}`
      case "LocationUnreadable":
        return `Cannot index: the location cannot be read: ${this.detail}`
      case "NotADirectory":
        return `Cannot index: the location is not a directory: ${this.detail}`
      case "IndexDb":
        return `Cannot use the index database: ${this.detail}`
    }
  }
}
