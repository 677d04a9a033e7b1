import { InvalidOptions, StateMigrationFailed } from "./errors.js"
import type { JobDefinition } from "./defineJob.js"
import { decodeWith, unpack, unpackWith } from "../persistence/codec.js"

/**
 * How to bring a stored state one version forward: `migrateState[k]` takes the state as
 * version `k` stored it (its schema-encoded form: plain data, as MessagePack gives it back)
 * and returns it as version `k + 1` stores it. The last step's result must decode with the
 * type's current `state` schema.
 */
export type StateMigrations = { readonly [fromVersion: number]: (state: any) => unknown }

/** Checks `stateVersion` and `migrateState` of a job type; throws `InvalidOptions` naming what is wrong. */
export const checkStateVersioning = (
  where: string,
  stateVersion: unknown,
  migrateState: unknown,
): { readonly stateVersion: number; readonly migrateState: StateMigrations | undefined } => {
  const version = stateVersion ?? 1
  if (!(Number.isInteger(version) && (version as number) >= 1)) {
    throw new InvalidOptions({
      option: `${where}.stateVersion`,
      detail: `expected an integer ≥ 1, got ${JSON.stringify(stateVersion)}`,
    })
  }
  if (migrateState === undefined) return { stateVersion: version as number, migrateState: undefined }
  if (typeof migrateState !== "object" || migrateState === null) {
    throw new InvalidOptions({
      option: `${where}.migrateState`,
      detail: "expected an object of functions keyed by the version each migrates from, e.g. { 1: (v1) => v2 }",
    })
  }
  for (const [key, step] of Object.entries(migrateState)) {
    const from = Number(key)
    if (!(Number.isInteger(from) && from >= 1 && from < (version as number))) {
      throw new InvalidOptions({
        option: `${where}.migrateState[${key}]`,
        detail: `a step from version ${key}, but versions run from 1 to stateVersion ${version as number}`,
      })
    }
    if (typeof step !== "function")
      throw new InvalidOptions({ option: `${where}.migrateState[${key}]`, detail: "expected a function" })
  }
  return { stateVersion: version as number, migrateState: migrateState as StateMigrations }
}

/**
 * A stored state, decoded with the type's schema, after migrating it step by step from the
 * version it was written with. A missing or throwing step is a `StateMigrationFailed` naming
 * the step; a result that does not fit the schema, a `SerializationError`. The caller keeps
 * rows newer than the type's version away (they wait for newer code).
 */
export const decodeState = (
  definition: JobDefinition,
  bytes: Uint8Array,
  storedVersion: number,
  id: string,
): unknown => {
  const what = `state of job ${id}`
  if (storedVersion >= definition.stateVersion) return unpackWith(definition.state, bytes, what)
  let value = unpack(bytes, what)
  for (let from = storedVersion; from < definition.stateVersion; from++) {
    const step = definition.migrateState?.[from]
    const fail = (detail: string, cause?: unknown) =>
      new StateMigrationFailed({
        id,
        jobName: definition.name,
        from,
        detail,
        ...(cause === undefined ? {} : { cause }),
      })
    if (step === undefined) throw fail(`defineJob("${definition.name}") has no migrateState[${from}]`)
    try {
      value = step(value)
    } catch (cause) {
      throw fail(`migrateState[${from}] threw: ${(cause as Error)?.message ?? String(cause)}`)
    }
  }
  return decodeWith(
    definition.state,
    value,
    `${what}, migrated from version ${storedVersion} to ${definition.stateVersion}`,
  )
}
