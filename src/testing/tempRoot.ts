import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Where a run (or a set of runs) keeps its stores and files, and how it is cleaned up. */
export interface TempRoot {
  readonly path: string
  /** Removes the directory, when it was made here and `keep` is not set. */
  release(): void
}

/** `dataDir` as given (made when missing, never removed), or a fresh temp dir removed on release unless `keep`. */
export const tempRoot = (dataDir: string | undefined, keep: boolean | undefined): TempRoot => {
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true })
    return { path: dataDir, release: () => {} }
  }
  const path = mkdtempSync(join(tmpdir(), "jobstate-testing-"))
  return { path, release: () => (keep ? undefined : rmSync(path, { recursive: true, force: true })) }
}
