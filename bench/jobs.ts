/** Job types shared by several workloads. */
import { Effect, Schema } from "effect"
import { defineJob } from "jobstate"

export const NoopParams = Schema.Struct({ i: Schema.Number })

/** Does nothing. */
export const Noop = defineJob({ name: "noop", params: NoopParams, run: () => Effect.void })

/**
 * A job of the same name and params as `Noop` that runs until it is paused or cancelled. With
 * concurrency 1 a manager running it claims nothing else: the other jobs stay queued.
 */
export const NoopBlocker = defineJob({
  name: "noop",
  params: NoopParams,
  run: async (ctx) => {
    await new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")), { once: true }),
    )
  },
})
