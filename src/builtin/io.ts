import * as fsp from "node:fs/promises"
import { Data, Effect } from "effect"

/** The unit of every read and write: large files never sit whole in memory. */
export const CHUNK_SIZE = 1024 * 1024

/** A filesystem operation on one path failed. Built-in jobs record these per path instead of failing. */
export class IoError extends Data.TaggedError("IoError")<{
  readonly op: string
  readonly path: string
  /** The errno code (`ENOENT`, `EACCES`, ...) when the OS gave one. */
  readonly code: string | undefined
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.op} ${this.path}: ${this.code ? `${this.code} ` : ""}${this.detail}`
  }
}

const errnoCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

/** Runs one promise-returning fs call, turning a rejection into an `IoError` naming `op` and `path`. */
export const io = <A>(op: string, path: string, f: () => Promise<A>): Effect.Effect<A, IoError> =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => {
      const code = errnoCode(cause)
      const raw = cause instanceof Error ? cause.message : String(cause)
      // Node repeats "CODE: ... 'path'" in its message; keep only the human part after the code.
      const detail = raw.replace(/^[A-Z]+: /, "").replace(/, \w+ '.*'$/, "")
      return new IoError({ op, path, code, detail, cause })
    },
  })

/** True when `path` exists (without following a final symlink). */
export const lexists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    fsp.lstat(path).then(
      () => true,
      () => false,
    ),
  )

/** An open file handle that is closed however the using effect ends (success, failure, interrupt). */
export const withFile = <A, E>(
  path: string,
  flags: string,
  use: (fh: fsp.FileHandle) => Effect.Effect<A, E>,
): Effect.Effect<A, E | IoError> =>
  Effect.acquireUseRelease(
    io("open", path, () => fsp.open(path, flags)),
    use,
    (fh) => Effect.promise(() => fh.close().catch(() => undefined)),
  )

/**
 * The xxHash3-128 of a file's first `length` bytes (the whole file when omitted), read in
 * `CHUNK_SIZE` chunks. XXH3-128 runs at several GB/s in WebAssembly (faster than the disk
 * feeding it, unlike SHA-256 or BLAKE3 in WASM) and 128 bits keep accidental collisions
 * negligible even across billions of files, so the digest can serve as a content identity.
 * It is not a defence against deliberate collisions. `between` runs after every chunk, so a
 * caller can make long hashes interruptible.
 */
export const hashFile = <E = never>(
  path: string,
  options: { readonly length?: number; readonly between?: Effect.Effect<void, E> } = {},
): Effect.Effect<string, IoError | E> =>
  withFile(path, "r", (fh) =>
    Effect.gen(function* () {
      const hasher = yield* Effect.promise(() => import("hash-wasm").then((m) => m.createXXHash128()))
      const size = options.length ?? (yield* io("stat", path, () => fh.stat())).size
      const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK_SIZE, size)))
      let position = 0
      while (options.length === undefined || position < options.length) {
        const want = options.length === undefined ? buffer.length : Math.min(buffer.length, options.length - position)
        const { bytesRead } = yield* io("read", path, () => fh.read(buffer, 0, want, position))
        if (bytesRead === 0) break
        hasher.update(buffer.subarray(0, bytesRead))
        position += bytesRead
        if (options.between) yield* options.between
      }
      return hasher.digest("hex")
    }),
  )
