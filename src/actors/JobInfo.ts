import type { StoredError } from "../jobs/errors.js"
import { isJobStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import type { DbJob, DbLog } from "../persistence/JobStore.js"
import { isMachineJobState } from "../jobs/defineMachineJob.js"
import { unpack } from "../persistence/codec.js"
import type { Owners } from "./owners.js"
import { commandsAccepted, type JobCommand } from "../machines/jobLifecycleMachine.js"

/** What `getJobInfo` / `listJobs` return about a job. */
export interface JobInfo {
  readonly id: string
  readonly name: string
  readonly status: JobStatus
  readonly priority: number
  /** 0..1 when the last progress had a fraction. */
  readonly progress: number | null
  readonly progressData: Progress<unknown> | null
  /** The schema-encoded output (JSON), when completed. */
  readonly output: unknown
  /** The error it failed with for good, when failed. */
  readonly error: StoredError | null
  readonly attempts: number
  /** Failed attempts since dispatch or the last `retry`. */
  readonly failures: number
  /** The last failed attempt's error, kept while the job waits to be retried and after. */
  readonly lastError: StoredError | null
  /** A queued job waiting for its time (a delay, a retry's backoff): when it may run. ISO 8601. */
  readonly runAt: string | null
  /** The dispatch's `uniqueKey`. */
  readonly uniqueKey: string | null
  /** Checkpoints written (not the state's format version: that is `stateSchemaVersion`). */
  readonly checkpoints: number
  /** The version of the state format the stored state has (its type's `stateVersion` when written). */
  readonly stateSchemaVersion: number
  readonly pausedBy: "user" | "shutdown" | "parent" | null
  /** The job that spawned it (`ctx.spawnChildren`), if any. */
  readonly parentId: string | null
  /** Queued, waiting for its children to end (its run is in `awaitChildren`); it holds no slot. */
  readonly awaitingChildren: boolean
  /** Queued, a machine job at rest: it waits for an event, a child's end or its next timer (`runAt`); it holds no slot. */
  readonly awaitingEvents: boolean
  /**
   * A machine job's machine: its current state value (XState's `snapshot.value`) and the values
   * it passed through, oldest first. Only `getJobInfo` reads them (absent from `listJobs`).
   */
  readonly machineState?: unknown
  readonly machinePath?: ReadonlyArray<unknown>
  /** How many children it has per status; only `getJobInfo` counts them (absent from `listJobs`). */
  readonly children?: Readonly<Partial<Record<JobStatus, number>>>
  readonly createdAt: string
  readonly startedAt: string | null
  readonly completedAt: string | null
  readonly lastCheckpoint: string | null
  /**
   * A `running` job whose manager is gone (its lease expired, or its process died): the next
   * worker of its type resumes it from its last checkpoint (or fails it, when not resumable).
   */
  readonly stalled: { readonly owner: string | null; readonly since: string } | null
  /** A `queued` job that no live manager runs the type of: it waits for a worker of its type. */
  readonly waitingForWorker: boolean
  /**
   * The commands the job takes now, as its lifecycle machine accepts them in its status (a
   * stalled job also takes `resume`: it goes back in line). What a UI offers; the manager still
   * refuses one that the job's move since this was read makes wrong (`InvalidTransition`).
   */
  readonly commands: ReadonlyArray<JobCommand>
}

/** One line of a job's log. */
export interface JobLogLine {
  readonly seq: number
  readonly at: string
  readonly level: DbLog["level"]
  readonly message: string
}

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

/** The API view of a row; `owners` (the leases as judged now) tells stalled and waiting jobs. */
export const toJobInfo = (row: DbJob, owners?: Owners): JobInfo => {
  // A damaged status is reported as failed; recovery marks such rows failed.
  const status = isJobStatus(row.status) ? row.status : "failed"
  const stalled =
    owners !== undefined && status === "running" && !owners.isLive(row.owner)
      ? { owner: row.owner, since: sinceOf(row, owners) }
      : null
  return {
    id: row.id,
    name: row.name,
    status,
    priority: row.priority,
    progress: row.progress,
    progressData: parse(row.progress_data) as Progress<unknown> | null,
    output: parse(row.output),
    error: parse(row.error) as StoredError | null,
    attempts: row.attempts,
    failures: row.failures,
    lastError: parse(row.last_error) as StoredError | null,
    runAt: row.run_at === null ? null : new Date(Number(row.run_at)).toISOString(),
    uniqueKey: row.unique_key,
    checkpoints: row.state_version,
    stateSchemaVersion: row.state_schema_version,
    pausedBy:
      row.paused_by === "user" || row.paused_by === "shutdown" || row.paused_by === "parent" ? row.paused_by : null,
    parentId: row.parent_id,
    awaitingChildren: status === "queued" && Boolean(row.awaiting_children),
    awaitingEvents: status === "queued" && Boolean(row.awaiting_events),
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    lastCheckpoint: row.last_checkpoint,
    stalled,
    waitingForWorker: owners !== undefined && status === "queued" && !owners.runsType(row.name),
    commands:
      stalled === null ? commandsAccepted[status] : [...new Set([...commandsAccepted[status], "resume" as const])],
  }
}

/**
 * A machine job's state value and path, read from its checkpointed state (`MachineJobState`);
 * nothing for a job whose state is not one (any other job, or a machine job not yet started).
 */
export const machineInfo = (row: DbJob): Pick<JobInfo, "machineState" | "machinePath"> => {
  let state: unknown
  try {
    state = unpack(row.data, `state of job ${row.id}`)
  } catch {
    return {}
  }
  if (!isMachineJobState(state) || state.snapshot === null) return {}
  const snapshot = state.snapshot as { value?: unknown }
  return { machineState: snapshot.value, machinePath: state.path.map((v) => JSON.parse(v) as unknown) }
}

/**
 * When the job was last heard of: its row's last write, or its owner's lease expiry if that is
 * earlier. Stable: it does not move when the lease, found dead by its pid first, expires later.
 */
const sinceOf = (row: DbJob, owners: Owners): string => {
  const expiry = owners.deadOwner(row.owner)?.lease.expiresAt
  const expired = expiry === undefined ? undefined : new Date(expiry).toISOString()
  return expired !== undefined && expired < row.updated_at ? expired : row.updated_at
}

export const toJobLogLine = (row: DbLog): JobLogLine => ({
  seq: row.seq,
  at: row.at,
  level: row.level,
  message: row.message,
})
