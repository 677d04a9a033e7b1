import { expectGuard, expectValues } from "../jobColumns.js"
import type { RowExpectation } from "../JobStore.js"
import type { Queryable, Tables } from "./connection.js"
import { perSchema, statement } from "./params.js"

// updated_at by the database's clock, the store's clock here, in the ISO form the engine writes.
const setStatement = (t: Tables, column: "request" | "options") =>
  statement(
    (p) => /* sql */ `
      UPDATE ${t.jobs}
      SET ${column} = ${p.value(column)}, updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      WHERE ${expectGuard(p.refs())}`,
  )
const setStatements = perSchema((t) => ({ request: setStatement(t, "request"), options: setStatement(t, "options") }))

/**
 * Sets one column of a row (a command for its owner, new dispatch overrides) where the row is as
 * expected; whether it was.
 */
export const setWhere = async (
  db: Queryable,
  t: Tables,
  id: string,
  expect: RowExpectation,
  column: "request" | "options",
  value: string | null,
): Promise<boolean> => {
  const { text, params } = setStatements(t)[column]
  const result = await db.query(text, params.bind({ id, [column]: value, ...expectValues(expect) }))
  return (result.rowCount ?? 0) > 0
}

export const requestsFor = async (
  db: Queryable,
  t: Tables,
  owner: string,
): Promise<Array<{ id: string; request: string }>> => {
  // The partial index jobs_request serves it: only rows with a command waiting are in it.
  const { rows } = await db.query<{ id: string; request: string }>({
    name: "jobstate.requestsFor",
    text: /* sql */ `SELECT id, request FROM ${t.jobs} WHERE owner = $1 AND request IS NOT NULL`,
    values: [owner],
  })
  return rows
}
