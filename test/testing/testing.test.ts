import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ChecksumJob } from "../../examples/checksums.js"
import { defineJob, JobFailed } from "../../src/index.js"
import { FileCopyJob, IndexerJob } from "../../src/builtin/index.js"
import { checkResumable, JobTimedOut, ResumeMismatch, runJob } from "../../src/testing/index.js"
import { FanOutJob, SquareJob } from "../fixtures/jobs.js"
import { tempDir } from "../fixtures/tempDir.js"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** Files with known contents, for the checksum job. */
const someFiles = (names: ReadonlyArray<string>) => {
  const dir = tempDir()
  return names.map((name) => {
    const path = join(dir, name)
    writeFileSync(path, `content of ${name}`)
    return path
  })
}

/** A small tree: files at two levels and an empty directory. */
const someTree = () => {
  const root = join(tempDir(), "tree")
  mkdirSync(join(root, "sub", "deeper"), { recursive: true })
  mkdirSync(join(root, "empty"))
  writeFileSync(join(root, "a.txt"), "alpha")
  writeFileSync(join(root, "b.txt"), "bravo".repeat(100))
  writeFileSync(join(root, "sub", "c.txt"), "charlie")
  writeFileSync(join(root, "sub", "deeper", "d.bin"), Buffer.alloc(70_000, 7))
  return root
}

/** Sums numbers, checkpointing after each; `total` lives in a local variable, not in the state. */
const RunningTotalJob = defineJob({
  name: "running_total",
  params: Schema.Struct({ values: Schema.Array(Schema.Number) }),
  state: Schema.Struct({ next: Schema.Number }),
  initialState: () => ({ next: 0 }),
  output: Schema.Struct({ total: Schema.Number }),
  run: (ctx) =>
    Effect.gen(function* () {
      let total = 0 // the bug: a resumed run starts again from 0, without what came before its checkpoint
      for (let i = ctx.state.next; i < ctx.params.values.length; i++) {
        total += ctx.params.values[i]!
        yield* ctx.checkpoint({ next: i + 1 })
      }
      return { total }
    }),
})

/** The side effects of `AppendJob`, as a test double of some outside system would record them. */
const appended: number[] = []

/** Appends 0..n-1 to `appended`, one checkpoint per item; with `redo`, a resumed run starts over. */
const AppendJob = defineJob({
  name: "append",
  params: Schema.Struct({ n: Schema.Number, redo: Schema.Boolean }),
  state: Schema.Struct({ next: Schema.Number }),
  initialState: () => ({ next: 0 }),
  output: Schema.Struct({ n: Schema.Number }),
  run: async (ctx) => {
    for (let i = ctx.params.redo ? 0 : ctx.state.next; i < ctx.params.n; i++) {
      appended.push(i)
      await ctx.checkpoint({ next: i + 1 })
    }
    return { n: ctx.params.n }
  },
})

describe("runJob", () => {
  it("runs a fan-out job with its children's types on the same test manager, and returns the parent's output", async () => {
    // Without them the child type is unknown to the test manager: the spawn fails.
    const failure = await runJob(FanOutJob, { count: 3 }).catch((e: unknown) => e)
    expect(failure).toMatchObject({ _tag: "JobFailed", error: { _tag: "UnknownJobType" } })
    // It says how to give the test manager the child's type.
    expect((failure as Error).message).toContain("runJob(Parent, params, { jobs: [Child] })")
    const { output, progress } = await runJob(FanOutJob, { count: 3 }, { jobs: [SquareJob] })
    expect(output).toEqual({ sum: 0 + 1 + 4, children: 3 })
    expect(progress.at(-1)).toEqual({ _tag: "Count", done: 3, total: 3 })
  })

  it("runs a job through the engine and returns its output, every progress value, its logs and its checkpointed states", async () => {
    const files = someFiles(["a", "b", "c"])
    const run = await runJob(ChecksumJob, { files })
    const sums = Object.fromEntries(files.map((f) => [f, sha256(`content of ${f.slice(-1)}`)]))
    expect(run.output).toEqual({ sums })
    expect(run.progress).toEqual(
      files.map((current, i) => ({ _tag: "Structured", data: { done: i + 1, total: 3, current } })),
    )
    expect(run.logs.map((l) => [l.level, l.message])).toEqual([["info", "hashed 3 files"]])
    expect(run.checkpoints).toEqual([
      { sums: { [files[0]!]: sums[files[0]!] } },
      { sums: { [files[0]!]: sums[files[0]!], [files[1]!]: sums[files[1]!] } },
      { sums },
    ])
    // The temporary store is gone.
    expect(existsSync(run.dataDir)).toBe(false)
  })

  it("keeps the temporary store when asked, and gives params functions a directory of the run's own", async () => {
    const source = join(someTree(), "a.txt")
    const run = await runJob(FileCopyJob, ({ dir }) => ({ sources: [source], destination: join(dir, "copy.txt") }), {
      keep: true,
    })
    try {
      expect(run.output).toMatchObject({ copiedCount: 1, failedCount: 0 })
      expect(readFileSync(join(run.dataDir, "files", "copy.txt"), "utf8")).toBe("alpha")
      expect(existsSync(join(run.dataDir, "jobs.db"))).toBe(true)
    } finally {
      rmSync(run.dataDir, { recursive: true, force: true })
    }
  })

  it("rejects with the job's JobFailed", async () => {
    const error = await runJob(ChecksumJob, { files: ["/nonexistent/file"] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(JobFailed)
    expect((error as JobFailed).error).toMatchObject({ _tag: "ReadFailed" })
  })

  it("stops a job that does not end within timeoutMs, with JobTimedOut", async () => {
    const Forever = defineJob({ name: "forever", params: Schema.Struct({}), run: () => Effect.never })
    const error = await runJob(Forever, {}, { timeoutMs: 300 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(JobTimedOut)
    expect((error as Error).message).toMatch(/^Job "forever" \(.+\) did not end within 300 ms/)
  })
})

describe("checkResumable", () => {
  it("accepts the README's checksum job, crashing it after each of its checkpoints", async () => {
    const files = someFiles(["a", "b", "c"])
    const report = await checkResumable(ChecksumJob, { files })
    expect(report.crashedAfter).toEqual([1, 2, 3])
    expect(Object.keys(report.reference.output.sums)).toEqual(files)
  })

  it("accepts the file copy job on a small tree, each run copying to a destination of its own", async () => {
    const tree = someTree()
    const report = await checkResumable(
      FileCopyJob,
      ({ dir }) => ({ sources: [tree], destination: join(dir, "copy") }),
      {
        normalize: ({ durationMs: _, ...rest }) => rest,
      },
    )
    expect(report.reference.output).toMatchObject({ copiedCount: 4, failedCount: 0, skippedCount: 0 })
    expect(report.crashedAfter).toEqual(report.reference.checkpoints.map((_, i) => i + 1))
    expect(report.crashedAfter.length).toBeGreaterThanOrEqual(4)
  })

  it("accepts the indexer on a small tree, in batches small enough for several checkpoints", async () => {
    const tree = someTree()
    const report = await checkResumable(
      IndexerJob,
      { location: tree, mode: "Content", batchSize: 2 },
      {
        // Each run has its own store, and so its own default index.db.
        normalize: ({ durationMs: _, indexDb: __, ...rest }) => rest,
      },
    )
    expect(report.reference.output).toMatchObject({ totalFiles: 4, totalDirs: 3, errorCount: 0 })
    expect(report.crashedAfter.length).toBeGreaterThanOrEqual(4)
  })

  it("rejects a job that keeps a running total outside its state, naming the checkpoint and what differs", async () => {
    const error = await checkResumable(RunningTotalJob, { values: [1, 2, 3] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ResumeMismatch)
    expect(error).toMatchObject({
      _tag: "ResumeMismatch",
      reason: "OutputDiffers",
      checkpoint: 1,
      expected: { total: 6 },
      actual: { total: 5 },
    })
    expect((error as Error).message).toBe(
      `Job "running_total" does not resume correctly after checkpoint 1: its output differs from an uninterrupted run's:\n  total: expected 6, got 5`,
    )
  })

  it("tries only the checkpoints asked for, and refuses one the job does not make", async () => {
    const error = await checkResumable(RunningTotalJob, { values: [1, 2, 3] }, { checkpoints: [3] }).then(
      (report) => report.crashedAfter,
      (e: unknown) => e,
    )
    // After the last checkpoint there is nothing left to add: the total is lost entirely.
    expect(error).toMatchObject({ reason: "OutputDiffers", checkpoint: 3, actual: { total: 0 } })
    await expect(checkResumable(RunningTotalJob, { values: [1, 2, 3] }, { checkpoints: [4] })).rejects.toThrow(
      'no checkpoint 4 to crash after: an uninterrupted run of "running_total" makes 3 (1..3)',
    )
    // No checkpoint at all: nothing was checked, so it must not pass.
    await expect(checkResumable(RunningTotalJob, { values: [] })).rejects.toThrow('"running_total" made no checkpoint')
  })

  it("counts side effects: accepts a job that does each once, rejects one whose resume redoes finished work", async () => {
    const sideEffects = () => appended.length
    const report = await checkResumable(AppendJob, { n: 3, redo: false }, { sideEffects })
    expect(report).toMatchObject({ crashedAfter: [1, 2, 3], sideEffects: 3 })

    // Same output every time, but the resumed run appends again what was appended before the crash.
    const error = await checkResumable(AppendJob, { n: 3, redo: true }, { sideEffects }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      _tag: "ResumeMismatch",
      reason: "SideEffectsDiffer",
      checkpoint: 1,
      expected: 3,
      actual: 4,
    })
    expect((error as Error).message).toContain(
      "after checkpoint 1: it made 4 side effects (1 before the crash, 3 after the resume) where an uninterrupted run makes 3: the resumed run redid work",
    )
  })

  it("rejects a job declared not resumable: the crashed run is failed, not resumed", async () => {
    const Once = defineJob({ ...AppendJob, name: "append_once", resumable: false })
    const error = await checkResumable(Once, { n: 2, redo: false }).catch((e: unknown) => e)
    expect(error).toMatchObject({ reason: "ResumeFailed", checkpoint: 1 })
    expect((error as Error).message).toContain("is not resumable and its process stopped while it ran")
  })

  it("rejects a job whose runs do not make the same checkpoints", async () => {
    let runs = 0
    const Fickle = defineJob({
      name: "fickle",
      params: Schema.Struct({}),
      state: Schema.Struct({ n: Schema.Number }),
      initialState: () => ({ n: 0 }),
      run: async (ctx) => {
        const checkpoints = runs++ === 0 ? 2 : 1
        for (let i = 0; i < checkpoints; i++) await ctx.checkpoint({ n: i + 1 })
      },
    })
    await expect(checkResumable(Fickle, {}, { checkpoints: [2] })).rejects.toMatchObject({
      reason: "CheckpointNotReached",
      checkpoint: 2,
      expected: 2,
      actual: 1,
    })
  })
})

describe("the jobstate/testing entry", () => {
  it("is its own export path, which the main entry does not load", async () => {
    const testing = await import("jobstate/testing")
    expect(Object.keys(testing).sort()).toEqual([
      "InjectedFailure",
      "JobTimedOut",
      "MachineCrashMismatch",
      "ResumeMismatch",
      "checkMachineJob",
      "checkResumable",
      "runJob",
      "testClock",
    ])
    const main = await import("jobstate")
    expect(Object.keys(main)).not.toContain("runJob")
    expect(readFileSync(new URL("../../src/index.ts", import.meta.url), "utf8")).not.toMatch(/from "\.\/testing/)
  })
})
