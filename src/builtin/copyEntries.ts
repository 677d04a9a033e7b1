import * as fsp from "node:fs/promises"
import { join } from "node:path"

/**
 * One thing to copy, found by walking a source. Entries that cannot be read are still listed
 * (`unreadable`, `unsupported`) so that the failure is recorded once, when the copy reaches
 * them, rather than on every walk a resumed job makes.
 */
export interface CopyEntry {
  /** Index of the source in `params.sources`. */
  readonly source: number
  /** Path segments below the source root; `[]` is the root itself. */
  readonly rel: ReadonlyArray<string>
  readonly path: string
  readonly kind: "file" | "dir" | "symlink" | "unreadable" | "unsupported"
  readonly size: number
  readonly mode: number
  readonly atimeMs: number
  readonly mtimeMs: number
  readonly reason?: string
}

/** Where a copy has got to: every source before `source` is finished, and within it every entry up to `rel`. */
export interface CopyCursor {
  readonly source: number
  readonly rel: ReadonlyArray<string> | null
}

/** Orders path segments the way a sorted pre-order walk visits them: a directory before its contents. */
export const compareRel = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

export const compareEntries = (a: { source: number; rel: ReadonlyArray<string> }, b: typeof a): number =>
  a.source - b.source || compareRel(a.rel, b.rel)

/** Whether the cursor has already passed this entry. */
export const isDone = (entry: CopyEntry, cursor: CopyCursor): boolean =>
  entry.source < cursor.source ||
  (entry.source === cursor.source && cursor.rel !== null && compareRel(entry.rel, cursor.rel) <= 0)

/** Entries that count as one "file" in progress and output (everything but directories). */
export const isFileLike = (e: CopyEntry) => e.kind !== "dir"

const reasonOf = (e: unknown) => {
  const err = e as { code?: string; message?: string }
  return err.code ? `${err.code}: ${err.message ?? ""}` : String(err?.message ?? e)
}

/**
 * Lists a source and everything under it in a stable order (sorted by path segments), so a
 * resumed job walks the same sequence and a cursor is enough to know what is finished.
 * Symlinks are listed, not followed. The walk stops early when `signal` fires; the caller
 * then reaches an interrupt point. The whole list is kept in memory: about 200 bytes a file.
 */
export const listSource = async (root: string, source: number, signal: AbortSignal): Promise<CopyEntry[]> => {
  const out: CopyEntry[] = []
  const pending: Array<{ path: string; rel: string[] }> = [{ path: root, rel: [] }]
  while (pending.length > 0 && !signal.aborted) {
    const { path, rel } = pending.pop()!
    let st
    try {
      st = await fsp.lstat(path)
    } catch (e) {
      out.push({ source, rel, path, kind: "unreadable", size: 0, mode: 0, atimeMs: 0, mtimeMs: 0, reason: reasonOf(e) })
      continue
    }
    const base = { source, rel, path, size: 0, mode: st.mode, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs }
    if (st.isFile()) out.push({ ...base, kind: "file", size: st.size })
    else if (st.isSymbolicLink()) out.push({ ...base, kind: "symlink" })
    else if (st.isDirectory()) {
      let names: string[]
      try {
        names = await fsp.readdir(path)
      } catch (e) {
        out.push({ ...base, kind: "unreadable", reason: reasonOf(e) })
        continue
      }
      out.push({ ...base, kind: "dir" })
      for (const name of names) pending.push({ path: join(path, name), rel: [...rel, name] })
    } else {
      out.push({ ...base, kind: "unsupported", reason: "not a regular file, directory or symlink" })
    }
  }
  return out.sort(compareEntries)
}
