import { jobStatuses, liveStatuses } from "../jobs/JobStatus.js"

/**
 * The status sets of `jobs/JobStatus.ts` as SQL lists, for queries on both stores. A partial
 * index's predicate (in the migrations, which are history and keep their own text) must read
 * the same as the query that relies on it; `test/persistence/schemaDrift.test.ts` checks that.
 */
const sqlList = (statuses: ReadonlyArray<string>) => statuses.map((s) => `'${s}'`).join(", ")

/** `'queued', 'running', 'paused'` */
export const LIVE = sqlList(liveStatuses)
/** Every status a row may rightly hold: a row with another is damaged. */
export const ANY_STATUS = sqlList(jobStatuses)

/**
 * A row whose status is none of the six, as SQLite's partial index `jobs_damaged` says it (a
 * chain of `<>`: a `NOT IN` list in an index's predicate costs every write a temporary table).
 */
export const NOT_A_STATUS = jobStatuses.map((s) => `status <> '${s}'`).join(" AND ")
