import type { JobDefinition } from "../jobs/defineJob.js"
import { PersistenceError, SerializationError } from "../jobs/errors.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { checkRetryPolicy, checkTimeout, type RetryPolicy } from "../jobs/retryPolicy.js"
import { decodeState } from "../jobs/stateVersions.js"
import { packWith, unpackWith } from "../persistence/codec.js"
import type { ClaimDecision, ClaimRow } from "../persistence/JobStore.js"
import { lifecycleRow } from "../persistence/lifecycleRow.js"
import {
  decodeLifecycle,
  failedRowLifecycle,
  startedSnapshot,
  statusOf,
  transitionOffline,
  type PersistedLifecycle,
} from "./snapshots.js"

/** What a claim decoded from a row, carried until the claim commits and the job's actor starts. */
export interface Prepared {
  readonly definition: JobDefinition
  readonly params: unknown
  readonly state: unknown
  readonly started: PersistedLifecycle
  readonly retry: RetryPolicy | undefined
  readonly timeoutMs: number | undefined
  /** Epoch ms: a delayed or retried job's `runAt`, for telemetry's queue wait. */
  readonly runAt: number | null
}

/** What the claim decides of one queued row: the store's decision, and what the engine carries of it. */
export type Decided =
  /** Left queued for now: its type is at its own limit, or its state is newer than this code. */
  | { readonly _tag: "Skip"; readonly decision: ClaimDecision }
  /** Started: the running snapshot (and a migrated state); `carry` is what its live job is built from. */
  | { readonly _tag: "Start"; readonly decision: ClaimDecision; readonly carry: Prepared }
  /** Failed: it cannot be read or started (its type is unknown, its data or snapshot undecodable). */
  | { readonly _tag: "Fail"; readonly decision: ClaimDecision }

/**
 * Decides, inside the claim, what a queued row becomes: running, in the snapshot the machine
 * gives for START, failed when it cannot be read, or left queued. Pure: `room` (the slots left
 * per type with a limit of its own) is the caller's, and taken from only when a row starts.
 */
export const decide = (row: ClaimRow, registry: JobRegistry, room: ReadonlyMap<string, number>): Decided => {
  const known = registry.get(row.name)
  // A state of a newer version than this code knows waits for newer code, untouched.
  if (known !== undefined && row.state_schema_version > known.stateVersion)
    return { _tag: "Skip", decision: { skip: true } }
  const left = room.get(row.name)
  if (left !== undefined && left <= 0) return { _tag: "Skip", decision: { skip: true } }
  try {
    const definition = known ?? registry.require(row.name)
    const overrides = overridesOf(row)
    const persisted = decodeLifecycle(row.snapshot, row.id)
    const params = unpackWith(definition.params, row.params, `params of job ${row.id}`)
    const state = decodeState(definition, row.data, row.state_schema_version, row.id)
    // Migrated: stored with the start, so the row and the running job agree on the version.
    const migrated =
      row.state_schema_version < definition.stateVersion
        ? {
            data: packWith(definition.state, state, `state of job ${row.id}`),
            stateSchemaVersion: definition.stateVersion,
          }
        : undefined
    const started = startedSnapshot(persisted) ?? transitionOffline(persisted, { type: "START" }, row.id)?.snapshot
    if (started === undefined || statusOf(started.value) !== "running") {
      throw new Error(`the lifecycle machine does not start it from state ${JSON.stringify(persisted.value)}`)
    }
    const carry: Prepared = {
      definition,
      params,
      state,
      started,
      retry: overrides.retry ?? definition.retry,
      timeoutMs: overrides.timeoutMs ?? definition.timeoutMs,
      runAt: persisted.context.runAt ?? null,
    }
    return {
      _tag: "Start",
      decision: migrated === undefined ? { start: lifecycleRow(started) } : { start: lifecycleRow(started), migrated },
      carry,
    }
  } catch (error) {
    // The store's failure is the commit's, retried as a whole; anything else is the row's.
    if (error instanceof PersistenceError) throw error
    return {
      _tag: "Fail",
      decision: { fail: failedRowLifecycle({ id: row.id, name: row.name, snapshot: row.snapshot }, error) },
    }
  }
}

/**
 * One try of a claim: the rows it decided, in the order the store asked. A commit retried after
 * a store failure starts a new one, so a retry never sees what a failed try decided.
 */
export class ClaimTry {
  readonly started = new Map<string, Prepared>()
  readonly failed: Array<{ readonly id: string; readonly name: string }> = []
  skipped = 0

  constructor(
    private readonly registry: JobRegistry,
    /** Slots left per type with a limit of its own; this try's copy. */
    private readonly room: Map<string, number>,
  ) {}

  /** The store's `decide`. */
  decide(row: ClaimRow): ClaimDecision {
    const decided = decide(row, this.registry, this.room)
    if (decided._tag === "Skip") this.skipped++
    else if (decided._tag === "Fail") this.failed.push({ id: row.id, name: row.name })
    else {
      this.started.set(row.id, decided.carry)
      const left = this.room.get(row.name)
      if (left !== undefined) this.room.set(row.name, left - 1)
    }
    return decided.decision
  }
}

/** The dispatch's overrides of the type's retry policy and timeout, as stored in `options`. */
export interface JobOverrides {
  readonly retry?: RetryPolicy
  readonly timeoutMs?: number
}

const noOverrides: JobOverrides = {}

/** Parsed options by their JSON: a batch of jobs dispatched alike stores the same options. */
const overridesCache = new Map<string, JobOverrides>()

const overridesOf = (row: Pick<ClaimRow, "id" | "options">): JobOverrides => {
  if (row.options === null) return noOverrides
  const cached = overridesCache.get(row.options)
  if (cached !== undefined) return cached
  let overrides: JobOverrides
  try {
    const stored = JSON.parse(row.options) as JobOverrides
    overrides = {
      retry: checkRetryPolicy(stored.retry, "retry"),
      timeoutMs: checkTimeout(stored.timeoutMs, "timeoutMs"),
    }
  } catch (cause) {
    throw new SerializationError({ what: `dispatch options of job ${row.id}`, detail: (cause as Error).message, cause })
  }
  if (overridesCache.size >= 256) overridesCache.clear()
  overridesCache.set(row.options, overrides)
  return overrides
}
