import { InvalidTransition, JobNotFound, PersistenceError, UniqueKeyTaken } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { isJobStatus, isTerminalStatus, type JobStatus } from "../jobs/JobStatus.js"
import type { LogLevel } from "../jobs/defineJob.js"
import {
  commandOf,
  type CommandEvent,
  type JobLifecycleEvent,
  type RemoteCommand,
} from "../machines/jobLifecycleMachine.js"
import type { DbJob, JobStore } from "../persistence/JobStore.js"
import { lifecycleRow, type LifecycleRow } from "../persistence/lifecycleRow.js"
import { canOffline, decodeLifecycle, transitionOffline } from "./snapshots.js"
import { orphanOutcome } from "./orphanRule.js"
import { Owners } from "./owners.js"

const settled = (command: RemoteCommand, status: JobStatus) =>
  command === "cancel"
    ? isTerminalStatus(status)
    : command === "pause" || command === "pause-by-parent"
      ? status !== "running"
      : command === "resume"
        ? status !== "paused"
        : !isTerminalStatus(status)

/** What a command did. */
export interface CommandOutcome {
  /** The status the job reached. */
  readonly status: JobStatus
  /**
   * Set when the job is stalled (its manager is gone) and this process does not know its type:
   * the command waits on the row for the next worker of that type, which applies it when it
   * recovers the job.
   */
  readonly deferred?: string
  /** The job runs under the asking manager (its claim or its end is committing): ask its actor. */
  readonly ownedHere?: boolean
  /**
   * Set when this call wrote the change itself (not when the manager running the job did): the
   * job's type, the time stored with it, and the lifecycle line it wrote (for `manager.events`).
   */
  readonly written?: Written
}

interface Written {
  readonly name: string
  readonly at: string
  readonly log: { readonly level: LogLevel; readonly message: string }
}

/**
 * Applies a command to a job this process does not run. A job that a live manager runs gets it
 * through its row (`request`), which that manager applies when it next looks, and the call waits
 * for the resulting status. A job whose manager is gone is first put through the orphan rule,
 * when this process knows its type; when it does not, a pause or resume is left for the next
 * worker of the type (the job is never re-queued by a process that cannot tell whether it may
 * resume), and a cancel ends it. Anything else is changed in the store directly, through the
 * lifecycle machine.
 */
export const commandThroughStore = async (
  store: JobStore,
  registry: JobRegistry,
  id: string,
  event: CommandEvent,
  options: {
    readonly self: string | null
    readonly at: () => string
    readonly timeoutMs?: number
    /** The asking manager has waited long enough: a job it owns but does not run is an orphan. */
    readonly ownButGone?: boolean
    /** Releases the resources of a job this call cancelled or failed (see `Cleanups`); awaited. */
    readonly cleanup?: (row: DbJob, status: JobStatus) => Promise<void> | undefined
    /** Record the change in `job_events` (some manager listens), written by `self`. */
    readonly recordEvents?: () => boolean
  },
): Promise<CommandOutcome> => {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  const command = commandOf(event)
  for (;;) {
    const row = await store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    let from: LifecycleRow | undefined
    if (row.status === "running") {
      const owners = new Owners(await store.leases(), options.self)
      // Ours: the asking engine's actor takes it, unless the engine says it has no such actor
      // (its end could not be written), when it is an orphan like any other.
      if (row.owner !== null && row.owner === options.self && !options.ownButGone)
        return { status: "running", ownedHere: true }
      if (owners.isLive(row.owner) && !(row.owner === options.self && options.ownButGone)) {
        assertAccepts(row, event)
        if (await store.requestCommand(id, { status: "running", owner: row.owner, attempts: row.attempts }, command)) {
          return { status: await waitForStatus(store, id, command, deadline) }
        }
        continue
      }
      const orphan = orphanOutcome(row, registry.get(row.name))
      if (orphan.kind === "unknownType") {
        if (event.type !== "CANCEL") {
          const stored =
            event.type === "PAUSE" && (await store.requestCommand(id, { status: "running", owner: row.owner }, command))
          if (!stored && event.type === "PAUSE") continue
          return {
            status: "running",
            deferred:
              `Job ${id} is stalled: its manager ${row.owner ?? "(none)"} is gone, and this process does not know "${row.name}" jobs ` +
              `(add --jobs <module that exports it> to handle it here). The next worker of that type resumes it from its last checkpoint` +
              `${event.type === "PAUSE" ? ", then pauses it" : ""}.`,
          }
        }
        // A cancel needs no knowledge of the type: the job ends, nothing runs again.
        from = lifecycleRow(transitionOffline(decodeLifecycle(row.snapshot, id), { type: "REQUEUE" }, id)!.snapshot)
      } else {
        from = orphan.lifecycle
        if (orphan.kind === "fail" || event.type === "RESUME") {
          // Failing it, or putting it back in line, is all there is to do (a resume of a stalled job is its requeue).
          const written = await write(store, row, orphan.lifecycle, options)
          if (written !== undefined) {
            await options.cleanup?.(row, orphan.lifecycle.status)
            if (orphan.kind === "fail") throw new InvalidTransition({ id, event: event.type, status: "failed" })
            return { status: orphan.lifecycle.status, written }
          }
          continue
        }
      }
    }
    const next = applyOffline(row, from, event)
    const what = `${event.type === "PAUSE" && event.by === "parent" ? "paused with its parent" : described[event.type]}${row.status === "running" ? " (its manager had stopped)" : ` while ${row.status}`}`
    const written = await write(store, row, next, options, what)
    if (written !== undefined) {
      await options.cleanup?.(row, next.status)
      return { status: next.status, written }
    }
    if (event.type === "RETRY") await assertKeyFree(store, row)
    // The row moved under us (claimed by a manager, say): look again.
    if (Date.now() > deadline) throw timeout(id)
  }
}

const assertAccepts = (row: DbJob, event: CommandEvent) => {
  if (!canOffline(decodeLifecycle(row.snapshot, row.id), event, row.id)) {
    throw new InvalidTransition({
      id: row.id,
      event: event.type,
      status: isJobStatus(row.status) ? row.status : "failed",
    })
  }
}

/** Writes the transition and its lifecycle line; what it wrote, or `undefined` when the row had moved on. */
const write = async (
  store: JobStore,
  row: DbJob,
  lifecycle: LifecycleRow,
  options: { readonly self: string | null; readonly at: () => string; readonly recordEvents?: () => boolean },
  what?: string,
): Promise<Written | undefined> => {
  const at = options.at()
  const message =
    what ??
    (lifecycle.status === "failed"
      ? `failed: ${lifecycle.errorMessage}`
      : `${lifecycle.status} (its manager had stopped)`)
  const log = { level: lifecycle.status === "failed" ? ("error" as const) : ("info" as const), message }
  // A tool without a manager (the CLI) asks the leases whether anyone listens.
  const record =
    options.recordEvents !== undefined
      ? options.recordEvents()
      : (await store.leases()).some((l) => l.listening && !l.expired)
  const event = record ? { name: row.name, writer: options.self } : undefined
  const { applied } = await store.commit([
    {
      kind: "transition",
      id: row.id,
      expect: { status: row.status, owner: row.owner, attempts: row.attempts },
      lifecycle,
      log,
      at,
      event,
      parentId: row.parent_id,
    },
  ])
  return applied[0] === true ? { name: row.name, at, log } : undefined
}

const described: Record<CommandEvent["type"], string> = {
  PAUSE: "paused by a user",
  RESUME: "resumed by a user",
  CANCEL: "cancelled by a user",
  RETRY: "put back in line by a user",
}

/** A retry refused though the row did not move: another live job holds its unique key. */
const assertKeyFree = async (store: JobStore, row: DbJob) => {
  if (row.unique_key === null) return
  const now = await store.getJob(row.id)
  if (now?.status !== row.status) return
  const holder = await store.uniqueKeyHolder(row.name, row.unique_key)
  if (holder !== undefined && holder !== row.id)
    throw new UniqueKeyTaken({ id: row.id, uniqueKey: row.unique_key, holder })
}

/** The event applied to the row's snapshot, or to `from` (the orphan rule's result) when given. */
const applyOffline = (row: DbJob, from: LifecycleRow | undefined, event: JobLifecycleEvent): LifecycleRow => {
  const snapshot = decodeLifecycle(from?.snapshot ?? row.snapshot, row.id)
  const next = transitionOffline(snapshot, event, row.id)
  if (next === undefined) {
    const status = from?.status ?? (isJobStatus(row.status) ? row.status : "failed")
    throw new InvalidTransition({ id: row.id, event: event.type, status })
  }
  return lifecycleRow(next.snapshot)
}

const waitForStatus = async (store: JobStore, id: string, command: RemoteCommand, deadline: number) => {
  for (;;) {
    const row = await store.getJob(id)
    if (row === undefined) throw new JobNotFound({ id })
    if (isJobStatus(row.status) && row.request === null && settled(command, row.status)) return row.status
    if (Date.now() > deadline) throw timeout(id)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const timeout = (id: string) =>
  new PersistenceError({
    operation: "command",
    reason: "Write",
    detail: `job ${id} did not reach the requested state in time`,
  })
