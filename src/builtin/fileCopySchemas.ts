import { Data, Schema } from "effect"

export const CopyFailure = Schema.Struct({ source: Schema.String, reason: Schema.String })

export const FileCopyParams = Schema.Struct({
  /** Files, directories (copied whole) or symlinks (recreated, not followed). */
  sources: Schema.Array(Schema.String),
  /**
   * As with `cp`: one source that is a file (or a symlink), and a destination that is not a
   * directory (missing, or a file) and does not end in "/", is copied to the destination path
   * itself. Otherwise the destination is a directory (created when missing) and each source is
   * copied into it under its own name. It may not lie inside a source directory.
   */
  destination: Schema.String,
  options: Schema.optionalKey(
    Schema.Struct({
      /**
       * When a target exists: keep it and count the file as skipped ("skip", the default:
       * nothing is lost), replace it ("overwrite"), or copy under a fresh "name (1).ext" ("rename").
       * Directories that exist are merged either way.
       */
      conflict: Schema.optionalKey(Schema.Literals(["overwrite", "skip", "rename"])),
      /** Re-read source and copy after writing and compare their checksums. Default false (a move always verifies). */
      verify: Schema.optionalKey(Schema.Boolean),
      /** Give copies the source's access and modification times. Default false: copies get the time of the copy. */
      preserveTimestamps: Schema.optionalKey(Schema.Boolean),
      /** Rename when source and destination share a filesystem; otherwise copy, verify, delete. Default false. */
      move: Schema.optionalKey(Schema.Boolean),
    }),
  ),
})
export type FileCopyParams = typeof FileCopyParams.Type

export const FileCopyProgress = Schema.Struct({
  filesDone: Schema.Finite,
  filesTotal: Schema.Finite,
  bytesDone: Schema.Finite,
  bytesTotal: Schema.Finite,
  currentFile: Schema.NullOr(Schema.String),
  bytesPerSecond: Schema.Finite,
  etaSeconds: Schema.NullOr(Schema.Finite),
  fraction: Schema.Finite,
})
export type FileCopyProgress = typeof FileCopyProgress.Type

export const FileCopyState = Schema.Struct({
  /** Each source's target, fixed on the first run so that "rename" does not pick a new name on resume; null: not copied. */
  targets: Schema.NullOr(Schema.Array(Schema.NullOr(Schema.String))),
  /**
   * What is finished, as a position in the walk order rather than a list of paths, so the
   * state (saved after every file) stays the same small size however many files are copied.
   */
  cursor: Schema.Struct({ source: Schema.Finite, rel: Schema.NullOr(Schema.Array(Schema.String)) }),
  /** The file being written, and how many of its bytes its partial target held at the checkpoint. */
  inFlight: Schema.NullOr(
    Schema.Struct({
      source: Schema.Finite,
      rel: Schema.Array(Schema.String),
      target: Schema.String,
      partial: Schema.String,
      offset: Schema.Finite,
    }),
  ),
  copiedCount: Schema.Finite,
  skippedCount: Schema.Finite,
  bytesDone: Schema.Finite,
  failedCopies: Schema.Array(CopyFailure),
  /** Running time of earlier runs, so `durationMs` covers the whole job and not only the last resume. */
  elapsedMs: Schema.Finite,
})
export type FileCopyState = typeof FileCopyState.Type

export const FileCopyOutput = Schema.Struct({
  copiedCount: Schema.Finite,
  failedCount: Schema.Finite,
  /** Targets left alone under `conflict: "skip"`. */
  skippedCount: Schema.Finite,
  totalBytes: Schema.Finite,
  durationMs: Schema.Finite,
  failedCopies: Schema.Array(CopyFailure),
})
export type FileCopyOutput = typeof FileCopyOutput.Type

/** The copy conflict mode when `options.conflict` is not given: the one that loses nothing. */
export const DEFAULT_CONFLICT = "skip" as const

/**
 * The copy could not start at all, or nothing of it succeeded. A file that fails among others
 * that are copied does not fail the job: it is listed in the output's `failedCopies`.
 */
export class FileCopyError extends Data.TaggedError("FileCopyError")<{
  readonly reason: "SourcesMissing" | "DestinationUnwritable" | "DestinationInsideSource" | "AllFailed"
  readonly detail: string
  /** For `AllFailed`: every file, and why. */
  readonly failedCopies?: ReadonlyArray<typeof CopyFailure.Type>
  readonly cause?: unknown
}> {
  override get message() {
    switch (this.reason) {
      case "SourcesMissing":
        return `Nothing to copy: ${this.detail}`
      case "DestinationUnwritable":
        return `Cannot write to the destination: ${this.detail}`
      case "DestinationInsideSource":
        return `Cannot copy a source into itself: ${this.detail}`
      case "AllFailed":
        return `No file could be copied: ${this.detail}`
    }
  }
}
