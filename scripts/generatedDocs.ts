/**
 * The parts of the docs generated from the code, between markers:
 *   <!-- generated:NAME (npm run docs) -->
 *   …
 *   <!-- /generated:NAME -->
 * `npm run docs` writes them; test/docs.test.ts fails when one has drifted from the code.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { machineGraph } from "../src/machines/machineGraph.js"
import { toMermaid } from "../src/cli/renderMachine.js"
import { jobLifecycleMachine } from "../src/machines/jobLifecycleMachine.js"

/** Each generated block: the file it is in, and its text. */
export const generatedBlocks: Record<string, { readonly file: string; readonly text: () => string }> = {
  lifecycle: {
    file: "docs/stores.md",
    text: () => ["```mermaid", toMermaid([machineGraph(jobLifecycleMachine)]).trimEnd(), "```"].join("\n"),
  },
}

const markers = (name: string) => [`<!-- generated:${name} (npm run docs) -->`, `<!-- /generated:${name} -->`] as const

/** `text` with the block `name` replaced by `body`; throws when the markers are missing. */
export const withBlock = (text: string, name: string, body: string, file: string): string => {
  const [open, close] = markers(name)
  const start = text.indexOf(open)
  const end = text.indexOf(close)
  if (start < 0 || end < start) throw new Error(`${file} has no ${open} … ${close} block`)
  return `${text.slice(0, start + open.length)}\n${body}\n${text.slice(end)}`
}

if (process.argv[1]?.endsWith("generatedDocs.ts")) {
  for (const [name, block] of Object.entries(generatedBlocks)) {
    const before = readFileSync(block.file, "utf8")
    const after = withBlock(before, name, block.text(), block.file)
    if (after !== before) writeFileSync(block.file, after)
    console.log(`${block.file}: ${name} ${after === before ? "unchanged" : "written"}`)
  }
}
