import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { InspectionEvent } from "xstate"
import type { JobInfo } from "../actors/JobInfo.js"
import { JobManager } from "../actors/JobManager.js"
import type { JobDefinition } from "../jobs/defineJob.js"
import { FileCopyJob } from "../builtin/fileCopy.js"
import { IndexerJob } from "../builtin/indexer.js"
import { errorLine, InvalidTransition } from "../jobs/errors.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import { Progress } from "../jobs/Progress.js"
import { unpack } from "../persistence/codec.js"
import { openStore } from "../persistence/openStore.js"
import { whereOf } from "./options.js"
import { followJobs } from "./followJobs.js"
import { createProgressView, formatBytes, formatDuration, type ProgressView } from "./render.js"
import { makeSampleTree } from "./sampleTree.js"

export interface DemoOptions {
  readonly dataDir: string
  /** PostgreSQL instead of `<dataDir>/jobs.db`. */
  readonly databaseUrl?: string
  /** Every type the data dir may hold: a manager fails jobs of types it does not know. */
  readonly jobs: ReadonlyArray<JobDefinition>
  /** Keep the sample tree and its copy instead of deleting them at the end. */
  readonly keep?: boolean
  readonly inspect?: (event: InspectionEvent) => void
  /** The copy is paused once it is this far (by bytes). */
  readonly pauseAt?: number
}

/** Where the copy stood at its last checkpoint, read from its stored state. */
interface CopyCheckpoint {
  readonly copiedCount: number
  readonly bytesDone: number
  readonly inFlight: { readonly rel: ReadonlyArray<string>; readonly offset: number } | null
}

const out = (line: string) => process.stdout.write(`${line}\n`)

/**
 * The demo: index a sample tree and copy it at the same time, pause the copy midway, resume it
 * from its checkpoint, and print what both jobs produced. Returns whether both completed.
 */
export const runDemo = async (options: DemoOptions): Promise<boolean> => {
  const work = await mkdtemp(join(tmpdir(), "jobstate-demo-"))
  try {
    const tree = await makeSampleTree(join(work, "sample"))
    out(`Sample tree: ${tree.files} files in ${tree.dirs} directories, ${formatBytes(tree.bytes)}, at ${tree.root}`)
    // It runs its own two jobs and nothing else the store may hold.
    const manager = await JobManager.open({
      dataDir: options.dataDir,
      ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
      runOnlyOwn: true,
      jobs: options.jobs,
      ...(options.inspect ? { inspect: options.inspect } : {}),
    })
    try {
      const indexDb = join(options.dataDir, "demo-index.db")
      const indexer = await manager.dispatch(IndexerJob, { location: tree.root, mode: "Content", indexDb })
      const copy = await manager.dispatch(FileCopyJob, {
        sources: [tree.root],
        destination: join(work, "copy"),
        options: { verify: true },
      })
      out(`Dispatched indexer ${indexer.id} and file_copy ${copy.id} on ${options.dataDir}`)
      const view = createProgressView(process.stdout)
      const pauser = copyPauser(manager, options, copy.id, view, options.pauseAt ?? 0.4)
      const infos = await followJobs(
        manager,
        [
          { id: indexer.id, label: "indexer" },
          { id: copy.id, label: "file_copy" },
        ],
        view,
        {
          onProgress: (id, progress) => {
            if (id === copy.id) pauser.onProgress(progress)
          },
        },
      ).done
      view.stop()
      await pauser.settled
      printOutcome(infos.get(indexer.id)!, infos.get(copy.id)!, options, indexDb)
      return infos.get(indexer.id)!.status === "completed" && infos.get(copy.id)!.status === "completed"
    } finally {
      await manager.close()
    }
  } finally {
    if (options.keep) out(`Kept the sample tree and its copy in ${work}`)
    else await rm(work, { recursive: true, force: true })
  }
}

/** Pauses the copy the first time its progress passes `at`, shows its checkpoint, and resumes it. */
const copyPauser = (manager: JobManager, where: DemoOptions, id: string, view: ProgressView, at: number) => {
  let phase: "before" | "pausing" | "resumed" | "reported" = "before"
  let settled: Promise<void> = Promise.resolve()

  const pauseAndResume = async (atPause: Progress<unknown>) => {
    const status: JobStatus = await manager.pause(id).catch((error) => {
      if (error instanceof InvalidTransition) return error.status
      throw error
    })
    if (status !== "paused") {
      view.log(`file_copy ended (${status}) before the pause took effect: this machine is fast. Nothing to resume.`)
      phase = "reported"
      return
    }
    const info = await manager.getJobInfo(id)
    const seen =
      info.progressData?._tag === "Structured"
        ? (info.progressData.data as { bytesDone: number; filesDone: number })
        : null
    view.log(
      `Paused file_copy (by ${info.pausedBy}) at ${Math.round((Progress.fraction(atPause) ?? 0) * 100)}%` +
        (seen ? `: ${seen.filesDone} files, ${formatBytes(seen.bytesDone)} reported` : ""),
    )
    const checkpoint = await readCheckpoint(where, id)
    const inFlight = checkpoint.inFlight
      ? `, and ${formatBytes(checkpoint.inFlight.offset)} of ${checkpoint.inFlight.rel.join("/")} written`
      : ""
    view.log(
      `  Checkpoint #${info.checkpoints} (${info.lastCheckpoint}): ${checkpoint.copiedCount} files copied, ` +
        `${formatBytes(checkpoint.bytesDone)} in finished files${inFlight}`,
    )
    // Long enough to see the paused bar, short enough for a demo.
    await new Promise((r) => setTimeout(r, 750))
    const resumed = await manager.resume(id)
    phase = "resumed"
    view.log(`Resumed file_copy (${resumed}); it restarts from that checkpoint, not from the beginning`)
  }

  return {
    get settled() {
      return settled
    },
    onProgress(progress: Progress<unknown>) {
      if (phase === "before" && (Progress.fraction(progress) ?? 0) >= at) {
        phase = "pausing"
        settled = pauseAndResume(progress).catch((error) =>
          view.log(`Could not pause and resume the copy: ${String(error)}`),
        )
      } else if (phase === "resumed" && progress._tag === "Structured") {
        phase = "reported"
        const d = progress.data as { bytesDone: number; filesDone: number }
        view.log(`  Attempt 2 started at ${formatBytes(d.bytesDone)} (${d.filesDone} files done)`)
      }
    },
  }
}

const readCheckpoint = async (where: DemoOptions, id: string): Promise<CopyCheckpoint> => {
  // A second connection, only to read: the manager has nothing of this job in flight while it is paused.
  const store = await openStore({
    dataDir: where.dataDir,
    ...(where.databaseUrl === undefined ? {} : { databaseUrl: where.databaseUrl }),
    readOnly: true,
  })
  try {
    return unpack((await store.getJob(id))!.data, `state of job ${id}`) as CopyCheckpoint
  } finally {
    await store.close()
  }
}

const printOutcome = (indexer: JobInfo, copy: JobInfo, where: DemoOptions, indexDb: string) => {
  out("")
  for (const info of [indexer, copy]) {
    const output = info.output as { durationMs?: number } | null
    const ran = output?.durationMs !== undefined ? ` in ${formatDuration(output.durationMs)} of work` : ""
    const why = info.error ? `: ${errorLine(info.error)}` : ""
    out(`${info.name} ${info.status}${ran} (attempts: ${info.attempts}, checkpoints: ${info.checkpoints})${why}`)
    if (info.output !== null) out(`  output: ${JSON.stringify(info.output)}`)
  }
  out("")
  const store = `--data-dir ${where.dataDir}${where.databaseUrl === undefined ? "" : ` --database-url ${whereOf(where)}`}`
  out(`Jobs database: ${where.databaseUrl === undefined ? join(where.dataDir, "jobs.db") : whereOf(where)}`)
  out(`Index database: ${indexDb} (table entries)`)
  out(`Look around: npx jobstate ${store} list (then show ${copy.id}, or logs ${copy.id})`)
}
