import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, SerializationError } from "../../src/index.js"
import { pack } from "../../src/persistence/codec.js"
import { openManager } from "../fixtures/openManager.js"

describe("the codec", () => {
  it("turns a value MessagePack cannot encode into a SerializationError naming it", () => {
    const error = (() => {
      try {
        pack({ key: Symbol("x") }, "params of job demo")
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as SerializationError).message).toContain("Cannot serialize params of job demo")
    expect((error as SerializationError).message).toContain("two copies of `effect`")
  })

  it("makes dispatch reject with a SerializationError, not an untagged error, when params cannot be stored", async () => {
    const Anything = defineJob({ name: "anything", params: Schema.Any, run: () => Effect.void })
    const manager = await openManager({ jobs: [Anything] })
    const error = await manager.dispatch(Anything, { when: Symbol("now") }).catch((e) => e)
    expect(error).toBeInstanceOf(SerializationError)
    expect(error._tag).toBe("SerializationError")
    expect(await manager.listJobs()).toHaveLength(0)
  })
})
