import { createMachine } from "xstate"
import { describe, expect, it } from "vitest"
import { builtinJobs } from "../../src/cli/jobs.js"
import type { InvalidParams } from "../../src/index.js"
import { JobRegistry } from "../../src/jobs/JobRegistry.js"
import { lifecycleDiagram } from "../../src/ui/lifecycleDiagram.js"
import { allTestJobs } from "../fixtures/jobs.js"
import { OrderJob, ShipJob } from "../fixtures/machineJobs.js"
import { openManager } from "../fixtures/openManager.js"
import { diagramModule, formatModule, schemaFormModule, validateModule } from "./pageModules.js"

describe("the page's params check", () => {
  it("gives the issues dispatchByName gives, path for path and word for word, before anything is posted", async () => {
    const { validate } = await validateModule()
    const manager = await openManager({ jobs: [...allTestJobs, ...builtinJobs], concurrency: 0 })
    const cases: Array<[string, unknown]> = [
      ["count", {}],
      ["count", { n: "three", extra: 1 }],
      ["count", { n: 3, effectsFile: "fx", delayMs: "soon" }],
      ["count", { n: 3, effectsFile: "fx", delayMs: null }],
      ["wait", { stubborn: 1 }],
      ["failing", { mode: "loud" }],
      ["indexer", { location: 3, mode: "Nope", batchSize: 0, extra: 1 }],
      ["indexer", { location: "x", mode: "Deep", batchSize: 1.5 }],
      ["indexer", {}],
      ["file_copy", { sources: [1, "a"], destination: "x", options: { verify: "yes", conflict: "merge" } }],
      ["file_copy", { sources: "a", destination: "x" }],
    ]
    let accepted = 0
    for (const [name, params] of cases) {
      const refused = await manager.dispatchByName(name, params).then(
        () => void accepted++,
        (e: { issues: unknown }) => e.issues,
      )
      expect(validate(manager.getJobSchema(name).params, params), `${name} ${JSON.stringify(params)}`).toEqual(
        refused ?? [],
      )
    }
    // And what dispatchByName takes, the check passes.
    expect(validate(manager.getJobSchema("indexer").params, { location: "/tmp", mode: "Deep", batchSize: 10 })).toEqual(
      [],
    )
    expect(
      validate(manager.getJobSchema("file_copy").params, {
        sources: ["a"],
        destination: "b",
        options: { conflict: "skip" },
      }),
    ).toEqual([])
    // Only what both took was stored (`null` for an optional field is taken as absent).
    expect(accepted).toBe(1)
    expect(await manager.listJobs()).toHaveLength(1)
  })
})

describe("the page's event form", () => {
  it("offers each event type of the schema, with its other fields, and checks an event as manager.send does, word for word", async () => {
    const { validate } = await validateModule()
    const { eventVariants } = await schemaFormModule()
    const registry = new JobRegistry([OrderJob, ShipJob])
    const variants = eventVariants(registry.schema("order").events)!
    expect(variants.map((v) => v.type)).toEqual(["PAID", "CANCEL_ORDER", "NOTE"])
    expect(variants.map((v) => [Object.keys(v.fields.properties), v.fields.required])).toEqual([
      [["ref"], ["ref"]],
      [[], []],
      [["text"], ["text"]],
    ])
    const cases: unknown[] = [
      { type: "PAID" },
      { type: "PAID", ref: 3 },
      { type: "PAID", ref: "r", extra: true },
      { type: "NOTE" },
      { type: "NOTE", text: "hello" },
      { type: "CANCEL_ORDER", ref: "r" },
    ]
    for (const event of cases) {
      let refused: unknown = []
      try {
        registry.decodeEvent("order", event)
      } catch (error) {
        refused = (error as InvalidParams).issues
      }
      const variant = variants.find((v) => v.type === (event as { type: string }).type)!
      expect(validate(variant.schema, event), JSON.stringify(event)).toEqual(refused)
    }
    // A schema whose events have no literal type to choose them by is typed as JSON.
    expect(eventVariants({ type: "object", properties: { kind: { type: "string" } } })).toBeNull()
  })
})

describe("the page's machine diagram", () => {
  it("reads a state value's states, and lights the arrows a path took, a state's own over its ancestor's", async () => {
    const { statePaths, takenArrows, stateText } = await diagramModule()
    expect(statePaths("idle")).toEqual({ active: ["idle"], leaves: ["idle"] })
    expect(statePaths({ review: { legal: "open", tech: "done" } })).toEqual({
      active: ["review", "review.legal", "review.legal.open", "review.tech", "review.tech.done"],
      leaves: ["review.legal.open", "review.tech.done"],
    })
    expect(stateText({ a: "x" })).toBe("a.x")
    const machine = createMachine({
      id: "m",
      initial: "a",
      states: {
        a: {
          initial: "x",
          // Both `a` and `a.x` take GO to b: from a.x, XState takes a.x's.
          on: { GO: "b", IN: ".y" },
          states: { x: { on: { NEXT: "y", GO: "#m.b" } }, y: {} },
        },
        b: { on: { BACK: "a.y" } },
      },
    })
    const diagram = await lifecycleDiagram(machine)
    const arrows = (path: unknown[]) => [...takenArrows(diagram, path)].sort()
    expect(arrows([{ a: "x" }, { a: "y" }])).toEqual(["a.x>a.y"])
    expect(arrows([{ a: "x" }, "b"])).toEqual(["a.x>b"])
    expect(arrows([{ a: "y" }, "b", { a: "y" }])).toEqual(["a>b", "b>a.y"])
    // A value repeated, or a path of one, took no arrow.
    expect(arrows(["b"])).toEqual([])
  })
})

describe("the page's progress labels", () => {
  it("says a built-in job's structured progress in words, not JSON", async () => {
    const { progressOf } = await formatModule()
    const copy = progressOf({
      _tag: "Structured",
      data: {
        filesDone: 12,
        filesTotal: 302,
        bytesDone: 1_572_864,
        bytesTotal: 46_137_344,
        currentFile: "/tmp/sample/a/file-9.dat",
        bytesPerSecond: 3_145_728,
        etaSeconds: 75,
        fraction: 0.034,
      },
    })
    expect(copy).toEqual({
      fraction: 0.034,
      label: "12 / 302 files · 1.5 MB / 44 MB · 3.0 MB/s · 1m 15s left · file-9.dat",
      detail: "/tmp/sample/a/file-9.dat",
    })
    // Paused (or ended), the same stored progress has no rate and no time left.
    const paused = progressOf(
      {
        _tag: "Structured",
        data: { filesDone: 12, filesTotal: 302, bytesPerSecond: 3_145_728, itemsPerSecond: 9, etaSeconds: 75 },
      },
      false,
    )
    expect(paused.label).toBe("12 / 302 files")
    const index = progressOf({
      _tag: "Structured",
      data: {
        phase: "discovery",
        dirsFound: 38,
        filesFound: 1_204,
        bytesFound: 2_048,
        contentDone: 0,
        contentTotal: null,
        currentPath: "/srv/x",
        itemsPerSecond: 410.6,
        fraction: null,
      },
    })
    expect(index.fraction).toBeNull()
    expect(index.label).toBe("discovery · 38 dirs found · 1,204 files found · 2.0 KB found · 411/s · x")
    // A shape it does not know: its numbers and words, by name.
    expect(progressOf({ _tag: "Structured", data: { stage: "upload", parts: 3, nested: { a: 1 } } }).label).toBe(
      "stage upload · parts 3",
    )
    expect(progressOf({ _tag: "Count", done: 1500, total: 3000 })).toMatchObject({
      fraction: 0.5,
      label: "1,500/3,000",
    })
  })
})

describe("the page's durations", () => {
  it("reads ms, s, m, h and d as typed in the dispatch form, and gives anything else back for the server to refuse", async () => {
    const { durationMs } = await formatModule()
    expect(["", " ", "1500", "90s", "1.5m", "2h", "1d", "250 ms"].map(durationMs)).toEqual([
      undefined,
      undefined,
      1500,
      90_000,
      90_000,
      7_200_000,
      86_400_000,
      250,
    ])
    expect(durationMs("soon")).toBe("soon")
    expect(durationMs("-5s")).toBe("-5s")
  })
})
