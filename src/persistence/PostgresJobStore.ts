import { PersistenceError } from "../jobs/errors.js"
import type { JobStore } from "./JobStore.js"

/** Placeholder until the PostgreSQL store lands. */
export class PostgresJobStore {
  static open(options: { readonly databaseUrl: string }): Promise<JobStore> {
    return Promise.reject(new PersistenceError({ operation: "open", reason: "Open", detail: `PostgreSQL is not available yet (${options.databaseUrl})` }))
  }
}
