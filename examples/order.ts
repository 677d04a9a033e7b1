import { Schema } from "effect"
import { defineJob, defineMachineJob, fromJob, fromStep, type StepArgs } from "jobstate"
import { assign, setup } from "xstate"

/**
 * A payment provider that takes an idempotency key, as real ones do: charging the same key twice
 * charges once. (A map here; an HTTP call with an `Idempotency-Key` header in an app.)
 */
export const payments = new Map<string, { readonly orderId: string; readonly amount: number }>()
const chargeCard = async (key: string, orderId: string, amount: number, signal: AbortSignal) => {
  signal.throwIfAborted()
  if (!payments.has(key)) payments.set(key, { orderId, amount })
  return `receipt-${key}`
}

/** Shipping is a job of its own: the order invokes it as a child job. */
export const ShipJob = defineJob({
  name: "ship",
  params: Schema.Struct({ orderId: Schema.String }),
  output: Schema.String,
  run: async (ctx) => `track-${ctx.params.orderId}`,
})

const Params = Schema.Struct({ orderId: Schema.String, amount: Schema.Number })

/**
 * An order: waits a day for its payment, charges the card, ships, and says how it ended. Every
 * transition is stored before anything it starts runs; a restart resumes where it stood.
 */
export const OrderJob = defineMachineJob({
  name: "order",
  params: Params,
  events: Schema.Union([
    Schema.Struct({ type: Schema.Literal("PAID"), ref: Schema.String }),
    Schema.Struct({ type: Schema.Literal("CANCEL_ORDER") }),
  ]),
  output: Schema.Struct({ result: Schema.String, tracking: Schema.NullOr(Schema.String) }),
  machine: setup({
    types: {} as {
      input: { params: typeof Params.Type; jobId: string }
      context: { orderId: string; amount: number; ref: string | null; tracking: string | null; result: string }
    },
    actors: {
      // A step: its result is stored with the transition it causes, so a completed charge never
      // runs again; one cut short by a crash runs again, with the same `stepKey`.
      charge: fromStep(async ({ input, signal, stepKey }: StepArgs<{ orderId: string; amount: number }>) =>
        chargeCard(stepKey, input.orderId, input.amount, signal),
      ),
      ship: fromJob(ShipJob),
    },
  }).createMachine({
    id: "order",
    context: ({ input }) => ({ ...input.params, ref: null, tracking: null, result: "" }),
    initial: "awaitingPayment",
    states: {
      awaitingPayment: {
        on: {
          PAID: { target: "charging", actions: assign({ ref: ({ event }) => event.ref }) },
          CANCEL_ORDER: "cancelled",
        },
        // A durable timer: it survives restarts, and fires at once if it fell due while down.
        after: { 86_400_000: "expired" },
      },
      charging: {
        invoke: {
          src: "charge",
          input: ({ context }) => ({ orderId: context.orderId, amount: context.amount }),
          onDone: "shipping",
          onError: "failedCharge",
        },
      },
      shipping: {
        invoke: {
          src: "ship",
          input: ({ context }) => ({ orderId: context.orderId }),
          onDone: { target: "done", actions: assign({ tracking: ({ event }) => event.output }) },
        },
      },
      done: { type: "final", entry: assign({ result: "done" }) },
      expired: { type: "final", entry: assign({ result: "expired" }) },
      cancelled: { type: "final", entry: assign({ result: "cancelled" }) },
      failedCharge: { type: "final", entry: assign({ result: "failedCharge" }) },
    },
    output: ({ context }) => ({ result: context.result, tracking: context.tracking }),
  }),
})
