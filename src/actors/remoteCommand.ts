import { InvalidTransition, JobNotFound, PersistenceError } from "../jobs/errors.js"
import { isJobStatus, isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { JobLifecycleEvent } from "../machines/jobLifecycleMachine.js"
import { SqliteJobStore, type DbJob } from "../persistence/SqliteJobStore.js"
import { liveOwners } from "./leases.js"
import { decodeLifecycle, encodeLifecycle, statusOf, transitionOffline, type PersistedLifecycle } from "./lifecycle.js"

export type RemoteCommand = "pause" | "resume" | "cancel"

export const commandEvent = (command: string): Extract<JobLifecycleEvent, { type: "PAUSE" | "RESUME" | "CANCEL" }> | undefined =>
  command === "pause" ? { type: "PAUSE", by: "user" } : command === "resume" ? { type: "RESUME" } : command === "cancel" ? { type: "CANCEL" } : undefined

const settled = (command: RemoteCommand, status: JobStatus) =>
  command === "cancel" ? isTerminalStatus(status) : command === "pause" ? status !== "running" : status !== "paused"

/**
 * Pauses, resumes or cancels a job from a process that does not run it (the CLI). A job that a
 * live manager is running gets the command through its row (`request`), which that manager
 * applies at its next poll; anything else is changed in the store directly, through the
 * lifecycle machine. Resolves with the status the job reached.
 */
export const sendCommand = async (options: {
  readonly dataDir: string
  readonly id: string
  readonly command: RemoteCommand
  readonly timeoutMs?: number
  readonly leaseMs?: number
}): Promise<JobStatus> => {
  const store = SqliteJobStore.open(options.dataDir)
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    const event = commandEvent(options.command)!
    for (;;) {
      const row = store.getJob(options.id)
      if (row === undefined) throw new JobNotFound({ id: options.id })
      const owners = liveOwners(store, "", Date.now(), options.leaseMs ?? 5_000)
      const owned = row.status === "running" && row.owner !== null && owners.has(row.owner)
      if (owned) {
        if (!(await canRunning(row, event))) throw new InvalidTransition({ id: row.id, event: event.type, status: "running" })
        store.updateJob(row.id, { request: options.command }, new Date().toISOString(), "running")
        return await waitForStatus(store, row.id, options.command, deadline)
      }
      const next = applyOffline(row, event)
      const now = new Date().toISOString()
      const written = store.transaction("command", () =>
        store.updateJob(
          row.id,
          {
            status: next.status,
            snapshot: encodeLifecycle(next.snapshot),
            owner: null,
            request: null,
            paused_by: next.status === "paused" ? "user" : null,
            ...(isTerminalStatus(next.status) ? { completed_at: now } : {}),
          },
          now,
          row.status,
        ),
      )
      if (written) return next.status
      // The row moved under us (claimed by a manager, say): look again.
      if (Date.now() > deadline) throw timeout(options.id)
    }
  } finally {
    store.close()
  }
}

const canRunning = async (row: DbJob, event: JobLifecycleEvent) =>
  transitionOffline(decodeLifecycle(row.snapshot, row.id), event, row.id) !== undefined

/** A job with no live owner: a running row of a dead process is first put back in line, as recovery would. */
const applyOffline = (row: DbJob, event: JobLifecycleEvent): { snapshot: PersistedLifecycle; status: JobStatus } => {
  let snapshot = decodeLifecycle(row.snapshot, row.id)
  if (statusOf(snapshot.value) === "running") {
    const requeued = transitionOffline(snapshot, { type: "REQUEUE" }, row.id)
    if (requeued !== undefined) snapshot = requeued.snapshot
  }
  const next = transitionOffline(snapshot, event, row.id)
  if (next === undefined) {
    throw new InvalidTransition({ id: row.id, event: event.type, status: isJobStatus(row.status) ? row.status : "failed" })
  }
  return next
}

const waitForStatus = async (store: SqliteJobStore, id: string, command: RemoteCommand, deadline: number) => {
  for (;;) {
    const row = store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    if (isJobStatus(row.status) && row.request === null && settled(command, row.status)) return row.status
    if (Date.now() > deadline) throw timeout(id)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const timeout = (id: string) =>
  new PersistenceError({ operation: "command", reason: "Write", detail: `job ${id} did not reach the requested state in time` })
