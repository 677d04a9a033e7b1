import { InvalidTransition, JobNotFound, PersistenceError } from "../jobs/errors.js"
import { isJobStatus, isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { JobLifecycleEvent } from "../machines/jobLifecycleMachine.js"
import { SqliteJobStore, type DbJob } from "../persistence/SqliteJobStore.js"
import { liveOwners } from "./leases.js"
import { canOffline, decodeLifecycle, encodeLifecycle, statusOf, transitionOffline, type PersistedLifecycle } from "./lifecycle.js"

export type RemoteCommand = "pause" | "resume" | "cancel"

export type CommandEvent = Extract<JobLifecycleEvent, { type: "PAUSE" | "RESUME" | "CANCEL" }>

export const commandEvent = (command: string): CommandEvent | undefined =>
  command === "pause" ? { type: "PAUSE", by: "user" } : command === "resume" ? { type: "RESUME" } : command === "cancel" ? { type: "CANCEL" } : undefined

const commandOf = (event: CommandEvent): RemoteCommand =>
  event.type === "PAUSE" ? "pause" : event.type === "RESUME" ? "resume" : "cancel"

const settled = (command: RemoteCommand, status: JobStatus) =>
  command === "cancel" ? isTerminalStatus(status) : command === "pause" ? status !== "running" : status !== "paused"

/**
 * Pauses, resumes or cancels a job from a process that does not run it (the CLI). See
 * `commandThroughStore`.
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
    return await commandThroughStore(store, options.id, commandEvent(options.command)!, {
      self: "",
      timeoutMs: options.timeoutMs,
      leaseMs: options.leaseMs,
    })
  } finally {
    store.close()
  }
}

/**
 * Applies a command to a job this process does not run. A job that a live manager runs gets it
 * through its row (`request`), which that manager applies at its next poll, and the call waits
 * for the resulting status; anything else is changed in the store directly, through the
 * lifecycle machine (a job left running by a dead process is first put back in line, as
 * recovery would). Resolves with the status the job reached.
 */
export const commandThroughStore = async (
  store: SqliteJobStore,
  id: string,
  event: CommandEvent,
  options: { readonly self: string; readonly timeoutMs?: number; readonly leaseMs?: number },
): Promise<JobStatus> => {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    const row = store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    const owners = liveOwners(store, options.self, Date.now(), options.leaseMs ?? 5_000)
    if (row.status === "running" && row.owner !== null && row.owner !== options.self && owners.has(row.owner)) {
      if (!canOffline(decodeLifecycle(row.snapshot, id), event, id)) throw new InvalidTransition({ id, event: event.type, status: "running" })
      store.updateJob(id, { request: commandOf(event) }, new Date().toISOString(), { status: "running", owner: row.owner })
      return await waitForStatus(store, id, commandOf(event), deadline)
    }
    const next = applyOffline(row, event)
    const now = new Date().toISOString()
    const written = store.transaction("command", () =>
      store.updateJob(
        id,
        {
          status: next.status,
          snapshot: encodeLifecycle(next.snapshot),
          owner: null,
          request: null,
          paused_by: next.status === "paused" ? "user" : null,
          ...(isTerminalStatus(next.status) ? { completed_at: now } : {}),
        },
        now,
        { status: row.status, owner: row.owner },
      ),
    )
    if (written) return next.status
    // The row moved under us (claimed by a manager, say): look again.
    if (Date.now() > deadline) throw timeout(id)
  }
}

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
