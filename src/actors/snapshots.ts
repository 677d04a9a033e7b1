/**
 * The job lifecycle's snapshots without a live actor: a new job's, a restored one's, and the next
 * one for an event (recovery, commands on jobs at rest, a claim's start), all asked of the machine.
 */
import { initialTransition, type Snapshot } from "xstate"
import { inertScopeOf } from "../machines/inertScope.js"
import { jobLifecycleMachine, type JobLifecycleEvent } from "../machines/jobLifecycleMachine.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import { SerializationError, toStoredError, type StoredError } from "../jobs/errors.js"
import type { DbJob } from "../persistence/JobStore.js"
import {
  decodeLifecycle,
  lifecycleRow,
  statusOf,
  type LifecycleRow,
  type PersistedLifecycle,
} from "../persistence/lifecycleRow.js"

export { decodeLifecycle, encodeLifecycle, statusOf, type PersistedLifecycle } from "../persistence/lifecycleRow.js"

/** The stored part of a machine snapshot. */
const recordOf = (snapshot: {
  readonly value: unknown
  readonly context: PersistedLifecycle["context"]
}): PersistedLifecycle => ({
  value: snapshot.value,
  context: snapshot.context,
})

// Computed once: every new job's snapshot is this one with its own id.
const queuedTemplate = recordOf(initialTransition(jobLifecycleMachine, { jobId: "" })[0])

// A delayed job's: the machine's own answer for a job dispatched with a `runAt`.
const waitingTemplate = recordOf(initialTransition(jobLifecycleMachine, { jobId: "", runAt: 1 })[0])

/** The lifecycle of a just-dispatched job; with `runAt`, one that waits until then. */
export const initialLifecycle = (jobId: string, runAt: number | null = null): PersistedLifecycle =>
  runAt === null
    ? { value: queuedTemplate.value, context: { ...queuedTemplate.context, jobId } }
    : { value: waitingTemplate.value, context: { ...waitingTemplate.context, jobId, runAt } }

/**
 * Restores a snapshot without starting it: no worker runs, nothing is scheduled. Throws
 * `SerializationError` when the machine no longer has the snapshot's state.
 */
export const restoreQuiet = (persisted: PersistedLifecycle, jobId: string) => {
  try {
    return jobLifecycleMachine.resolveState({ value: persisted.value as never, context: persisted.context })
  } catch (cause) {
    throw new SerializationError({
      what: `lifecycle snapshot of job ${jobId}`,
      detail: `the lifecycle machine cannot restore it (${(cause as Error).message})`,
      cause,
    })
  }
}

// One inert actor scope for every offline transition (see machines/inertScope.ts).
const inertScope = inertScopeOf(jobLifecycleMachine)

/**
 * Applies one event to a job that has no live actor (queued, paused, finished, or left running
 * by a dead process), purely: no worker is invoked. Returns the next persisted snapshot, or
 * `undefined` when the machine does not accept the event in that state.
 */
export const transitionOffline = (
  persisted: PersistedLifecycle,
  event: JobLifecycleEvent,
  jobId: string,
): { readonly snapshot: PersistedLifecycle; readonly status: JobStatus } | undefined => {
  const current = restoreQuiet(persisted, jobId)
  if (!current.can(event)) return undefined
  const next = jobLifecycleMachine.transition(current, event, inertScope)
  return { snapshot: recordOf(next), status: statusOf(next.value) }
}

/** Whether the machine accepts `event` in this stored state (no transition is computed). */
export const canOffline = (persisted: PersistedLifecycle, event: JobLifecycleEvent, jobId: string): boolean =>
  restoreQuiet(persisted, jobId).can(event)

/**
 * The lifecycle of a row failed from outside its run (unknown state, undecodable data, not
 * resumable). The error names the job and the cause; the machine makes the failed snapshot from
 * the row's own when it can be read (a paused one by way of `queued`), else from a fresh one.
 */
export const failedRowLifecycle = (row: Pick<DbJob, "id" | "name" | "snapshot">, cause: unknown): LifecycleRow => {
  const reason = toStoredError(cause)
  const error: StoredError = {
    _tag: reason._tag,
    message: `Job ${row.id} (${row.name}): ${reason.message}`,
    ...(reason.details === undefined ? {} : { details: reason.details }),
  }
  let snapshot: PersistedLifecycle | undefined
  try {
    const current = decodeLifecycle(row.snapshot, row.id)
    // A paused job (one a shutdown paused, found unreadable on recovery) is resumed, then failed.
    const from =
      current.value === "paused"
        ? (transitionOffline(current, { type: "RESUME" }, row.id)?.snapshot ?? current)
        : current
    snapshot = transitionOffline(from, { type: "FAIL", error }, row.id)?.snapshot
  } catch {
    snapshot = undefined
  }
  return lifecycleRow(
    snapshot ?? transitionOffline(initialLifecycle(row.id), { type: "FAIL", error }, row.id)!.snapshot,
  )
}

// ---------------------------------------------------------------- the claim's fast path

const TEMPLATE_ID = "template"

/** What START leads to, as the machine itself computes it for a template job. */
const startTemplate = transitionOffline(initialLifecycle(TEMPLATE_ID), { type: "START" }, TEMPLATE_ID)!.snapshot

const fillTemplate = (queued: PersistedLifecycle): PersistedLifecycle => ({
  value: startTemplate.value,
  context: { ...queued.context, attempt: queued.context.attempt + 1, runAt: null },
})

const contextKeys = Object.keys(queuedTemplate.context).length

const isPlainQueued = (queued: PersistedLifecycle) =>
  typeof queued.value === "object" &&
  queued.value !== null &&
  ((queued.value as { queued?: unknown }).queued === "ready" ||
    (queued.value as { queued?: unknown }).queued === "waiting") &&
  queued.context.pausedBy === null &&
  queued.context.error === null &&
  queued.context.awaitingChildren === false &&
  Object.keys(queued.context).length === contextKeys

const sameRecord = (a: PersistedLifecycle | undefined, b: PersistedLifecycle) =>
  a !== undefined && JSON.stringify(a) === JSON.stringify(b)

// The template is trusted only if it gives what the machine gives, checked once here.
const templateAgrees = [initialLifecycle("sample"), initialLifecycle("sample", 5)].every((queued) => {
  const lastError = { _tag: "Sample", message: "sample" }
  const sample = { ...queued, context: { ...queued.context, attempt: 2, failures: 1, lastError } }
  return sameRecord(transitionOffline(sample, { type: "START" }, "sample")?.snapshot, fillTemplate(sample))
})

/**
 * The running snapshot START leads to from a plain queued snapshot, made from the machine's
 * own answer for a template job (a claim is the hottest path). `undefined`: ask the machine.
 */
export const startedSnapshot = (queued: PersistedLifecycle): PersistedLifecycle | undefined =>
  templateAgrees && isPlainQueued(queued) ? fillTemplate(queued) : undefined

// ---------------------------------------------------------------- the completion's fast path

const completedAgrees = (() => {
  const running = startedSnapshot(initialLifecycle("sample"))!
  return sameRecord(transitionOffline(running, { type: "WORKER.DONE" }, "sample")?.snapshot, {
    value: "completed",
    context: running.context,
  })
})()

/**
 * What a worker's report makes of a job running without a live actor: the machine's
 * transition, computed offline. WORKER.DONE from `running.active` (every job's end) is the
 * machine's own answer for a template job: `completed`, the context unchanged.
 */
export const reportedSnapshot = (
  running: PersistedLifecycle,
  event: JobLifecycleEvent,
  jobId: string,
): PersistedLifecycle | undefined =>
  event.type === "WORKER.DONE" && completedAgrees && running.value === startTemplate.value
    ? { value: "completed", context: running.context }
    : transitionOffline(running, event, jobId)?.snapshot

// ---------------------------------------------------------------- a live actor, when one is needed

/** XState's persisted snapshot of a running template job: with the invoked worker, history and tags. */
const liveTemplate = (() => {
  const current = restoreQuiet(initialLifecycle(TEMPLATE_ID), TEMPLATE_ID)
  const next = jobLifecycleMachine.transition(current, { type: "START" }, inertScope)
  return jobLifecycleMachine.getPersistedSnapshot(next) as Snapshot<unknown> & {
    readonly value: unknown
    readonly children: { readonly worker: { readonly snapshot: { readonly input: unknown } } }
  }
})()

/**
 * The snapshot to start a job's actor in, from the record of a job that runs (`running.active`:
 * a job has no actor in any other state). Restored, the actor invokes its worker again with
 * `{ jobId, attempt }`, and the engine's worker attaches to the run in progress.
 */
export const liveSnapshot = (running: PersistedLifecycle, jobId: string): Snapshot<unknown> => {
  const worker = liveTemplate.children.worker
  return {
    ...liveTemplate,
    value: running.value,
    context: running.context,
    children: {
      worker: { ...worker, snapshot: { ...worker.snapshot, input: { jobId, attempt: running.context.attempt } } },
    },
  } as unknown as Snapshot<unknown>
}
