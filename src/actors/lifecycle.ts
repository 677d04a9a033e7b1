import { createActor, initialTransition } from "xstate"
import {
  jobLifecycleMachine,
  type JobLifecycleEvent,
  type JobLifecycleMachine,
} from "../machines/jobLifecycleMachine.js"
import type { JobStatus } from "../jobs/JobStatus.js"
import { SerializationError, toStoredError, type StoredError } from "../jobs/errors.js"
import type { DbJob } from "../persistence/JobStore.js"
import { decodeLifecycle, lifecycleRow, statusOf, type LifecycleRow, type PersistedLifecycle } from "../persistence/lifecycleRow.js"

export { decodeLifecycle, encodeLifecycle, statusOf, type PersistedLifecycle } from "../persistence/lifecycleRow.js"

// Computed once: every new job's snapshot is this one with its own id.
const queuedTemplate = jobLifecycleMachine.getPersistedSnapshot(
  initialTransition(jobLifecycleMachine, { jobId: "" })[0],
) as PersistedLifecycle

// A delayed job's: the machine's own answer for a job dispatched with a `runAt`.
const waitingTemplate = jobLifecycleMachine.getPersistedSnapshot(
  initialTransition(jobLifecycleMachine, { jobId: "", runAt: 1 })[0],
) as PersistedLifecycle

/** The persisted snapshot of a just-dispatched job; with `runAt`, one that waits until then. */
export const initialLifecycle = (jobId: string, runAt: number | null = null): PersistedLifecycle =>
  runAt === null
    ? { ...queuedTemplate, context: { ...queuedTemplate.context, jobId } }
    : { ...waitingTemplate, context: { ...waitingTemplate.context, jobId, runAt } }

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

// One inert actor scope for every offline transition: XState's `transition()` builds a new
// actor per call, which dominated recovery. Actions are collected by nobody: offline, the
// only ones are stopping a worker that does not exist and scheduling a grace timer.
const inertScope = (() => {
  type Scope = Parameters<JobLifecycleMachine["transition"]>[2]
  const scope = (createActor(jobLifecycleMachine, { input: { jobId: "" } }) as unknown as { _actorScope: Scope })._actorScope
  ;(scope as { actionExecutor: (action: unknown) => void }).actionExecutor = () => {}
  return scope
})()

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
  const snapshot = jobLifecycleMachine.getPersistedSnapshot(next) as PersistedLifecycle
  return { snapshot, status: statusOf(snapshot.value) }
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
    const from = current.value === "paused" ? (transitionOffline(current, { type: "RESUME" }, row.id)?.snapshot ?? current) : current
    snapshot = transitionOffline(from, { type: "FAIL", error }, row.id)?.snapshot
  } catch {
    snapshot = undefined
  }
  return lifecycleRow(snapshot ?? transitionOffline(initialLifecycle(row.id), { type: "FAIL", error }, row.id)!.snapshot)
}

// ---------------------------------------------------------------- the claim's fast path

const TEMPLATE_ID = "template"

/** What START leads to, as the machine itself computes it for a template job. */
const startTemplate = transitionOffline(initialLifecycle(TEMPLATE_ID), { type: "START" }, TEMPLATE_ID)!.snapshot as PersistedLifecycle & {
  readonly children: { readonly worker: { readonly snapshot: { readonly input: unknown } } }
}

const fillTemplate = (queued: PersistedLifecycle, jobId: string): PersistedLifecycle => {
  const attempt = queued.context.attempt + 1
  const worker = startTemplate.children.worker
  return {
    ...startTemplate,
    context: { ...queued.context, attempt, runAt: null },
    children: { worker: { ...worker, snapshot: { ...worker.snapshot, input: { jobId, attempt } } } },
  } as unknown as PersistedLifecycle
}

const contextKeys = Object.keys(queuedTemplate.context).length

const isPlainQueued = (queued: PersistedLifecycle) =>
  typeof queued.value === "object" &&
  queued.value !== null &&
  ((queued.value as { queued?: unknown }).queued === "ready" || (queued.value as { queued?: unknown }).queued === "waiting") &&
  queued.context.pausedBy === null &&
  queued.context.error === null &&
  Object.keys(queued.context).length === contextKeys &&
  Object.keys((queued as { children?: object }).children ?? {}).length === 0

// The template is trusted only if it gives what the machine gives, checked once here.
const templateAgrees = [initialLifecycle("sample"), initialLifecycle("sample", 5)].every((queued) => {
  const lastError = { _tag: "Sample", message: "sample" }
  const sample = { ...queued, context: { ...queued.context, attempt: 2, failures: 1, lastError } } as PersistedLifecycle
  const byMachine = transitionOffline(sample, { type: "START" }, "sample")?.snapshot
  return JSON.stringify(byMachine) === JSON.stringify(fillTemplate(sample, "sample"))
})

/**
 * The running snapshot START leads to from a plain queued snapshot, made from the machine's
 * own answer for a template job (a claim is the hottest path, and stepping a live actor
 * through START costs more than the rest of the claim). `undefined`: ask the machine.
 */
export const startedSnapshot = (queued: PersistedLifecycle, jobId: string): PersistedLifecycle | undefined =>
  templateAgrees && isPlainQueued(queued) ? fillTemplate(queued, jobId) : undefined

// ---------------------------------------------------------------- the completion's fast path

/** What WORKER.DONE leads to from a running template job, as the machine computes it. */
const completedTemplate = transitionOffline(startTemplate, { type: "WORKER.DONE" }, TEMPLATE_ID)!.snapshot

const completedAgrees = (() => {
  const running = startedSnapshot(initialLifecycle("sample"), "sample")
  const byMachine = running && transitionOffline(running, { type: "WORKER.DONE" }, "sample")?.snapshot
  return byMachine !== undefined && JSON.stringify(byMachine) === JSON.stringify({ ...completedTemplate, context: running!.context })
})()

/**
 * The persisted snapshot of a live job that has just completed, made from the machine's own
 * answer for a template job (every job ends, and XState's `getPersistedSnapshot` walks the
 * whole snapshot to find actors to persist, of which a completed job has none). `undefined`:
 * ask the actor.
 */
export const completedSnapshot = (snapshot: { readonly value: unknown; readonly context: PersistedLifecycle["context"] }): PersistedLifecycle | undefined =>
  completedAgrees && snapshot.value === "completed" ? ({ ...completedTemplate, context: snapshot.context } as PersistedLifecycle) : undefined
