import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import madge from "madge"
import { beforeAll, describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

/**
 * The import graph of src/, read by madge with the options of .madgerc (which `npx madge
 * --circular src` uses too). Three readings of it:
 * - runtime: the imports that load a module when its importer loads (`import type` and a lazy
 *   `import()` load nothing then): these must have no cycle;
 * - loaded: runtime plus lazy `import()`s, what a module may load at all;
 * - every import, types too: what a module depends on, for the layer rules.
 */
const config = JSON.parse(readFileSync(join(root, ".madgerc"), "utf8")) as {
  fileExtensions: string[]
  tsConfig: string
  detectiveOptions: { ts: Record<string, unknown> }
}
const graphOf = (detective: Record<string, unknown>) =>
  madge(join(root, "src"), { ...config, tsConfig: join(root, config.tsConfig), detectiveOptions: { ts: detective } })

type Graph = Awaited<ReturnType<typeof graphOf>>
let runtime: Graph, loaded: Graph, every: Graph

beforeAll(async () => {
  ;[runtime, loaded, every] = await Promise.all([
    graphOf(config.detectiveOptions.ts),
    graphOf({ ...config.detectiveOptions.ts, skipAsyncImports: false }),
    graphOf({ skipTypeImports: false, skipAsyncImports: false }),
  ])
})

/** Each import `from → to` in a graph for which `bad(from, to)` holds, as "from → to". */
const importsWhere = (graph: Graph, bad: (from: string, to: string) => boolean): string[] =>
  Object.entries(graph.obj()).flatMap(([from, tos]) => tos.filter((to) => bad(from, to)).map((to) => `${from} → ${to}`))

const inside = (dir: string) => (file: string) => file.startsWith(`${dir}/`)

describe("the layers of src/", () => {
  it("sees the whole graph: every import that is not a package resolves to a file of src/", () => {
    expect(Object.keys(every.obj()).length).toBeGreaterThan(100)
    for (const graph of [runtime, loaded, every])
      expect(graph.warnings().skipped.filter((s) => s.startsWith(".") || s.startsWith("/"))).toEqual([])
  })

  it("has no import cycle at runtime", () => {
    expect(runtime.circular()).toEqual([])
  })

  it("has no import cycle through a lazy import() either", () => {
    expect(loaded.circular()).toEqual([])
  })

  it("keeps the CLI to itself: nothing outside src/cli imports from it", () => {
    expect(importsWhere(every, (from, to) => !inside("cli")(from) && inside("cli")(to))).toEqual([])
  })

  it("keeps persistence below the engine: nothing in src/persistence imports from src/actors or src/ui", () => {
    expect(
      importsWhere(every, (from, to) => inside("persistence")(from) && (inside("actors")(to) || inside("ui")(to))),
    ).toEqual([])
  })

  it("writes the built-in jobs on the public API: src/builtin imports the engine only through src/index.ts", () => {
    expect(
      importsWhere(every, (from, to) => inside("builtin")(from) && !inside("builtin")(to) && to !== "index.ts"),
    ).toEqual([])
  })

  it("loads none of the CLI, the dashboard, the built-in jobs or the testing tools with `jobstate` (src/index.ts)", () => {
    const tree = loaded.obj()
    const seen = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      for (const to of tree[file] ?? []) visit(to)
    }
    visit("index.ts")
    expect(seen.size).toBeGreaterThan(20)
    expect([...seen].filter((f) => ["cli", "ui", "builtin", "testing"].some((dir) => inside(dir)(f)))).toEqual([])
  })
})
