import type { JobStore } from "./JobStore.js"
import { SqliteJobStore } from "./SqliteJobStore.js"

export interface StoreOptions {
  /** Where `jobs.db` lives (SQLite). */
  readonly dataDir: string
  /** `postgres://…` selects PostgreSQL; without it, SQLite at `<dataDir>/jobs.db`. */
  readonly databaseUrl?: string
  /** For commands that only look: nothing is created, migrated or written. */
  readonly readOnly?: boolean
  readonly busyTimeoutMs?: number
}

/** Opens the store the options select. */
export const openStore = async (options: StoreOptions): Promise<JobStore> => {
  // An empty URL (an environment variable set to nothing) is no URL, as in the CLI.
  if (options.databaseUrl !== undefined && options.databaseUrl !== "") {
    const { PostgresJobStore } = await import("./PostgresJobStore.js")
    return PostgresJobStore.open({ ...postgresOptions(options.databaseUrl), readOnly: options.readOnly })
  }
  return SqliteJobStore.open(options.dataDir, { busyTimeoutMs: options.busyTimeoutMs, readOnly: options.readOnly })
}

/**
 * `postgres://…/db?schema=name` keeps the tables in that schema (default `public`), so several
 * apps can share one database; the parameter is jobstate's, not the driver's.
 */
export const postgresOptions = (databaseUrl: string): { readonly databaseUrl: string; readonly schema?: string } => {
  const url = new URL(databaseUrl)
  const schema = url.searchParams.get("schema")
  if (schema === null) return { databaseUrl }
  url.searchParams.delete("schema")
  return { databaseUrl: url.toString(), schema }
}
