import type Database from "better-sqlite3"
import { statusBody } from "../eventRows.js"
import { columnList, NEW_JOB_COLUMNS, newJobValues } from "../jobColumns.js"
import type { InsertResult, NewChild, NewJob } from "../JobStore.js"
import { LIVE } from "../sqlStatuses.js"
import { sqliteRefs } from "./connection.js"
import type { SqliteEvents } from "./events.js"
import type { SqliteReads } from "./reads.js"

/** New rows: a dispatched job (with its unique key, if any) and a parent's children. */
export const prepareInserts = (
  db: Database.Database,
  deps: { readonly events: SqliteEvents; readonly reads: SqliteReads },
) => {
  const { events, reads } = deps
  const insertSql = `INSERT INTO jobs (${columnList(NEW_JOB_COLUMNS)}) VALUES (${NEW_JOB_COLUMNS.map(sqliteRefs.value).join(", ")})`
  const insert = db.prepare(insertSql)
  // Refused (nothing stored) when a live job holds the key: the partial unique index jobs_unique_key.
  const insertUnique = db.prepare(
    /* sql */ `${insertSql} ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND status IN (${LIVE}) DO NOTHING`,
  )
  // A child's key taken already (a resumed parent spawning again): nothing stored, the old one stays.
  const insertChild = db.prepare(
    /* sql */ `${insertSql} ON CONFLICT (parent_id, child_key) WHERE parent_id IS NOT NULL DO NOTHING`,
  )
  const childByKey = db.prepare(/* sql */ `SELECT id FROM jobs WHERE parent_id = ? AND child_key = ?`).pluck()
  const runningUnder = db.prepare(/* sql */ `SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND owner = ?`)

  /** Stores the row (no unique key, or none taken); in the caller's transaction, if any. */
  const insertRow = (row: ReturnType<typeof newJobValues>): InsertResult => {
    if (row.unique_key === null) {
      insert.run(row)
      return { inserted: true }
    }
    // One transaction: the key's holder cannot end between the refused insert and the read.
    return db
      .transaction((): InsertResult => {
        if (insertUnique.run(row).changes > 0) return { inserted: true }
        const existing = reads.holderOf(row.name as string, row.unique_key as string)!
        return { inserted: false, existing }
      })
      .immediate()
  }

  return {
    /** A job as a schedule's tick stores it: no unique key looked at, in the fire's transaction. */
    insert: (job: Omit<NewJob, "event">): void => void insert.run(newJobValues(job)),

    /** Many jobs in one IMMEDIATE transaction, each as `insertJob` stores it: all or none. */
    insertJobs: (jobs: ReadonlyArray<NewJob>): InsertResult[] =>
      db
        .transaction((): InsertResult[] =>
          jobs.map(({ event, ...job }) => {
            const row = newJobValues(job)
            let result: InsertResult
            if (row.unique_key === null) {
              insert.run(row)
              result = { inserted: true }
            } else if (insertUnique.run(row).changes > 0) result = { inserted: true }
            else result = { inserted: false, existing: reads.holderOf(row.name as string, row.unique_key as string)! }
            if (result.inserted && event !== undefined)
              events.record(job.id, event, "status", statusBody("queued"), job.createdAt)
            return result
          }),
        )
        .immediate(),

    insertJob: (job: NewJob): InsertResult => {
      const { event, ...rest } = job
      const row = newJobValues(rest)
      if (event === undefined) return insertRow(row)
      // Recorded for listeners in other processes: the row and its event in one transaction.
      return db
        .transaction((): InsertResult => {
          const result = insertRow(row)
          if (result.inserted) events.record(job.id, event, "status", statusBody("queued"), job.createdAt)
          return result
        })
        .immediate()
    },

    insertChildren: (
      parent: { readonly id: string; readonly owner: string },
      children: ReadonlyArray<NewChild>,
    ): { readonly ids: ReadonlyArray<string>; readonly inserted: ReadonlyArray<string> } | undefined =>
      db
        .transaction(() => {
          if (runningUnder.get(parent.id, parent.owner) === undefined) return undefined
          const ids: string[] = []
          const inserted: string[] = []
          for (const { event, childKey, ...job } of children) {
            if (insertChild.run(newJobValues(job, { parentId: parent.id, childKey })).changes > 0) {
              inserted.push(job.id)
              if (event !== undefined) events.record(job.id, event, "status", statusBody("queued"), job.createdAt)
            }
            ids.push(childByKey.get(parent.id, childKey) as string)
          }
          return { ids, inserted }
        })
        .immediate(),
  }
}
