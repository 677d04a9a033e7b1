import { Packr } from "msgpackr"
import { Cause, Exit, Schema, SchemaIssue } from "effect"
import { SerializationError, type ParamsIssue } from "../jobs/errors.js"
import type { JobSchema } from "../jobs/defineJob.js"

// Plain MessagePack (no msgpackr record extension) so any MessagePack reader can read a row.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

/**
 * MessagePack-encodes a plain value (already in its schema-encoded form). Like JSON text, it
 * has no -0: it stores 0. A value it cannot encode (a symbol, a function) is a
 * `SerializationError` naming `what`, never an untagged error.
 */
export const pack = (value: unknown, what = "a value"): Buffer => {
  try {
    return packr.pack(value)
  } catch (cause) {
    throw new SerializationError({ what, detail: packFailure(cause), cause })
  }
}

// A schema made by a second copy of `effect` (one in the app, one under jobstate) encodes an
// empty struct as that copy's internal symbol: the symptom users meet is "Unknown type: symbol".
const packFailure = (cause: unknown): string => {
  const message = String((cause as Error)?.message ?? cause)
  return /symbol/i.test(message)
    ? `${message}. A symbol cannot be stored; if the schema is fine, node_modules may hold two copies of \`effect\` (jobstate's must be the app's: it is a peer dependency)`
    : message
}

/** Decodes MessagePack bytes; throws `SerializationError` naming `what` on garbage. */
export const unpack = (bytes: Uint8Array, what: string): unknown => {
  try {
    return packr.unpack(bytes)
  } catch (cause) {
    throw new SerializationError({ what, detail: `invalid MessagePack (${(cause as Error).message})`, cause })
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Flattens a schema failure into `{ path, message }` entries, e.g. `sources[0]: Expected string`. */
export const schemaIssues = (cause: Cause.Cause<unknown>): ReadonlyArray<ParamsIssue> => {
  const error = Cause.squash(cause) as { issue?: SchemaIssue.Issue; message?: string }
  if (!error.issue) return [{ path: "(root)", message: String(error.message ?? error) }]
  return formatter(error.issue).issues.map((i) => ({
    path: formatPath((i.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p))),
    message: i.message,
  }))
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  if (path.length === 0) return "(root)"
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else out += out === "" ? String(key) : `.${String(key)}`
  }
  return out
}

const issuesText = (issues: ReadonlyArray<ParamsIssue>) => issues.map((i) => `${i.path}: ${i.message}`).join("; ")

/**
 * The schema's JSON codec, made once per schema: what JSON text carries (a `Schema.Date` as an
 * ISO string). By-name params are read with it, the published JSON Schema describes it, and
 * outputs and progress, stored as JSON, are written and read with it.
 */
const jsonCodecs = new WeakMap<JobSchema<unknown>, JobSchema<unknown>>()
export const jsonCodecOf = (schema: JobSchema<unknown>): JobSchema<unknown> => {
  let codec = jsonCodecs.get(schema)
  if (codec === undefined) jsonCodecs.set(schema, (codec = Schema.toCodecJson(schema)))
  return codec
}

/** A value of `schema` in the form JSON text stores (`JSON.stringify` it); a mismatch is a `SerializationError`. */
export const encodeJsonWith = <T>(schema: JobSchema<T> | undefined, value: T, what: string): unknown =>
  encodeWith(
    schema === undefined ? undefined : (jsonCodecOf(schema as JobSchema<unknown>) as JobSchema<T>),
    value,
    what,
  )

/** A value parsed from stored JSON text, decoded by `schema`'s JSON codec. */
export const decodeJsonWith = <T>(schema: JobSchema<T> | undefined, value: unknown, what: string): T =>
  decodeWith(
    schema === undefined ? undefined : (jsonCodecOf(schema as JobSchema<unknown>) as JobSchema<T>),
    value,
    what,
  )

/** Schema-decodes a stored (encoded) value; a mismatch is a `SerializationError`. */
export const decodeWith = <T>(schema: JobSchema<T> | undefined, value: unknown, what: string): T => {
  if (schema === undefined) return value as T
  const exit = Schema.decodeUnknownExit(schema)(value, { errors: "all" })
  if (Exit.isSuccess(exit)) return exit.value
  throw new SerializationError({ what, detail: issuesText(schemaIssues(exit.cause)) })
}

/** Schema-encodes a value to its plain stored form; a mismatch is a `SerializationError`. */
export const encodeWith = <T>(schema: JobSchema<T> | undefined, value: T, what: string): unknown => {
  if (schema === undefined) return value
  const exit = Schema.encodeUnknownExit(schema)(value, { errors: "all" })
  if (Exit.isSuccess(exit)) return exit.value
  throw new SerializationError({ what, detail: issuesText(schemaIssues(exit.cause)) })
}

/** MessagePack bytes of a schema-typed value. */
export const packWith = <T>(schema: JobSchema<T> | undefined, value: T, what: string): Buffer =>
  pack(encodeWith(schema, value, what), what)

/** A schema-typed value from MessagePack bytes. */
export const unpackWith = <T>(schema: JobSchema<T> | undefined, bytes: Uint8Array, what: string): T =>
  decodeWith(schema, unpack(bytes, what), what)
