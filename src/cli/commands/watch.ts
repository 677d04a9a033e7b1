import { existsSync } from "node:fs"
import { join } from "node:path"
import type { Command } from "commander"
import { toJobInfo, type JobInfo } from "../../actors/JobInfo.js"
import { JobNotFound } from "../../jobs/errors.js"
import { isTerminalStatus } from "../../jobs/JobStatus.js"
import type { JobStore } from "../../persistence/JobStore.js"
import { openStore, type StoreOptions } from "../../persistence/openStore.js"
import { integerOption, storeOf, whereOf } from "../options.js"
import { reportOutcome } from "../outcome.js"
import { ownersOf, readInfo, resolveJobId } from "../readStore.js"
import { createProgressView, type ProgressView } from "../render.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Watching only reads: it polls the rows (progress_data is written by the running managers at
 * most every 250 ms) and never opens a manager, so it cannot start, recover or pause anything.
 */
export const registerWatchCommand = (program: Command) => {
  program
    .command("watch")
    .description("live progress of running jobs (or of one job until it ends), read from the store")
    .argument("[id]", "follow this job until it ends; exit 0 when it completed")
    .option("--interval <ms>", "how often to read the store", integerOption("--interval", 50), 250)
    .action(async (idArg: string | undefined, options: { interval: number }, command: Command) => {
      const where = storeOf(command)
      const dataDir = where.dataDir
      let interrupted = false
      const onSigint = () => (interrupted = true)
      process.on("SIGINT", onSigint)
      const view = createProgressView(process.stderr)
      try {
        if (idArg !== undefined) {
          if (where.databaseUrl === undefined && !existsSync(join(dataDir, "jobs.db")))
            throw new JobNotFound({ id: idArg })
          const info = await withReadStore(where, async (store) =>
            watchOne(store, await resolveJobId(store, idArg), view, options.interval, () => interrupted),
          )
          view.stop()
          if (info !== undefined) reportOutcome(info)
        } else {
          view.log(`Watching running jobs in ${whereOf(where)} (Ctrl-C to stop)`)
          while (where.databaseUrl === undefined && !existsSync(join(dataDir, "jobs.db")) && !interrupted)
            await sleep(options.interval)
          if (!interrupted)
            await withReadStore(where, (store) => watchAll(store, view, options.interval, () => interrupted))
        }
      } finally {
        view.stop()
        process.off("SIGINT", onSigint)
      }
    })
}

const withReadStore = async <A>(where: StoreOptions, use: (store: JobStore) => Promise<A>): Promise<A> => {
  const store = await openStore({ ...where, readOnly: true })
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

/** Follows one job until it ends; undefined when the user stopped watching first. */
const watchOne = async (
  store: JobStore,
  id: string,
  view: ProgressView,
  intervalMs: number,
  stopped: () => boolean,
) => {
  for (;;) {
    const info = await readInfo(store, id)
    view.update(id, info.name, info.stalled !== null ? "stalled" : info.status, info.progressData)
    if (isTerminalStatus(info.status)) return info
    if (stopped()) return undefined
    await sleep(intervalMs)
  }
}

const watchAll = async (store: JobStore, view: ProgressView, intervalMs: number, stopped: () => boolean) => {
  const shown = new Map<string, JobInfo>()
  while (!stopped()) {
    const owners = await ownersOf(store)
    const running = (await store.listJobs({ status: "running" })).map((row) => toJobInfo(row, owners))
    for (const info of running) {
      if (!shown.has(info.id)) view.log(`${info.name} ${info.id} running (attempt ${info.attempts})`)
      shown.set(info.id, info)
      view.update(info.id, info.name, info.stalled !== null ? "stalled" : info.status, info.progressData)
    }
    const still = new Set(running.map((job) => job.id))
    for (const [id, before] of shown) {
      if (still.has(id)) continue
      shown.delete(id)
      view.remove(id)
      const now = await store.getJob(id)
      view.log(`${before.name} ${id} ${now === undefined ? "was removed" : toJobInfo(now).status}`)
    }
    await sleep(intervalMs)
  }
}
