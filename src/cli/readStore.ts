import { existsSync } from "node:fs"
import { join } from "node:path"
import { toJobInfo, type JobInfo } from "../actors/JobInfo.js"
import { JobNotFound } from "../jobs/errors.js"
import { unpack } from "../persistence/codec.js"
import { SqliteJobStore, type DbJob } from "../persistence/SqliteJobStore.js"
import { UsageError } from "./errors.js"

/**
 * Read-only commands (list, show, logs, watch) go to the store directly instead of opening a
 * manager: a manager would recover and start jobs, which looking must never do.
 */
export const withStore = async <A>(
  dataDir: string,
  use: (store: SqliteJobStore) => A | Promise<A>,
  whenMissing: () => A,
): Promise<A> => {
  // Looking at a data dir that does not exist should not create one.
  if (!existsSync(join(dataDir, "jobs.db"))) return whenMissing()
  const store = SqliteJobStore.open(dataDir)
  try {
    return await use(store)
  } finally {
    store.close()
  }
}

const MIN_PREFIX = 4

/** The full id of a job given its id or a unique prefix of it (ids are long UUIDs). */
export const resolveJobId = (store: SqliteJobStore, idOrPrefix: string): string => {
  if (store.getJob(idOrPrefix) !== undefined) return idOrPrefix
  if (idOrPrefix.length < MIN_PREFIX) throw new JobNotFound({ id: idOrPrefix })
  const matches = store.listJobs({}).filter((row) => row.id.startsWith(idOrPrefix))
  if (matches.length === 1) return matches[0]!.id
  if (matches.length > 1) throw new UsageError({ detail: `The id prefix ${idOrPrefix} matches ${matches.length} jobs; give more of it` })
  throw new JobNotFound({ id: idOrPrefix })
}

export const readJob = (store: SqliteJobStore, id: string): DbJob => {
  const row = store.getJob(id)
  if (row === undefined) throw new JobNotFound({ id })
  return row
}

/** The job's info with its params and last checkpointed state, in their stored (schema-encoded, JSON-ready) form. */
export interface JobDetails extends JobInfo {
  readonly params: unknown
  readonly state: unknown
}

export const jobDetails = (row: DbJob): JobDetails => {
  const tryUnpack = (bytes: Buffer, what: string) => {
    try {
      return unpack(bytes, what)
    } catch (error) {
      return { undecodable: (error as Error).message }
    }
  }
  return {
    ...toJobInfo(row),
    params: tryUnpack(row.params, `params of job ${row.id}`),
    state: tryUnpack(row.data, `state of job ${row.id}`),
  }
}

/** Managers whose lease was renewed lately: someone is there to run queued jobs. */
export const liveManagerCount = (store: SqliteJobStore, leaseMs = 5_000): number =>
  store.leases().filter((lease) => Date.now() - lease.heartbeat_at < leaseMs).length
