import { Exit, Schema } from "effect"
import type { JobDefinition } from "./defineJob.js"
import { DuplicateJobType, InvalidParams, UnknownJobType } from "./errors.js"
import { schemaIssues } from "../persistence/codec.js"

/** The JSON Schemas of one job type, as `getJobSchema` returns them. */
export interface JobTypeSchema {
  readonly name: string
  readonly description: string | undefined
  readonly resumable: boolean
  readonly params: unknown
  readonly output: unknown
  readonly progress: unknown
}

const jsonSchemaOf = (schema: Schema.Top | undefined): unknown => {
  if (schema === undefined) return null
  const doc = Schema.toJsonSchemaDocument(schema)
  return { $schema: "https://json-schema.org/draft/2020-12/schema", ...doc.schema, $defs: doc.definitions }
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
    }
  }

  /** Validates JSON params against the type's schema; returns the decoded params or `InvalidParams`. */
  decodeParams(name: string, json: unknown): { readonly definition: JobDefinition; readonly params: unknown } {
    const definition = this.require(name)
    const exit = Schema.decodeUnknownExit(definition.params)(json, { errors: "all" })
    if (Exit.isFailure(exit)) throw new InvalidParams({ jobName: name, issues: schemaIssues(exit.cause) })
    return { definition, params: exit.value }
  }
}
