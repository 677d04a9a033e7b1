import { Schema } from "effect"
import { createMachine } from "xstate"
import { describe, expect, it } from "vitest"
import { defineMachineJob, InvalidParams } from "../../src/index.js"
import { JobRegistry } from "../../src/jobs/JobRegistry.js"
import { NoopJob } from "../fixtures/jobs.js"
import { OrderJob, ShipJob } from "../fixtures/machineJobs.js"

/** A machine job whose events are one struct, not a union. */
const LampJob = defineMachineJob({
  name: "lamp",
  params: Schema.Struct({}),
  events: Schema.Struct({ type: Schema.Literal("TOGGLE") }),
  machine: createMachine({ initial: "off", states: { off: { on: { TOGGLE: "on" } }, on: { type: "final" } } }),
})

const registry = new JobRegistry([OrderJob, ShipJob, NoopJob, LampJob])

const refusal = (name: string, event: unknown) => {
  try {
    registry.decodeEvent(name, event)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParams)
    return error as InvalidParams
  }
  throw new Error(`expected ${JSON.stringify(event)} to be refused`)
}

describe("a machine job's events schema", () => {
  it("is published with the type's schemas (what the dashboard's form is built from); a plain type has none", () => {
    const order = registry.schema("order")
    expect(order.machine).toBe(true)
    expect(order.events).toMatchObject({
      anyOf: [
        {
          type: "object",
          properties: { type: { enum: ["PAID"] }, ref: { type: "string" } },
          required: ["type", "ref"],
          additionalProperties: false,
        },
        { properties: { type: { enum: ["CANCEL_ORDER"] } } },
        { properties: { type: { enum: ["NOTE"] }, text: { type: "string" } } },
      ],
    })
    expect(registry.schema("lamp")).toMatchObject({
      machine: true,
      events: { type: "object", properties: { type: { enum: ["TOGGLE"] } } },
    })
    expect(registry.schema("ship")).toMatchObject({ machine: false, events: null })
  })

  it("refuses a bad event as an invalid event, naming the field", () => {
    const missing = refusal("order", { type: "PAID" })
    expect(missing.issues).toEqual([{ path: "ref", message: "Missing key" }])
    expect(missing.message).toBe('Invalid event for "order": ref: Missing key')
    expect(refusal("order", { type: "PAID", ref: "r", extra: 1 }).issues).toEqual([
      { path: "extra", message: "Expected no excess property" },
    ])
    expect(refusal("ship", { type: "PAID" }).message).toContain('Invalid event for "ship"')
    // Params are still params.
    expect(() => registry.decodeParams("noop", { tag: 1 })).toThrow(/^Invalid params for "noop"/)
  })

  it("answers a type it does not take with the ones it takes, and the one a typo away", () => {
    expect(refusal("order", { type: "PAYD", ref: "r" }).issues).toEqual([
      { path: "type", message: 'Expected "PAID" | "CANCEL_ORDER" | "NOTE", got "PAYD" (did you mean "PAID"?)' },
    ])
    expect(refusal("order", { type: "REFUND" }).issues).toEqual([
      { path: "type", message: 'Expected "PAID" | "CANCEL_ORDER" | "NOTE", got "REFUND"' },
    ])
    expect(refusal("order", { ref: "r" }).issues).toEqual([
      { path: "type", message: 'Missing key: one of "PAID" | "CANCEL_ORDER" | "NOTE"' },
    ])
    expect(refusal("lamp", { type: "toggle" }).issues).toEqual([
      { path: "type", message: 'Expected "TOGGLE", got "toggle" (did you mean "TOGGLE"?)' },
    ])
    expect(registry.decodeEvent("order", { type: "PAID", ref: "r" }).event).toEqual({ type: "PAID", ref: "r" })
  })
})
