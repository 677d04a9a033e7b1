import { Data, Schema } from "effect"

export const CopyFailure = Schema.Struct({ source: Schema.String, reason: Schema.String })

export const FileCopyParams = Schema.Struct({
  /** Files, directories (copied whole) or symlinks (recreated, not followed). */
  sources: Schema.Array(Schema.String),
  /** The directory each source is copied into, under its own name; created when missing. */
  destination: Schema.String,
  options: Schema.optionalKey(
    Schema.Struct({
      /** When a target exists: replace it (default), keep it, or copy under a fresh "name (1).ext". */
      conflict: Schema.optionalKey(Schema.Literals(["overwrite", "skip", "rename"])),
      /** Re-read source and copy after writing and compare their checksums. */
      verify: Schema.optionalKey(Schema.Boolean),
      preserveTimestamps: Schema.optionalKey(Schema.Boolean),
      /** Rename when source and destination share a filesystem; otherwise copy, verify, delete. */
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

/** The copy could not start at all. Failures of single files are not errors: they are listed in the output. */
export class FileCopyError extends Data.TaggedError("FileCopyError")<{
  readonly reason: "SourcesMissing" | "DestinationUnwritable"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return this.reason === "SourcesMissing"
      ? `Nothing to copy: ${this.detail}`
      : `Cannot write to the destination: ${this.detail}`
  }
}
