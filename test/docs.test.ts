import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { generatedBlocks, withBlock } from "../scripts/generatedDocs.js"

describe("the generated parts of the docs", () => {
  it("are what the code generates now (run `npm run docs` after changing a machine)", () => {
    for (const [name, block] of Object.entries(generatedBlocks)) {
      const text = readFileSync(block.file, "utf8")
      expect(withBlock(text, name, block.text(), block.file), `${block.file}: ${name}`).toBe(text)
    }
  })

  it("notice a drift: the lifecycle diagram shows RETRY, the waiting states, and no paused → failed edge", () => {
    const lifecycle = generatedBlocks.lifecycle!.text()
    expect(lifecycle).toContain("failed --> queued : RETRY")
    expect(lifecycle).toContain("active --> children : WORKER.AWAITING")
    expect(lifecycle).not.toMatch(/paused --> failed/)
    // A block edited by hand (here: an edge added) is told apart from the generated one.
    const file = generatedBlocks.lifecycle!.file
    const text = readFileSync(file, "utf8")
    const edited = text.replace(
      "paused --> cancelled : CANCEL",
      "paused --> cancelled : CANCEL\n    paused --> failed : FAIL",
    )
    expect(withBlock(edited, "lifecycle", lifecycle, file)).not.toBe(edited)
  })
})
