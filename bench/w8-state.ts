/**
 * W8 state size: MessagePack (src/persistence/codec.ts `pack`) vs JSON, bytes and codec time,
 * for checkpoint states. States are built to satisfy the built-in jobs' own state schemas
 * (checked by schema-encoding them, as the engine does before packing):
 *  - file_copy (FileCopyState): 3 sources, cursor after 10,000 files, one file in flight, 12 failures;
 *  - indexer (IndexerState): a directory stack of 2,000 paths, the current directory, counters, 20 errors.
 * Plus the shape the brief assumed for file_copy (10,000 finished file indices + an in-flight
 * offset), which is not what FileCopyState stores: reported for comparison only.
 * Times: median per call of `pack`/`unpack` vs `JSON.stringify`/`JSON.parse` of the
 * schema-encoded value (the schema step is the same for both formats and timed separately).
 */
import { childMain, figure, repeat, runChild, sortNumbers, percentile, type Bench, type Figure } from "./lib.js"

interface Sample {
  readonly name: string
  readonly packBytes: number
  readonly jsonBytes: number
  readonly packUs: number
  readonly unpackUs: number
  readonly stringifyUs: number
  readonly parseUs: number
  readonly schemaEncodeUs: number
}

/** Median µs per call of `f`, over 30 samples of `per` calls each. */
const time = (f: () => unknown, per = 50): number => {
  for (let i = 0; i < per * 5; i++) f()
  const samples: number[] = []
  for (let s = 0; s < 30; s++) {
    const t0 = performance.now()
    for (let i = 0; i < per; i++) f()
    samples.push(((performance.now() - t0) * 1000) / per)
  }
  return percentile(sortNumbers(samples), 50)
}

const path = (...parts: (string | number)[]) => `/home/ana/projects/${parts.join("/")}`

const fileCopyState = () => ({
  targets: [path("backup", "photos-2023"), path("backup", "documents"), null],
  cursor: { source: 1, rel: ["invoices", "2024", "invoice-10000.pdf"] },
  inFlight: {
    source: 1,
    rel: ["invoices", "2024", "invoice-10001.pdf"],
    target: path("backup", "documents", "invoices", "2024", "invoice-10001.pdf"),
    partial: path("backup", "documents", "invoices", "2024", ".invoice-10001.pdf.jobstate-partial"),
    offset: 7_340_032,
  },
  copiedCount: 10_000,
  skippedCount: 37,
  bytesDone: 18_734_112_768,
  failedCopies: Array.from({ length: 12 }, (_, i) => ({
    source: path("photos", `IMG_${4000 + i}.HEIC`),
    reason: "EACCES: permission denied",
  })),
  elapsedMs: 412_345,
})

const indexerState = () => ({
  stamp: 1_732_838_400_000,
  phase: "walk" as const,
  stack: Array.from({ length: 2_000 }, (_, i) =>
    path(`repo-${i % 40}`, "src", `module-${Math.floor(i / 40)}`, `dir-${i}`),
  ),
  current: { dir: path("repo-7", "node_modules", "effect", "dist"), after: "Schema.js" },
  contentAfter: null,
  found: { files: 184_223, dirs: 21_408, bytes: 9_876_543_210 },
  contentDone: 0,
  errors: Array.from({ length: 20 }, (_, i) => ({
    path: path("private", `secret-${i}`),
    reason: "EACCES: permission denied",
  })),
  errorCount: 20,
  elapsedMs: 95_210,
})

const briefFileCopyState = () => ({
  finished: Array.from({ length: 10_000 }, (_, i) => i),
  inFlight: { index: 10_000, offset: 7_340_032 },
})

const child = async (): Promise<{ samples: Sample[] }> => {
  const { pack, unpack, encodeWith } = await import("../src/persistence/codec.js")
  const { FileCopyState } = await import("../src/builtin/fileCopySchemas.js")
  const { IndexerState } = await import("../src/builtin/indexerSchemas.js")
  const cases: Array<{ name: string; schema: Parameters<typeof encodeWith>[0]; state: unknown }> = [
    { name: "file_copy (FileCopyState)", schema: FileCopyState, state: fileCopyState() },
    { name: "indexer (IndexerState)", schema: IndexerState, state: indexerState() },
    {
      name: "file_copy as the brief assumed (10,000 indices; not the real schema)",
      schema: undefined,
      state: briefFileCopyState(),
    },
  ]
  const samples = cases.map(({ name, schema, state }): Sample => {
    const encoded = encodeWith(schema, state, name) // throws when the state does not satisfy the schema
    const bytes = pack(encoded)
    const text = JSON.stringify(encoded)
    return {
      name,
      packBytes: bytes.length,
      jsonBytes: Buffer.byteLength(text),
      packUs: time(() => pack(encoded)),
      unpackUs: time(() => unpack(bytes, name)),
      stringifyUs: time(() => JSON.stringify(encoded)),
      parseUs: time(() => JSON.parse(text)),
      schemaEncodeUs: time(() => encodeWith(schema, state, name), 10),
    }
  })
  return { samples }
}

childMain(import.meta.url, child)

export default async function w8(b: Bench): Promise<Figure[]> {
  const runs = await repeat(b.runs, () => runChild<{ samples: Sample[] }>("w8-state.ts", {}, { role: "jobstate" }))
  const w = "W8 state size"
  return runs[0]!.samples.flatMap((s, i) => {
    const of = (k: keyof Sample) => runs.map((r) => r.samples[i]![k] as number)
    const saving = 1 - s.packBytes / s.jsonBytes
    const json = { baselineLabel: "JSON" }
    return [
      figure(
        {
          workload: w,
          name: `${s.name}: bytes`,
          unit: "B",
          ...json,
          note: `MessagePack is ${(saving * 100).toFixed(1)}% smaller`,
        },
        of("packBytes"),
        of("jsonBytes"),
        { text: "claim: 50–80% smaller", test: ({ ratio }) => 1 - ratio >= 0.5 },
      ),
      figure({ workload: w, name: `${s.name}: encode`, unit: "µs", ...json }, of("packUs"), of("stringifyUs")),
      figure({ workload: w, name: `${s.name}: decode`, unit: "µs", ...json }, of("unpackUs"), of("parseUs")),
      figure({ workload: w, name: `${s.name}: schema encode (before either)`, unit: "µs" }, of("schemaEncodeUs")),
    ]
  })
}
