import { createActor, initialTransition, type Snapshot } from "xstate"
import {
  jobLifecycleMachine,
  type JobLifecycleEvent,
  type JobLifecycleMachine,
  type JobLifecycleSnapshot,
} from "../machines/jobLifecycleMachine.js"
import { isJobStatus, type JobStatus } from "../jobs/JobStatus.js"
import { SerializationError } from "../jobs/errors.js"
import { pack, unpack } from "../persistence/codec.js"

/** The persisted form of a lifecycle snapshot, as XState's `getPersistedSnapshot` returns it. */
export type PersistedLifecycle = Snapshot<unknown> & {
  readonly value: unknown
  readonly context: JobLifecycleSnapshot["context"]
}

/** The job status a lifecycle state value stands for: its top-level state. */
export const statusOf = (value: unknown): JobStatus => {
  const top = typeof value === "string" ? value : Object.keys(value as object)[0]
  if (!isJobStatus(top)) throw new SerializationError({ what: "lifecycle snapshot", detail: `unknown state ${JSON.stringify(value)}` })
  return top
}

// Computed once: every new job's snapshot is this one with its own id.
const queuedTemplate = jobLifecycleMachine.getPersistedSnapshot(
  initialTransition(jobLifecycleMachine, { jobId: "" })[0],
) as PersistedLifecycle

/** The persisted snapshot of a just-dispatched job. */
export const initialLifecycle = (jobId: string): PersistedLifecycle => ({
  ...queuedTemplate,
  context: { ...queuedTemplate.context, jobId },
})

export const encodeLifecycle = (snapshot: PersistedLifecycle | Snapshot<unknown>): Buffer => pack(snapshot)

/** Decodes a stored snapshot and checks that the machine still has its state. */
export const decodeLifecycle = (bytes: Uint8Array, jobId: string): PersistedLifecycle => {
  const value = unpack(bytes, `lifecycle snapshot of job ${jobId}`) as Partial<PersistedLifecycle> | null
  if (value === null || typeof value !== "object" || !("value" in value) || typeof value.context !== "object") {
    throw new SerializationError({ what: `lifecycle snapshot of job ${jobId}`, detail: "not a lifecycle snapshot" })
  }
  const snapshot = value as PersistedLifecycle
  statusOf(snapshot.value)
  return snapshot
}

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

/** The snapshot of a job failed from outside its run, when its own snapshot is unusable. */
export const failedLifecycle = (jobId: string, error: { _tag: string; message: string }): PersistedLifecycle => {
  const result = transitionOffline(initialLifecycle(jobId), { type: "FAIL", error }, jobId)
  return result!.snapshot
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
    context: { ...queued.context, attempt },
    children: { worker: { ...worker, snapshot: { ...worker.snapshot, input: { jobId, attempt } } } },
  } as unknown as PersistedLifecycle
}

const isPlainQueued = (queued: PersistedLifecycle) =>
  queued.value === "queued" &&
  queued.context.pausedBy === null &&
  queued.context.error === null &&
  Object.keys(queued.context).length === 4 &&
  Object.keys((queued as { children?: object }).children ?? {}).length === 0

// The template is trusted only if it gives what the machine gives, checked once here.
const templateAgrees = (() => {
  const sample = { ...initialLifecycle("sample"), context: { ...initialLifecycle("sample").context, attempt: 2 } } as PersistedLifecycle
  const byMachine = transitionOffline(sample, { type: "START" }, "sample")?.snapshot
  return JSON.stringify(byMachine) === JSON.stringify(fillTemplate(sample, "sample"))
})()

/**
 * The running snapshot START leads to from a plain queued snapshot, made from the machine's
 * own answer for a template job (a claim is the hottest path, and stepping a live actor
 * through START costs more than the rest of the claim). `undefined`: ask the machine.
 */
export const startedSnapshot = (queued: PersistedLifecycle, jobId: string): PersistedLifecycle | undefined =>
  templateAgrees && isPlainQueued(queued) ? fillTemplate(queued, jobId) : undefined
