import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { machineInfo, toJobInfo, type JobInfo } from "../actors/JobInfo.js"
import { Owners } from "../actors/owners.js"
import { JobNotFound } from "../jobs/errors.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import { unpack } from "../persistence/codec.js"
import type { DbJob, JobStore } from "../persistence/JobStore.js"
import { openStore, type StoreOptions } from "../persistence/openStore.js"
import { UsageError } from "./errors.js"

/**
 * Read-only commands (list, show, logs, watch) go to the store directly, opened read-only,
 * instead of opening a manager: a manager would recover and start jobs, which looking must
 * never do.
 */
export const withStore = async <A>(
  where: StoreOptions,
  use: (store: JobStore) => A | Promise<A>,
  whenMissing: () => A,
  options: { readonly readOnly?: boolean } = { readOnly: true },
): Promise<A> => {
  // Looking at a data dir that does not exist should not create one, nor pass for an empty one.
  if (where.databaseUrl === undefined && !existsSync(where.dataDir)) {
    throw new UsageError({
      detail: `No data dir at ${where.dataDir}: check --data-dir (or JOBSTATE_DATA_DIR); a worker, or any command that writes, creates it`,
    })
  }
  if (where.databaseUrl === undefined && !existsSync(join(where.dataDir, "jobs.db"))) {
    // An empty dir is a data dir nothing has written to yet; one with other files in it (`-d .`) is a mistake.
    if (readdirSync(where.dataDir).length === 0) return whenMissing()
    throw new UsageError({
      detail: `No jobs.db in ${where.dataDir}: it is not a jobstate data dir; check --data-dir (or JOBSTATE_DATA_DIR; the default is ./.jobstate)`,
    })
  }
  const store = await openStore({ ...where, readOnly: options.readOnly })
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

const MIN_PREFIX = 4

/** The full id of a job given its id or a unique prefix of it (ids are long UUIDs). */
export const resolveJobId = async (store: JobStore, idOrPrefix: string): Promise<string> => {
  if ((await store.getJob(idOrPrefix)) !== undefined) return idOrPrefix
  if (idOrPrefix.length < MIN_PREFIX)
    throw new UsageError({
      detail: `No job with id ${idOrPrefix}; an id prefix needs at least ${MIN_PREFIX} characters`,
    })
  const matches = await store.idsWithPrefix(idOrPrefix, 11)
  if (matches.length === 1) return matches[0]!
  if (matches.length > 1) {
    const shown = matches.slice(0, 10).join(", ")
    throw new UsageError({
      detail: `The id prefix ${idOrPrefix} is ambiguous: it matches ${matches.length > 10 ? "more than 10" : matches.length} jobs (${shown}${matches.length > 10 ? ", …" : ""}); give more of it`,
    })
  }
  throw new JobNotFound({ id: idOrPrefix })
}

export const readJob = async (store: JobStore, id: string): Promise<DbJob> => {
  const row = await store.getJob(id)
  if (row === undefined) throw new JobNotFound({ id })
  return row
}

/** The leases as judged now, for telling stalled jobs and jobs no worker runs. */
export const ownersOf = async (store: JobStore): Promise<Owners> => new Owners(await store.leases(), null)

export const readInfo = async (store: JobStore, id: string): Promise<JobInfo> =>
  toJobInfo(await readJob(store, id), await ownersOf(store))

/** The job's info with its params and last checkpointed state, in their stored (schema-encoded, JSON-ready) form. */
export interface JobDetails extends JobInfo {
  readonly params: unknown
  readonly state: unknown
  /** Its children, oldest first (`ctx.spawnChildren`). */
  readonly childJobs: ReadonlyArray<
    Pick<JobInfo, "id" | "name" | "status" | "stalled" | "waitingForWorker" | "runAt" | "awaitingEvents">
  >
}

export const jobDetails = (row: DbJob, owners: Owners, children: ReadonlyArray<DbJob> = []): JobDetails => {
  const tryUnpack = (bytes: Buffer, what: string) => {
    try {
      return unpack(bytes, what)
    } catch (error) {
      return { undecodable: (error as Error).message }
    }
  }
  const childJobs = children.map((c) => {
    const { id, name, status, stalled, waitingForWorker, runAt, awaitingEvents } = toJobInfo(c, owners)
    return { id, name, status, stalled, waitingForWorker, runAt, awaitingEvents }
  })
  const counts: Partial<Record<JobInfo["status"], number>> = {}
  for (const c of childJobs) counts[c.status] = (counts[c.status] ?? 0) + 1
  return {
    ...toJobInfo(row, owners),
    ...machineInfo(row),
    ...(childJobs.length === 0 ? {} : { children: counts }),
    params: tryUnpack(row.params, `params of job ${row.id}`),
    state: tryUnpack(row.data, `state of job ${row.id}`),
    childJobs,
  }
}

/** Live managers that run jobs of `type` (any type when omitted). */
export const liveWorkerCount = async (store: JobStore, type?: string): Promise<number> => {
  const owners = await ownersOf(store)
  return (await store.leases()).filter(
    (l) => owners.isLive(l.id) && l.types.length > 0 && (type === undefined || l.types.includes(type)),
  ).length
}

/**
 * The CLI's words for what a stored status does not say, each with the status it is a case of:
 * `stalled`, a running job whose manager is gone; `waiting`, a queued one no worker runs;
 * `resting`, a queued machine job waiting for an event (or its next timer); `delayed`, a queued
 * one not yet due. `list --status` takes them as it takes a status.
 */
export const shownCases = {
  stalled: "running",
  waiting: "queued",
  resting: "queued",
  delayed: "queued",
} as const satisfies Record<string, JobStatus>
export type ShownCase = keyof typeof shownCases

/** `list --status`'s word as the case it names, if it names one. */
export const shownCaseOf = (status: string | undefined): ShownCase | undefined =>
  status !== undefined && status in shownCases ? (status as ShownCase) : undefined

/** The status the CLI shows: a status, or the case of it that `shownCases` names. */
export const shownStatus = (
  info: Pick<JobInfo, "status" | "stalled" | "waitingForWorker" | "runAt"> & Partial<Pick<JobInfo, "awaitingEvents">>,
  now = Date.now(),
): string =>
  info.stalled !== null
    ? "stalled"
    : info.waitingForWorker
      ? "waiting"
      : info.status === "queued" && info.awaitingEvents === true
        ? "resting"
        : info.status === "queued" && info.runAt !== null && Date.parse(info.runAt) > now
          ? "delayed"
          : info.status

/** One line telling what a stalled or waiting job waits for, or `undefined`. */
export const waitingNote = (info: JobInfo): string | undefined => {
  if (info.stalled !== null) {
    return `stalled since ${info.stalled.since}: its manager ${info.stalled.owner ?? "(none)"} is gone; the next worker of type "${info.name}" resumes it from its last checkpoint`
  }
  if (info.waitingForWorker) return `waiting for a worker of type "${info.name}" (none is running)`
  return undefined
}
