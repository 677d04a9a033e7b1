import type { NewJob } from "../JobStore.js"
import type { Tables } from "./connection.js"

/** The INSERT of a new queued job; its values are `newJobValues` ($1–$11). */
export const insertJobSql = (t: Tables) => /* sql */ `
  INSERT INTO ${t.jobs} (id, name, params, data, status, snapshot, priority, created_at, updated_at, run_at, unique_key, options, state_schema_version)
  VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $7, $8, $9, $10, $11)`

export const newJobValues = (job: Omit<NewJob, "event">): unknown[] => [
  job.id,
  job.name,
  job.params,
  job.data,
  job.snapshot,
  job.priority,
  job.createdAt,
  job.runAt ?? null,
  job.uniqueKey ?? null,
  job.options ?? null,
  job.stateSchemaVersion ?? 1,
]
