import * as fsp from "node:fs/promises"
import { basename, dirname, extname, join, resolve, sep } from "node:path"
import { Clock, Effect } from "effect"
// Application code on the public API: it imports the engine only through jobstate's entry.
import { defineJob, Progress, type JobContext } from "../index.js"
import { type CopyCursor, type CopyEntry, isDone, isFileLike, listSource } from "./copyEntries.js"
import {
  DEFAULT_CONFLICT,
  FileCopyError,
  FileCopyOutput,
  FileCopyParams,
  FileCopyProgress,
  FileCopyState,
} from "./fileCopySchemas.js"
import { CHUNK_SIZE, IoError, hashFile, io, lexists, withFile } from "./io.js"

/** A large file is checkpointed this often, so a resumed copy repeats at most this much. */
const CHECKPOINT_BYTES = 8 * 1024 * 1024

type Ctx = JobContext<FileCopyParams, FileCopyState, FileCopyProgress>
type InFlight = { source: number; rel: ReadonlyArray<string>; target: string; partial: string; offset: number }

const initialState = (): FileCopyState => ({
  targets: null,
  cursor: { source: 0, rel: null },
  inFlight: null,
  copiedCount: 0,
  skippedCount: 0,
  bytesDone: 0,
  failedCopies: [],
  elapsedMs: 0,
})

// The partial target is hidden and named after its target, so a resumed job finds it and a
// half-written file never appears under the real name (and "skip" never mistakes it for one).
const partialPath = (target: string) => join(dirname(target), `.${basename(target)}.jobstate-partial`)

const uniqueName = (target: string) =>
  Effect.gen(function* () {
    const ext = extname(target)
    const stem = target.slice(0, target.length - ext.length)
    for (let n = 1; ; n++) {
      const candidate = `${stem} (${n})${ext}`
      if (!(yield* lexists(candidate))) return candidate
    }
  })

const ensureWritable = (dest: string) =>
  Effect.gen(function* () {
    yield* io("mkdir", dest, () => fsp.mkdir(dest, { recursive: true }))
    const st = yield* io("stat", dest, () => fsp.stat(dest))
    if (!st.isDirectory())
      return yield* new IoError({ op: "stat", path: dest, code: "ENOTDIR", detail: "not a directory" })
    // A real write says more than access(W_OK): it sees read-only mounts, and root's bypass of modes.
    const probe = yield* io("write", dest, () => fsp.mkdtemp(join(dest, ".jobstate-probe-")))
    yield* io("rmdir", probe, () => fsp.rmdir(probe))
  }).pipe(
    Effect.catchTag("IoError", (e) =>
      Effect.fail(new FileCopyError({ reason: "DestinationUnwritable", detail: e.message, cause: e })),
    ),
  )

/** What is at `path`: a directory, something else (file, symlink, ...), or nothing. */
const kindOf = (path: string, links: "follow" | "lstat" = "lstat") =>
  Effect.promise(() =>
    (links === "follow" ? fsp.stat(path) : fsp.lstat(path)).then(
      (st) => (st.isDirectory() ? ("dir" as const) : ("other" as const)),
      () => null,
    ),
  )

/**
 * `path` with symlinks in its existing part resolved, so that two names of one place compare
 * equal; the part that does not exist yet is kept as written.
 */
const canonical = (path: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    let existing = path
    const rest: string[] = []
    for (;;) {
      try {
        return join(await fsp.realpath(existing), ...rest)
      } catch {
        const parent = dirname(existing)
        if (parent === existing) return path
        rest.unshift(basename(existing))
        existing = parent
      }
    }
  })

/**
 * Refuses, before anything is written, a copy that would read what it writes: a destination
 * inside a source directory (the copy would copy its own copy, or nothing and leave empty
 * directories), or a target that is its source. A source is itself never followed, so it is
 * placed by its parent's real path.
 */
const refuseCopyIntoItself = (
  sources: ReadonlyArray<string>,
  kinds: ReadonlyArray<"dir" | "other" | null>,
  dest: string,
  toPath: boolean,
) =>
  Effect.gen(function* () {
    const realDest = yield* canonical(dest)
    for (const [i, s] of sources.entries()) {
      if (kinds[i] === null) continue
      const realSource = join(yield* canonical(dirname(s)), basename(s))
      const target = toPath ? realDest : join(realDest, basename(s))
      const detail =
        target === realSource
          ? `the target ${target} is the source itself`
          : kinds[i] === "dir" && (realDest === realSource || realDest.startsWith(realSource + sep))
            ? `the destination ${dest} is inside the source ${s}`
            : null
      if (detail !== null) return yield* new FileCopyError({ reason: "DestinationInsideSource", detail })
    }
  })

/**
 * Copies files and directory trees into a destination directory (or one file to a path, as
 * `cp` does), resumably.
 *
 * Symlinks are recreated with the same link text and never followed: following one could
 * copy a tree from outside the sources (or loop forever on a cycle), and a relative link
 * inside a copied tree keeps pointing at its copied sibling.
 */
export const FileCopyJob = defineJob({
  name: "file_copy",
  description: "Copy files and directory trees between locations",
  params: FileCopyParams,
  state: FileCopyState,
  initialState,
  output: FileCopyOutput,
  progress: FileCopyProgress,
  run: (ctx) => runCopy(ctx),
  // Cancelled, or failed for good: no partial target is left behind. A retry from the same
  // checkpoint finds its partial gone and copies that file again (see resumeOffset).
  cleanup: ({ params, state }) => removePartials(params, state),
})

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Removes the partial target a copy left: the one its last checkpoint names, and the one of the
 * file after its cursor, which it may have been writing since (a checkpoint follows each file,
 * so no other file can be half-written). That file is found by walking its source again, in
 * the same order the copy walks; under `conflict: "rename"` its partial may carry a " (n)".
 */
const removePartials = (params: FileCopyParams, state: FileCopyState) =>
  Effect.promise(async () => {
    if (state.inFlight !== null) await fsp.rm(state.inFlight.partial, { force: true })
    const targets = state.targets
    if (targets === null) return
    const cursor = state.cursor as CopyCursor
    for (let i = cursor.source; i < params.sources.length; i++) {
      const target = targets[i]
      if (target === null || target === undefined) continue
      const next = (await listSource(resolve(params.sources[i]!), i, new AbortController().signal)).find(
        (e) => e.kind !== "dir" && !isDone(e, cursor),
      )
      if (next === undefined) continue
      if (next.kind !== "file") return
      const file = join(target, ...next.rel)
      await fsp.rm(partialPath(file), { force: true })
      if ((params.options?.conflict ?? DEFAULT_CONFLICT) === "rename") {
        const ext = extname(file)
        const renamed = new RegExp(
          `^\\.${escapeRegExp(basename(file, ext))} \\(\\d+\\)${escapeRegExp(ext)}\\.jobstate-partial$`,
        )
        const names = await fsp.readdir(dirname(file)).catch(() => [] as string[])
        for (const name of names) if (renamed.test(name)) await fsp.rm(join(dirname(file), name), { force: true })
      }
      return
    }
  })

const runCopy = (ctx: Ctx) =>
  Effect.gen(function* () {
    const opts = ctx.params.options ?? {}
    const conflict = opts.conflict ?? DEFAULT_CONFLICT
    const startedAt = yield* Clock.currentTimeMillis
    const prev = ctx.state
    const st = {
      targets: prev.targets ? [...prev.targets] : null,
      cursor: prev.cursor as CopyCursor,
      inFlight: prev.inFlight as InFlight | null,
      copiedCount: prev.copiedCount,
      skippedCount: prev.skippedCount,
      bytesDone: prev.bytesDone,
      failedCopies: [...prev.failedCopies],
    }
    let runBytes = 0
    const dest = resolve(ctx.params.destination)
    const sources = ctx.params.sources.map((s) => resolve(s))

    const save = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* ctx.checkpoint({
        targets: st.targets ? [...st.targets] : null,
        cursor: { source: st.cursor.source, rel: st.cursor.rel ? [...st.cursor.rel] : null },
        inFlight: st.inFlight ? { ...st.inFlight, rel: [...st.inFlight.rel] } : null,
        copiedCount: st.copiedCount,
        skippedCount: st.skippedCount,
        bytesDone: st.bytesDone,
        failedCopies: [...st.failedCopies],
        elapsedMs: prev.elapsedMs + (now - startedAt),
      })
    })

    const recordFailure = (source: string, reason: string) =>
      Effect.gen(function* () {
        st.failedCopies.push({ source, reason })
        yield* ctx.log(`Could not copy ${source}: ${reason}`, "warn")
      })

    if (st.targets === null) {
      const kinds: Array<"dir" | "other" | null> = []
      for (const s of sources) kinds.push(yield* kindOf(s))
      if (!kinds.some((k) => k !== null)) {
        const detail = sources.length === 0 ? "no sources were given" : `no source exists (${sources.join(", ")})`
        return yield* new FileCopyError({ reason: "SourcesMissing", detail })
      }
      // As `cp a.txt b.txt`: one file and a destination that is not a directory name the target itself.
      const toPath =
        sources.length === 1 &&
        kinds[0] === "other" &&
        !/[\\/]$/.test(ctx.params.destination) &&
        (yield* kindOf(dest, "follow")) !== "dir"
      yield* refuseCopyIntoItself(sources, kinds, dest, toPath)
      yield* ensureWritable(toPath ? dirname(dest) : dest)
      const targets: Array<string | null> = []
      for (const [i, s] of sources.entries()) {
        if (kinds[i] === null) {
          yield* recordFailure(s, "ENOENT: no such file or directory")
          targets.push(null)
        } else {
          const target = toPath ? dest : join(dest, basename(s))
          targets.push(conflict === "rename" && (yield* lexists(target)) ? yield* uniqueName(target) : target)
        }
      }
      st.targets = targets
      yield* save
      yield* ctx.log(toPath ? `Copying ${sources[0]} to ${dest}` : `Copying ${sources.length} source(s) into ${dest}`)
    } else {
      // A resumed copy writes where it started: the directories that hold its targets.
      for (const dir of new Set(st.targets.flatMap((t) => (t === null ? [] : [dirname(t)])))) yield* ensureWritable(dir)
    }
    const targets = st.targets

    const listAll = (signal: AbortSignal) =>
      Effect.forEach(sources, (s, i) =>
        i >= st.cursor.source && targets[i] ? Effect.promise(() => listSource(s, i, signal)) : Effect.succeed([]),
      )
    let listed = yield* listAll(ctx.signal)
    if (ctx.signal.aborted) {
      yield* ctx.checkInterrupt
      // A walk cut short must never pass for the whole list: that would skip files.
      listed = yield* listAll(new AbortController().signal)
    }
    const remaining = listed.flat().filter((e) => !isDone(e, st.cursor))
    const failedBefore = st.failedCopies.length
    let filesTotal = st.copiedCount + st.skippedCount + failedBefore + remaining.filter(isFileLike).length
    let bytesTotal = st.bytesDone + remaining.reduce((n, e) => n + (e.kind === "file" ? e.size : 0), 0)
    const inFlightOf = (e: CopyEntry) =>
      st.inFlight && st.inFlight.source === e.source && st.inFlight.rel.join(sep) === e.rel.join(sep)
        ? st.inFlight
        : null
    if (st.inFlight && !remaining.some((e) => inFlightOf(e))) {
      const stale = st.inFlight.partial
      yield* Effect.promise(() => fsp.rm(stale, { force: true }))
      st.inFlight = null
    }

    const report = (currentFile: string | null) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const bytesDone = st.bytesDone + (st.inFlight?.offset ?? 0)
        const filesDone = st.copiedCount + st.skippedCount + st.failedCopies.length
        const seconds = (now - startedAt) / 1000
        const bytesPerSecond = seconds > 0 ? runBytes / seconds : 0
        const left = Math.max(0, bytesTotal - bytesDone)
        yield* ctx.progress(
          Progress.structured({
            filesDone,
            filesTotal,
            bytesDone,
            bytesTotal,
            currentFile,
            bytesPerSecond,
            etaSeconds: left === 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : null,
            // A source that grows while it is copied can push bytesDone past the total found by the walk.
            fraction: Math.min(
              1,
              bytesTotal > 0 ? bytesDone / bytesTotal : filesTotal > 0 ? filesDone / filesTotal : 1,
            ),
          }),
        )
      })

    /** Streams `src` into the partial target from `offset`, checkpointing every CHECKPOINT_BYTES. */
    const stream = (e: CopyEntry, job: InFlight) =>
      withFile(e.path, "r", (src) =>
        withFile(job.partial, job.offset > 0 ? "r+" : "w", (out) =>
          Effect.gen(function* () {
            if (job.offset > 0) yield* io("truncate", job.partial, () => out.truncate(job.offset))
            const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK_SIZE, e.size)))
            let sinceCheckpoint = 0
            for (;;) {
              const at = job.offset
              const { bytesRead } = yield* io("read", e.path, () => src.read(buffer, 0, buffer.length, at))
              if (bytesRead === 0) return
              yield* io("write", job.partial, async () => {
                for (let w = 0; w < bytesRead; ) w += (await out.write(buffer, w, bytesRead - w, at + w)).bytesWritten
              })
              job.offset += bytesRead
              runBytes += bytesRead
              sinceCheckpoint += bytesRead
              if (sinceCheckpoint >= CHECKPOINT_BYTES) {
                sinceCheckpoint = 0
                yield* save
              } else {
                yield* ctx.checkInterrupt
              }
              yield* report(e.path)
            }
          }),
        ),
      )

    /**
     * Before appending to a partial target, make sure it is the prefix it claims to be: after
     * a crash its tail may never have reached the disk, or someone may have touched it.
     */
    const resumeOffset = (e: CopyEntry, job: InFlight) =>
      Effect.gen(function* () {
        const partial = yield* Effect.promise(() => fsp.stat(job.partial).catch(() => null))
        if (partial === null || partial.size < job.offset || e.size < job.offset) return 0
        const [a, b] = [
          yield* hashFile(e.path, { length: job.offset, between: ctx.checkInterrupt }),
          yield* hashFile(job.partial, { length: job.offset, between: ctx.checkInterrupt }),
        ]
        if (a === b) return job.offset
        yield* ctx.log(`The partial copy of ${e.path} does not match its source; restarting that file`, "warn")
        return 0
      })

    const copyFile = (e: CopyEntry, initialTarget: string) =>
      Effect.gen(function* () {
        let job = inFlightOf(e)
        let target = job?.target ?? initialTarget
        if (job === null) {
          if (yield* lexists(target)) {
            if (conflict === "skip") return "skipped" as const
            if (conflict === "rename") target = yield* uniqueName(target)
          }
          if (opts.move) {
            const moved = yield* io("rename", e.path, () => fsp.rename(e.path, target)).pipe(
              Effect.as(true),
              Effect.catchTag("IoError", (err) => (err.code === "EXDEV" ? Effect.succeed(false) : Effect.fail(err))),
            )
            if (moved) return "copied" as const
          }
          job = { source: e.source, rel: e.rel, target, partial: partialPath(target), offset: 0 }
          st.inFlight = job
        } else {
          job.offset = yield* resumeOffset(e, job)
        }
        const partial = job.partial
        yield* stream(e, job).pipe(
          Effect.andThen(
            Effect.gen(function* () {
              // A move deletes the only other copy, so it always checks what it wrote first.
              if (opts.verify || opts.move) {
                const a = yield* hashFile(e.path, { between: ctx.checkInterrupt })
                const b = yield* hashFile(partial, { between: ctx.checkInterrupt })
                if (a !== b) {
                  const detail = "checksum of the copy differs from the source"
                  return yield* new IoError({ op: "verify", path: e.path, code: undefined, detail })
                }
              }
              yield* io("chmod", partial, () => fsp.chmod(partial, e.mode & 0o7777))
              if (opts.preserveTimestamps)
                yield* io("utimes", partial, () => fsp.utimes(partial, e.atimeMs / 1000, e.mtimeMs / 1000))
              yield* io("rename", target, () => fsp.rename(partial, target))
              if (opts.move) yield* io("unlink", e.path, () => fsp.unlink(e.path))
            }),
          ),
        )
        return "copied" as const
      })

    const copySymlink = (e: CopyEntry, initialTarget: string) =>
      Effect.gen(function* () {
        let target = initialTarget
        if (yield* lexists(target)) {
          if (conflict === "skip") return "skipped" as const
          if (conflict === "rename") target = yield* uniqueName(target)
          else yield* io("unlink", target, () => fsp.unlink(target))
        }
        if (opts.move) {
          const moved = yield* io("rename", e.path, () => fsp.rename(e.path, target)).pipe(
            Effect.as(true),
            Effect.catchTag("IoError", (err) => (err.code === "EXDEV" ? Effect.succeed(false) : Effect.fail(err))),
          )
          if (moved) return "copied" as const
        }
        const link = yield* io("readlink", e.path, () => fsp.readlink(e.path))
        yield* io("symlink", target, () => fsp.symlink(link, target))
        if (opts.preserveTimestamps)
          yield* io("lutimes", target, () => fsp.lutimes(target, e.atimeMs / 1000, e.mtimeMs / 1000))
        if (opts.move) yield* io("unlink", e.path, () => fsp.unlink(e.path))
        return "copied" as const
      })

    const copyEntry = (e: CopyEntry) =>
      Effect.gen(function* () {
        const target = join(targets[e.source]!, ...e.rel)
        switch (e.kind) {
          case "dir":
            yield* io("mkdir", target, () => fsp.mkdir(target, { recursive: true }))
            return "dir" as const
          case "unreadable":
          case "unsupported":
            return yield* new IoError({ op: "read", path: e.path, code: undefined, detail: e.reason ?? e.kind })
          case "symlink":
            return yield* copySymlink(e, target)
          case "file":
            return yield* copyFile(e, target)
        }
      }).pipe(
        Effect.tap((outcome) =>
          Effect.sync(() => {
            if (outcome === "copied") {
              st.copiedCount++
              st.bytesDone += e.size
            } else if (outcome === "skipped") {
              st.skippedCount++
              bytesTotal -= e.size
            }
            st.inFlight = null
          }),
        ),
        Effect.catchTag("IoError", (err) =>
          Effect.gen(function* () {
            const partial = st.inFlight?.partial
            if (partial) yield* Effect.promise(() => fsp.rm(partial, { force: true }))
            st.inFlight = null
            bytesTotal -= e.size
            if (e.kind === "dir") filesTotal++
            yield* recordFailure(e.path, err.message)
          }),
        ),
      )

    // Directory times are set last (writing into a directory changes its mtime), and a move
    // removes the emptied source directories only now; one that still holds a failed file stays.
    const finishSource = (entries: ReadonlyArray<CopyEntry>) =>
      Effect.gen(function* () {
        const dirs = entries.filter((e) => e.kind === "dir").reverse()
        for (const d of dirs) {
          const target = join(targets[d.source]!, ...d.rel)
          if (opts.preserveTimestamps) {
            yield* Effect.promise(() => fsp.utimes(target, d.atimeMs / 1000, d.mtimeMs / 1000).catch(() => undefined))
          }
          if (opts.move) yield* Effect.promise(() => fsp.rmdir(d.path).catch(() => undefined))
        }
      })

    yield* report(null)
    for (let i = st.cursor.source; i < sources.length; i++) {
      const all = listed[i]!
      const todo = all.filter((e) => !isDone(e, st.cursor))
      const target = targets[i]
      // Renaming a whole tree at once is the point of a same-filesystem move; EXDEV and
      // conflicts fall through to the file-by-file path below.
      if (opts.move && target && st.cursor.rel === null && st.inFlight === null && !(yield* lexists(target))) {
        const renamed = yield* io("rename", sources[i]!, () => fsp.rename(sources[i]!, target)).pipe(
          Effect.as(true),
          Effect.catchTag("IoError", () => Effect.succeed(false)),
        )
        if (renamed) {
          const files = all.filter(isFileLike)
          st.copiedCount += files.length
          st.bytesDone += files.reduce((n, e) => n + e.size, 0)
          st.cursor = { source: i + 1, rel: null }
          yield* save
          yield* report(sources[i]!)
          continue
        }
      }
      for (const e of todo) {
        yield* copyEntry(e)
        st.cursor = { source: i, rel: e.rel }
        if (e.kind !== "dir") yield* save
        yield* report(e.path)
      }
      yield* finishSource(all)
      st.cursor = { source: i + 1, rel: null }
      yield* save
    }

    const finishedAt = yield* Clock.currentTimeMillis
    yield* ctx.log(
      `Copy finished: ${st.copiedCount} copied, ${st.skippedCount} skipped, ${st.failedCopies.length} failed`,
    )
    if (st.copiedCount === 0 && st.skippedCount === 0 && st.failedCopies.length > 0) {
      const first = st.failedCopies[0]!
      const detail = `${st.failedCopies.length} failed, the first ${first.source}: ${first.reason}`
      return yield* new FileCopyError({ reason: "AllFailed", detail, failedCopies: st.failedCopies })
    }
    return {
      copiedCount: st.copiedCount,
      failedCount: st.failedCopies.length,
      skippedCount: st.skippedCount,
      totalBytes: st.bytesDone,
      durationMs: prev.elapsedMs + (finishedAt - startedAt),
      failedCopies: st.failedCopies,
    }
  })

export {
  DEFAULT_CONFLICT,
  FileCopyError,
  FileCopyOutput,
  FileCopyParams,
  FileCopyProgress,
  FileCopyState,
} from "./fileCopySchemas.js"
