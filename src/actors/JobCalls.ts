import { mkdirSync } from "node:fs"
import { join } from "node:path"
import type { Clock as EffectClock } from "effect"
import { createActor, type AnyMachineSnapshot, type EventObject, type InspectionEvent } from "xstate"
import type { MachineJobDefinition } from "../jobs/defineMachineJob.js"
import type { ChildSpec, LogLevel } from "../jobs/defineJob.js"
import { JobCallIgnored, JobInterrupted, PersistenceError } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import type { Progress } from "../jobs/Progress.js"
import { encodeJsonWith, packWith } from "../persistence/codec.js"
import {
  INVOKED_CHILD_KEY_PREFIX,
  type DbInboxEntry,
  type EventMeta,
  type JobStore,
  type JobWrite,
} from "../persistence/JobStore.js"
import { isLiveStatus } from "../jobs/JobStatus.js"
import { childOutcome, childRows, type ChildOutcome } from "./children.js"
import type { Clock } from "./clock.js"
import type { EngineOptions, Published } from "./JobEngine.js"
import type { LiveJob } from "./LiveJob.js"
import type { JobHost } from "./runJobWorker.js"
import type { PendingWrite } from "./WriteBatch.js"

/** A write of a job this manager no longer owns was refused. */
export const lostOwnership = (id: string) =>
  new PersistenceError({
    operation: "write",
    reason: "Write",
    detail: `job ${id} is no longer running under this manager (its lease expired and another manager took it over)`,
  })

/** What a running job's calls need of the engine. */
export interface CallsEngine {
  readonly store: JobStore
  readonly registry: JobRegistry
  readonly options: Pick<
    EngineOptions,
    "managerId" | "progressThrottleMs" | "clock" | "now" | "dataDir" | "generateId" | "ownOnly" | "inspect"
  >
  readonly stats: { checkpoints: number; progressWrites: number }
  readonly effectClock: EffectClock.Clock | undefined
  liveJob(id: string): LiveJob | undefined
  /** Queues a write for the next group commit. */
  enqueue(write: PendingWrite): void
  publish(id: string, name: string, event: Published, at: string): void
  eventMeta(name: string): EventMeta | undefined
  iso(): string
  /** Something may have queued a job. */
  wake(queued: true): void
  /** Cancels a job (a child a machine job no longer awaits). */
  cancel(id: string): Promise<unknown>
  onError(error: unknown): void
}

/**
 * The host side of a running job's context: what `ctx.checkpoint`, `ctx.progress`, `ctx.log`,
 * `ctx.spawnChildren`, `ctx.awaitChildren` and `ctx.dataDir` do, as writes queued for the
 * engine's group commit. A call from a run that has ended is ignored, and said once.
 */
export class JobCalls implements JobHost {
  constructor(private readonly engine: CallsEngine) {}

  liveJob(jobId: string) {
    return this.engine.liveJob(jobId)
  }

  /** A call from a run that has ended: ignored, and said once (an async job's un-awaited timer, say). */
  private ignoredCall(job: LiveJob, call: string) {
    if (job.lateCallReported) return
    job.lateCallReported = true
    this.engine.onError(new JobCallIgnored({ id: job.id, name: job.definition.name, call }))
  }

  checkpoint(job: LiveJob, state: unknown, inboxApplied?: number): Promise<void> {
    if (job.finished) {
      this.ignoredCall(job, "checkpoint")
      return Promise.reject(new JobInterrupted({ reason: job.interruptReason ?? "cancel" }))
    }
    let data: Buffer
    try {
      data = packWith(job.definition.state, state, `state of job ${job.id}`)
    } catch (error) {
      return Promise.reject(error)
    }
    job.state = state
    job.stateVersion++
    this.engine.stats.checkpoints++
    const progress = job.takeProgress()
    const write: JobWrite = {
      kind: "checkpoint",
      id: job.id,
      owner: this.engine.options.managerId,
      data,
      snapshot: job.encodedSnapshot(),
      stateVersion: job.stateVersion,
      ...(inboxApplied === undefined ? {} : { inboxApplied }),
      ...(progress === undefined ? {} : { progress }),
      at: this.engine.iso(),
      event: this.engine.eventMeta(job.definition.name),
    }
    const checkpoint = job.stateVersion
    return new Promise((resolve, reject) =>
      this.engine.enqueue({
        write,
        committed: () => {
          this.engine.publish(job.id, job.definition.name, { type: "checkpoint", checkpoint }, write.at)
          job.trace?.checkpoint(checkpoint)
          resolve()
        },
        refused: () => reject(lostOwnership(job.id)),
        failed: reject,
      }),
    )
  }

  progress(job: LiveJob, progress: Progress<unknown>) {
    if (job.finished) return this.ignoredCall(job, "progress")
    if (progress._tag === "Structured" && job.definition.progress !== undefined) {
      encodeJsonWith(job.definition.progress, progress.data, `progress of job ${job.id}`)
    }
    job.latestProgress = progress
    job.progressDirty = true
    this.engine.publish(job.id, job.definition.name, { type: "progress", progress }, this.engine.iso())
    const wait = job.progressWrittenAt + this.engine.options.progressThrottleMs - this.engine.options.now()
    if (wait <= 0) this.writeProgress(job)
    else job.progressTimer ??= this.engine.options.clock.setTimeout(() => this.writeProgress(job), wait)
  }

  private writeProgress(job: LiveJob) {
    job.progressTimer = undefined
    if (job.finished) return
    const progress = job.takeProgress()
    if (progress === undefined) return
    job.progressWrittenAt = this.engine.options.now()
    this.engine.stats.progressWrites++
    // A progress write refused (the job moved on) or lost with a failed commit is superseded anyway.
    this.engine.enqueue({
      write: {
        kind: "progress",
        id: job.id,
        owner: this.engine.options.managerId,
        progress,
        at: this.engine.iso(),
        event: this.engine.eventMeta(job.definition.name),
      },
      failed: () => {},
    })
  }

  log(job: LiveJob, message: string, level: LogLevel) {
    if (job.finished) return this.ignoredCall(job, "log")
    const at = this.engine.iso()
    this.engine.enqueue({
      write: { kind: "log", id: job.id, level, message, at, event: this.engine.eventMeta(job.definition.name) },
      failed: () => {},
    })
    this.engine.publish(job.id, job.definition.name, { type: "log", level, message }, at)
  }

  now(): number {
    return this.engine.options.now()
  }

  /** Stores the children a running job spawns (idempotent by key); their ids in order. */
  async spawnChildren(job: LiveJob, specs: ReadonlyArray<ChildSpec>): Promise<ReadonlyArray<string>> {
    if (job.finished) throw new JobInterrupted({ reason: job.interruptReason ?? "cancel" })
    const rows = childRows(specs, this.engine.registry, {
      generateId: this.engine.options.generateId,
      now: this.now(),
      iso: this.engine.iso(),
      event: (name) => this.engine.eventMeta(name),
    })
    if (rows.length === 0) return []
    const stored = await this.engine.store.insertChildren({ id: job.id, owner: this.engine.options.managerId }, rows)
    if (stored === undefined) throw lostOwnership(job.id)
    // A manager that runs only its own jobs runs their children too.
    for (const id of stored.ids) this.engine.options.ownOnly?.add(id)
    const nameOf = new Map(rows.map((r) => [r.id, r.name]))
    for (const id of stored.inserted)
      this.engine.publish(id, nameOf.get(id)!, { type: "status", status: "queued" }, rows[0]!.createdAt)
    if (stored.inserted.length > 0) this.engine.wake(true)
    return stored.ids
  }

  /**
   * What awaiting these children of a running job finds. While any is live, the job is marked
   * to end its attempt waiting for them (the worker reports `WORKER.AWAITING`).
   */
  async awaitChildren(job: LiveJob, ids: ReadonlyArray<string>): Promise<ChildOutcome> {
    const outcome = childOutcome(
      job.id,
      ids,
      await this.engine.store.listJobs({ parentId: job.id }),
      this.engine.registry,
    )
    if (outcome._tag === "Waiting") job.awaitingChildren = true
    return outcome
  }

  inbox(job: LiveJob, afterSeq: number, limit: number): Promise<ReadonlyArray<DbInboxEntry>> {
    return this.engine.store.inbox(job.id, afterSeq, limit)
  }

  async invokedChild(job: LiveJob, childId: string): Promise<{ key: string | null; outcome: ChildOutcome }> {
    const row = await this.engine.store.getJob(childId)
    if (row === undefined || row.parent_id !== job.id) return { key: null, outcome: { _tag: "Waiting" } }
    return { key: row.child_key, outcome: childOutcome(job.id, [childId], [row], this.engine.registry) }
  }

  async invokedChildren(job: LiveJob): Promise<ReadonlyArray<{ id: string; key: string }>> {
    const children = await this.engine.store.listJobs({ parentId: job.id })
    return children.flatMap((c) =>
      c.child_key?.startsWith(INVOKED_CHILD_KEY_PREFIX) && isLiveStatus(c.status)
        ? [{ id: c.id, key: c.child_key }]
        : [],
    )
  }

  async cancelChild(_job: LiveJob, childId: string): Promise<void> {
    await this.engine.cancel(childId)
  }

  /**
   * Shows a machine job's own machine to the manager's inspector, as an actor of its own (named
   * `<type>:<id>:machine`): registered when its attempt restores or starts it, then each event
   * it takes and the snapshot committed after it.
   */
  machineTransition(job: LiveJob, snapshot: AnyMachineSnapshot, event: EventObject | undefined): void {
    const inspect = this.engine.options.inspect
    if (inspect === undefined) return
    const emit = (e: InspectionEvent) => (typeof inspect === "function" ? inspect(e) : inspect.next?.(e))
    let actorRef = job.machineActor
    if (actorRef === undefined) {
      const machine = (job.definition as MachineJobDefinition).machine.machine
      actorRef = createActor(machine, {
        id: `${job.definition.name}:${job.id}:machine`,
        input: { params: job.params, jobId: job.id },
      })
      job.machineActor = actorRef
      emit({ type: "@xstate.actor", actorRef, rootId: actorRef.sessionId })
    }
    const rootId = actorRef.sessionId
    const taken = event ?? { type: "xstate.restored" }
    if (event !== undefined) emit({ type: "@xstate.event", actorRef, rootId, sourceRef: undefined, event })
    emit({ type: "@xstate.snapshot", actorRef, rootId, event: taken, snapshot })
  }

  get clock(): Clock {
    return this.engine.options.clock
  }

  get effectClock(): EffectClock.Clock | undefined {
    return this.engine.effectClock
  }

  dataDir(job: LiveJob): string {
    const dir = join(this.engine.options.dataDir, "jobs", job.id)
    mkdirSync(dir, { recursive: true })
    return dir
  }
}
