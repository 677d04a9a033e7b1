/**
 * The page's own plain modules (src/ui/static, JavaScript the browser loads as it is), loaded in
 * the tests with the types they are written to. Through a computed URL: TypeScript does not
 * look for declarations of a module it cannot see.
 */
const load = <T>(file: string): Promise<T> =>
  import(new URL(`../../src/ui/static/${file}`, import.meta.url).href) as Promise<T>

export interface Step {
  readonly status: string
  readonly at: string
}
export interface Issue {
  readonly path: string
  readonly message: string
}
export interface ProgressView {
  readonly fraction: number | null
  readonly label: string
  readonly detail: string
}

export const timelineModule = () =>
  load<{ timelineOf: (history: ReadonlyArray<Step>, heard: ReadonlyArray<Step>) => Step[] }>("timeline.js")
export const validateModule = () => load<{ validate: (schema: unknown, value: unknown) => Issue[] }>("validate.js")
export const formatModule = () =>
  load<{
    progressOf: (progress: unknown, running?: boolean) => ProgressView
    durationMs: (text: string) => number | string | undefined
  }>("format.js")

export interface EventVariant {
  readonly type: string
  readonly schema: unknown
  readonly fields: { readonly properties: Record<string, unknown>; readonly required: ReadonlyArray<string> }
}
export const schemaFormModule = () =>
  load<{ eventVariants: (schema: unknown) => EventVariant[] | null }>("schemaForm.js")
export const diagramModule = () =>
  load<{
    statePaths: (value: unknown) => { active: string[]; leaves: string[] }
    takenArrows: (diagram: unknown, path: ReadonlyArray<unknown>) => Set<string>
    stateText: (value: unknown) => string
  }>("diagram.js")
