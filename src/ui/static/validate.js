// Params checked against a job type's JSON Schema in the page, before the form posts, with the
// paths and wording of the issues `dispatchByName` gives (Effect's), so the form shows the same
// errors before and after a round trip. Only what Effect writes into these schemas is read:
// type, required, properties, additionalProperties, items, enum, minimum/maximum, anyOf.
// The server stays the judge: what this misses, its 422 reports next to the same fields.

const KINDS = {
  string: "string",
  number: "number",
  integer: "number",
  boolean: "boolean",
  array: "array",
  object: "object",
  null: "null",
}

const kindOf = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v)

const at = (path, key) => (typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`)

/**
 * The issues of `value` against `schema`, as `{ path, message }`; none when it is valid.
 * `orUndefined`: the schema is Effect's `optional(…)`, which it writes as a union with `null`
 * (JSON has no undefined): `null` is taken as absent, as `dispatchByName` takes it, and a wrong
 * value is said as "Expected number | undefined".
 */
export const validate = (schema, value, path = "", orUndefined = false) => {
  if (schema === undefined || schema === null || schema === true) return []
  const or = orUndefined ? " | undefined" : ""
  if (Array.isArray(schema.anyOf)) {
    // A union: valid if any variant is; else the first variant's issues (Effect's number union
    // is a number or the strings "Infinity"…, and "Expected number" is the useful message).
    const variants = schema.anyOf.filter((v) => v?.type !== "null")
    const optional = orUndefined || variants.length < schema.anyOf.length
    if (value === null && variants.length < schema.anyOf.length) return []
    const each = variants.map((s) => validate(s, value, path, optional))
    return each.some((issues) => issues.length === 0) ? [] : each[0]
  }
  if (Array.isArray(schema.enum)) {
    return schema.enum.includes(value)
      ? []
      : [{ path, message: `Expected ${schema.enum.map((e) => JSON.stringify(e)).join(" | ")}${or}` }]
  }
  const type = schema.type
  if (type !== undefined && KINDS[type] !== kindOf(value))
    return [{ path, message: `Expected ${type === "integer" ? "number" : type}${or}` }]
  if (type === "integer" && !Number.isInteger(value)) return [{ path, message: "Expected an integer" }]
  if (typeof value === "number") return bounds(schema, value, path)
  if (type === "array") return value.flatMap((item, i) => validate(schema.items, item, at(path, i)))
  if (type === "object") return objectIssues(schema, value, path)
  return []
}

const bounds = (schema, value, path) => {
  if (typeof schema.minimum === "number" && value < schema.minimum)
    return [{ path, message: `Expected a value greater than or equal to ${schema.minimum}` }]
  if (typeof schema.maximum === "number" && value > schema.maximum)
    return [{ path, message: `Expected a value less than or equal to ${schema.maximum}` }]
  return []
}

/** Excess keys first, then each declared key in order (missing or invalid), as Effect reports them. */
const objectIssues = (schema, value, path) => {
  const properties = schema.properties ?? {}
  const required = schema.required ?? []
  const issues = []
  if (schema.additionalProperties === false) {
    for (const k of Object.keys(value))
      if (!(k in properties)) issues.push({ path: at(path, k), message: "Expected no excess property" })
  }
  for (const [k, s] of Object.entries(properties)) {
    if (value[k] === undefined) {
      if (required.includes(k)) issues.push({ path: at(path, k), message: "Missing key" })
    } else issues.push(...validate(s, value[k], at(path, k)))
  }
  return issues
}
