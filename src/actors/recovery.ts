import { decodeState } from "../jobs/stateVersions.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import { isJobStatus } from "../jobs/JobStatus.js"
import { unpackWith } from "../persistence/codec.js"
import type { DbJob, JobStore } from "../persistence/JobStore.js"
import type { LifecycleRow } from "../persistence/lifecycleRow.js"
import { lifecycleRow } from "../persistence/lifecycleRow.js"
import type { JobEngine } from "./JobEngine.js"
import { decodeLifecycle, failedRowLifecycle, transitionOffline } from "./snapshots.js"
import { orphanOutcome } from "./orphanRule.js"
import type { Owners } from "./owners.js"

export interface RecoveryReport {
  /** Jobs put back in line to resume from their last checkpoint. */
  readonly resumed: number
  /** Rows marked failed: not resumable, undecodable, damaged. */
  readonly failed: number
  /** One line per job recovered or failed, for the worker's log. */
  readonly lines: ReadonlyArray<string>
}

/**
 * Recovery on open, and whenever an owner is found dead; only of the types this manager runs
 * (a row of another type waits for a worker of its type). A job left `running` by a dead owner
 * goes through the orphan rule; a job that some manager's `close()` paused is re-queued; a job a
 * user paused stays paused. A row that cannot be understood is failed with a message naming it
 * and the cause; one bad row never stops the others.
 */
export const recoverJobs = async (
  engine: JobEngine,
  store: JobStore,
  registry: JobRegistry,
  types: ReadonlyArray<string>,
  owners: Owners,
  options: { readonly onOpen: boolean },
  chunk = 100,
): Promise<RecoveryReport> => {
  if (types.length === 0) return { resumed: 0, failed: 0, lines: [] }
  const others = owners.liveIds().filter((id) => id !== owners.self)
  const running = await store.orphans(types, others)
  const rows: DbJob[] = running.filter((row) => row.owner === null || row.owner !== owners.self)
  // Rows that say this manager runs them, though it has no actor for them (see lostOwn).
  const lost = new Set(
    options.onOpen
      ? []
      : engine.lostOwn(running.filter((row) => row.owner !== null && row.owner === owners.self)).map((r) => r.id),
  )
  rows.push(...running.filter((row) => lost.has(row.id)))
  // Jobs another manager's close() paused: any live manager may take them on.
  rows.push(...(await store.pausedByShutdown(types)))
  if (options.onOpen) rows.push(...(await store.damaged()))
  let resumed = 0
  let failed = 0
  const lines: string[] = []
  for (let i = 0; i < rows.length && engine.isAccepting; i += chunk) {
    // One group commit per chunk; the first recovered jobs start while later ones are read.
    await Promise.all(
      rows.slice(i, i + chunk).map(async (row) => {
        if (!types.includes(row.name)) return // a damaged row of a type others run: theirs to judge
        const next = recoveryOf(row, registry, owners, lost.has(row.id))
        if (next === undefined) return
        const line = describe(row, next, owners)
        if (!(await engine.recordOffline(row, next, line))) return // another manager recovered it first
        await engine.cleanups.ended(next.status, { row, registry })
        if (next.status === "failed") failed++
        else resumed++
        lines.push(`${row.name} ${row.id}: ${line}`)
      }),
    )
  }
  return { resumed, failed, lines }
}

/** The next lifecycle of a row recovery looks at; `undefined` to leave it alone. */
const recoveryOf = (row: DbJob, registry: JobRegistry, owners: Owners, lostHere: boolean): LifecycleRow | undefined => {
  try {
    if (!isJobStatus(row.status)) throw new Error(`unknown status ${JSON.stringify(row.status)}`)
    const definition = registry.require(row.name)
    unpackWith(definition.params, row.params, `params of job ${row.id}`)
    // A state newer than this code is left for newer code to read; an older one must migrate.
    if (row.state_schema_version <= definition.stateVersion)
      decodeState(definition, row.data, row.state_schema_version, row.id)
    if (row.status === "running") {
      if (owners.isLive(row.owner) && !lostHere) return undefined
      const orphan = orphanOutcome(row, definition)
      return orphan.kind === "unknownType" ? undefined : orphan.lifecycle
    }
    const next = transitionOffline(decodeLifecycle(row.snapshot, row.id), { type: "RESUME" }, row.id)
    if (next === undefined) throw new Error(`its lifecycle snapshot is in no state to resume`)
    return lifecycleRow(next.snapshot)
  } catch (error) {
    return failedRowLifecycle(row, error)
  }
}

const describe = (row: DbJob, next: LifecycleRow, owners: Owners): string => {
  if (next.status === "failed") return `failed on recovery: ${next.errorMessage}`
  const dead = owners.deadOwner(row.owner)
  const why =
    row.status === "paused"
      ? "paused by a manager's shutdown"
      : row.owner !== null && row.owner === owners.self
        ? "this manager ran it, but its claim or its end could not be confirmed"
        : `its manager ${row.owner ?? "(none)"} stopped${dead ? ` (${dead.reason})` : ""}`
  return `recovered (${why}); ${next.status === "queued" ? `queued to resume from checkpoint ${row.state_version}` : next.status}`
}
