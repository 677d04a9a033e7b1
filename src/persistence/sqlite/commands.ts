import type Database from "better-sqlite3"
import type { RowExpectation } from "../JobStore.js"
import { expectGuard, expectValues } from "../jobColumns.js"
import { sqliteRefs } from "./connection.js"

/**
 * What a process that does not run a job leaves on its row: a command for its owner, or new
 * dispatch overrides; each only where the row is as expected. `updated_at` by the store's clock.
 */
export const prepareCommands = (db: Database.Database, now: () => number) => {
  const setOverrides = db.prepare(
    /* sql */ `UPDATE jobs SET options = @options, updated_at = @at WHERE ${expectGuard(sqliteRefs)}`,
  )
  const request = db.prepare(
    /* sql */ `UPDATE jobs SET request = @request, updated_at = @at WHERE ${expectGuard(sqliteRefs)}`,
  )
  // The partial index jobs_request keeps these cheap however many jobs there are.
  const requestsOf = db.prepare(/* sql */ `SELECT id, request FROM jobs WHERE request IS NOT NULL AND owner = ?`)
  const iso = () => new Date(now()).toISOString()
  return {
    requestCommand: (id: string, expect: RowExpectation, command: string): boolean =>
      request.run({ id, request: command, at: iso(), ...expectValues(expect) }).changes > 0,
    setOverrides: (id: string, expect: RowExpectation, options: string | null): boolean =>
      setOverrides.run({ id, options, at: iso(), ...expectValues(expect) }).changes > 0,
    requestsFor: (owner: string) => requestsOf.all(owner) as Array<{ id: string; request: string }>,
  }
}
