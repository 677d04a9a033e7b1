import { Exit, Schema, SchemaAST, SchemaRepresentation } from "effect"
import type { JobDefinition, JobSchema } from "./defineJob.js"
import { invokedJobTypes, isMachineJob, type MachineJobDefinition } from "./defineMachineJob.js"
import { DuplicateJobType, InvalidOptions, InvalidParams, UnknownJobType, type ParamsIssue } from "./errors.js"
import { jsonCodecOf, schemaIssues } from "../persistence/codec.js"
import { nearNames } from "../actors/nearNames.js"

/** The JSON Schemas of one job type, as `getJobSchema` returns them. */
export interface JobTypeSchema {
  readonly name: string
  readonly description: string | undefined
  readonly resumable: boolean
  readonly params: unknown
  readonly output: unknown
  readonly progress: unknown
  /** Whether it is a machine job (`defineMachineJob`): its jobs have a machine of their own. */
  readonly machine: boolean
  /** The events `send` takes (a machine job's `events`); null when it takes none. */
  readonly events: unknown
}

/**
 * How params are decoded: every failing path at once, and a key the schema does not declare is
 * an error, at any depth. Stripping it instead would turn a typo (`"confict": "skip"`) into the
 * default it meant to change. One rule for every job type, builtin or not.
 */
export const paramsParseOptions = { errors: "all", onExcessProperty: "error" } as const

/** Typed params schema-encoded for storage, strictly (see `paramsParseOptions`); `InvalidParams` naming what is wrong. */
export const encodeParams = (definition: JobDefinition, params: unknown): unknown => {
  const encoded = Schema.encodeUnknownExit(definition.params)(params, paramsParseOptions)
  if (Exit.isFailure(encoded))
    throw new InvalidParams({ jobName: definition.name, issues: schemaIssues(encoded.cause) })
  return encoded.value
}

/**
 * `Schema.Struct({})` accepts any non-null value whatever the options (Effect keeps that for
 * empty structs), so its excess keys are found here.
 */
const isEmptyStruct = (schema: Schema.Top): boolean => {
  const ast = SchemaAST.toEncoded(schema.ast)
  return SchemaAST.isObjects(ast) && ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0
}

const emptyStructIssues = (json: unknown): ReadonlyArray<ParamsIssue> => {
  if (Array.isArray(json)) return [{ path: "(root)", message: "Expected an object, got an array" }]
  if (typeof json !== "object" || json === null) return []
  return Object.keys(json).map((key) => ({ path: key, message: "Expected no excess property" }))
}

/**
 * Numbers JSON cannot carry: a literal too large for a double (`1e400`) parses to Infinity,
 * which a number schema would take and JSON would store as null. Each is an issue at its path.
 */
const nonFiniteIssues = (json: unknown, path = ""): ParamsIssue[] => {
  if (typeof json === "number")
    return Number.isFinite(json) ? [] : [{ path: path || "(root)", message: `Expected a finite number, got ${json}` }]
  if (typeof json !== "object" || json === null) return []
  return Object.entries(json).flatMap(([key, value]) => nonFiniteIssues(value, path === "" ? key : `${path}.${key}`))
}

/** A value as JSON would carry it (no undefined, Dates as ISO strings), or as it is when JSON cannot. */
const asJson = (value: unknown): unknown => {
  try {
    const text = JSON.stringify(value)
    return text === undefined ? value : JSON.parse(text)
  } catch {
    return value
  }
}

/**
 * What marks the string a `Schema.Date` is in JSON: the annotations of that string's node, as
 * Effect represents it (the node loses the Date it came from; its annotations are Effect's own).
 */
const dateStringAnnotations = (
  Schema.toRepresentation(Schema.toCodecJson(Schema.Date)).representation as { annotations?: { expected?: unknown } }
).annotations
const isDateString = (node: Record<string, unknown>): boolean => {
  if (node._tag !== "String" || dateStringAnnotations === undefined) return false
  const annotations = node.annotations as { expected?: unknown; format?: unknown } | undefined
  return (
    annotations !== undefined &&
    annotations.format === undefined &&
    (annotations === dateStringAnnotations || annotations.expected === dateStringAnnotations.expected)
  )
}

/**
 * The representation with `format: "date-time"` on each string that is a `Schema.Date` (an ISO
 * 8601 string, what its JSON codec reads and writes), so a form or client knows it for a date.
 * Copied where changed: the nodes are Effect's, shared between schemas.
 */
const withDateFormats = (document: SchemaRepresentation.Document): SchemaRepresentation.Document => {
  const done = new Map<object, unknown>()
  const visit = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value
    const seen = done.get(value)
    if (seen !== undefined) return seen
    // Anything but plain data (and a node met again on its own path) is kept as it is.
    done.set(value, value)
    let copy: unknown = value
    if (Array.isArray(value)) {
      const items = value.map(visit)
      if (items.some((item, i) => item !== value[i])) copy = items
    } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
      const node = value as Record<string, unknown>
      if (isDateString(node)) {
        copy = { ...node, annotations: { ...(node.annotations as object), format: "date-time" } }
      } else {
        // Annotations are the schema author's data, not nodes.
        const entries = Object.entries(node).map(([key, v]) => [key, key === "annotations" ? v : visit(v)] as const)
        if (entries.some(([key, v]) => v !== node[key])) copy = Object.fromEntries(entries)
      }
    }
    done.set(value, copy)
    return copy
  }
  return visit(document) as SchemaRepresentation.Document
}

/**
 * The JSON Schema says what decoding accepts: that of the schema's JSON codec (Effect builds it
 * from that codec, as `decodeParams` reads with it); objects are closed (`additionalProperties: false`);
 * a `Schema.Date` is a string of `format: "date-time"`.
 */
const jsonSchemaOf = (schema: Schema.Top | undefined): unknown => {
  if (schema === undefined) return null
  const $schema = "https://json-schema.org/draft/2020-12/schema"
  if (isEmptyStruct(schema)) return { $schema, type: "object", additionalProperties: false }
  // As `Schema.toJsonSchemaDocument` does it (the codec's representation, compiled), with the dates' format between.
  const representation = withDateFormats(Schema.toRepresentation(Schema.toCodecJson(schema)))
  const doc = SchemaRepresentation.toJsonSchemaDocument(representation, {
    onExcessProperty: paramsParseOptions.onExcessProperty,
  })
  return { $schema, ...doc.schema, $defs: doc.definitions }
}

/** The job types a manager knows, by name. */
export class JobRegistry {
  private readonly byName = new Map<string, JobDefinition>()

  /** Throws `DuplicateJobType` when two definitions share a name. */
  constructor(definitions: ReadonlyArray<JobDefinition>) {
    for (const d of definitions) {
      const existing = this.byName.get(d.name)
      if (existing !== undefined && existing !== d) throw new DuplicateJobType({ name: d.name })
      this.byName.set(d.name, d)
    }
    // A machine job dispatches the child jobs it invokes as any parent does: their types must be here.
    for (const d of definitions) {
      if (!isMachineJob(d)) continue
      for (const child of invokedJobTypes(d)) {
        if (!this.byName.has(child.name))
          throw new InvalidOptions({
            option: "jobs",
            detail: `machine job "${d.name}" invokes "${child.name}" (fromJob), which is not among them: register it too`,
          })
      }
    }
  }

  names(): ReadonlyArray<string> {
    return [...this.byName.keys()].sort()
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  get(name: string): JobDefinition | undefined {
    return this.byName.get(name)
  }

  require(name: string): JobDefinition {
    const d = this.byName.get(name)
    if (d === undefined) throw new UnknownJobType({ name, known: this.names() })
    return d
  }

  schema(name: string): JobTypeSchema {
    const d = this.require(name)
    return {
      name: d.name,
      description: d.description,
      resumable: d.resumable,
      params: jsonSchemaOf(d.params),
      output: jsonSchemaOf(d.output),
      progress: jsonSchemaOf(d.progress),
      machine: isMachineJob(d),
      events: isMachineJob(d) ? jsonSchemaOf(d.machine.events) : null,
    }
  }

  /**
   * Validates JSON params against the type's schema (strictly: see `paramsParseOptions`); returns
   * the decoded params or `InvalidParams`. What the schema does not take as it is, its JSON codec
   * may (the one `schema()` publishes): a `Schema.Date` field takes an ISO string, an optional
   * field takes `null` as absent.
   */
  decodeParams(name: string, json: unknown): { readonly definition: JobDefinition; readonly params: unknown } {
    const definition = this.require(name)
    return { definition, params: decodeStrictly(definition.params, json, name) }
  }

  /**
   * Validates an event for a machine job of type `name` against its `events` schema, as params
   * are (strictly, typed or JSON); the decoded event or `InvalidParams` naming what is wrong.
   */
  decodeEvent(name: string, event: unknown): { readonly definition: MachineJobDefinition; readonly event: unknown } {
    const definition = this.require(name)
    if (!isMachineJob(definition))
      throw new InvalidParams({
        jobName: name,
        of: "event",
        issues: [{ path: "", message: `"${name}" is not a machine job (defineMachineJob): it takes no events` }],
      })
    const schema = definition.machine.events
    if (schema === undefined)
      throw new InvalidParams({
        jobName: name,
        of: "event",
        issues: [{ path: "", message: `machine job "${name}" declares no \`events\` schema: it takes no events` }],
      })
    const wrongType = typeIssue(schema, event)
    if (wrongType !== undefined) throw new InvalidParams({ jobName: name, of: "event", issues: [wrongType] })
    return { definition, event: decodeStrictly(schema, event, name, "event") }
  }
}

/** The `type`s an events schema takes (each variant's literal), or undefined when one has none. */
const eventTypes = new WeakMap<object, ReadonlyArray<string> | undefined>()
const eventTypesOf = (schema: JobSchema<unknown>): ReadonlyArray<string> | undefined => {
  if (eventTypes.has(schema)) return eventTypes.get(schema)
  const json = jsonSchemaOf(schema) as { anyOf?: ReadonlyArray<unknown> }
  const variants = (json.anyOf ?? [json]) as ReadonlyArray<{ properties?: { type?: { enum?: unknown[] } } }>
  const literals = variants.map((v) => v.properties?.type?.enum)
  const types = literals.every((l) => l?.length === 1 && typeof l[0] === "string")
    ? literals.map((l) => l![0] as string)
    : undefined
  eventTypes.set(schema, types)
  return types
}

/**
 * An event object whose `type` is none the schema takes, said with the ones it takes (and the
 * one a typo away): Effect's own issue for it is the whole union at the root.
 */
const typeIssue = (schema: JobSchema<unknown>, event: unknown): ParamsIssue | undefined => {
  if (typeof event !== "object" || event === null || Array.isArray(event)) return undefined
  const types = eventTypesOf(schema)
  const given = (event as { type?: unknown }).type
  if (types === undefined || (typeof given === "string" && types.includes(given))) return undefined
  const choices = types.map((t) => JSON.stringify(t)).join(" | ")
  if (given === undefined) return { path: "type", message: `Missing key: one of ${choices}` }
  const near = typeof given === "string" ? nearNames(given, types) : []
  const hint = near.length > 0 ? ` (did you mean ${near.map((t) => JSON.stringify(t)).join(" or ")}?)` : ""
  return { path: "type", message: `Expected ${choices}, got ${JSON.stringify(given)}${hint}` }
}

/**
 * Decodes `json` with `schema` strictly (see `paramsParseOptions`), or throws `InvalidParams`.
 * What the schema does not take as it is, its JSON codec may (the one `schema()` publishes): a
 * `Schema.Date` field takes an ISO string, an optional field takes `null` as absent.
 */
const decodeStrictly = (
  schema: JobSchema<unknown>,
  json: unknown,
  jobName: string,
  of: "params" | "event" = "params",
): unknown => {
  const excess = [...(isEmptyStruct(schema) ? emptyStructIssues(json) : []), ...nonFiniteIssues(json)]
  if (excess.length > 0) throw new InvalidParams({ jobName, issues: excess, ...(of === "event" ? { of } : {}) })
  const exit = Schema.decodeUnknownExit(schema)(json, paramsParseOptions)
  if (Exit.isSuccess(exit)) return exit.value
  // What only the JSON form gives (an ISO string for a Date, null for an absent field), read as
  // JSON carries it (a key set to undefined is no key). Of the two sets of issues the fewer is
  // the truer; on a tie the schema's own read better (the JSON form's name unions of JSON forms,
  // "Infinity" for a number).
  const fromJson = Schema.decodeUnknownExit(jsonCodecOf(schema))(asJson(json), paramsParseOptions)
  if (Exit.isSuccess(fromJson)) return fromJson.value
  const own = schemaIssues(exit.cause)
  const json_ = schemaIssues(fromJson.cause)
  throw new InvalidParams({
    jobName,
    issues: json_.length < own.length ? json_ : own,
    ...(of === "event" ? { of } : {}),
  })
}
