import { randomBytes } from "node:crypto"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"

export interface SampleTree {
  readonly root: string
  readonly files: number
  readonly dirs: number
  readonly bytes: number
}

const MiB = 1024 * 1024

/**
 * A tree worth watching: a few hundred small files in nested directories, and two multi-MiB
 * files that hold most of the bytes, so a byte-weighted progress bar spends its middle inside
 * a large file and a pause lands between two of its checkpoints. The large files sort first
 * ("media" < "projects"), so that middle comes early and a fast disk cannot finish first.
 */
export const makeSampleTree = async (
  root: string,
  options: { readonly bigFileMiB?: ReadonlyArray<number> } = {},
): Promise<SampleTree> => {
  let files = 0
  let dirs = 0
  let bytes = 0
  const write = async (path: string, size: number) => {
    await writeFile(path, randomBytes(size))
    files++
    bytes += size
  }
  await mkdir(join(root, "media"), { recursive: true })
  dirs++
  for (const [i, size] of (options.bigFileMiB ?? [24, 16]).entries())
    await write(join(root, "media", `video-${i + 1}.bin`), size * MiB)
  for (let p = 1; p <= 6; p++) {
    for (let m = 1; m <= 5; m++) {
      const dir = join(root, "projects", `project-${p}`, `module-${m}`)
      await mkdir(dir, { recursive: true })
      dirs++
      // Small files of varied sizes, like source code and notes.
      for (let f = 1; f <= 10; f++)
        await write(join(dir, `file-${f}.dat`), 512 + ((p * 7919 + m * 104729 + f * 1299709) % (24 * 1024)))
    }
    dirs++
  }
  dirs++ // projects/
  return { root, files, dirs, bytes }
}
