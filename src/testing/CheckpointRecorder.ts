import type { JobContext, JobDefinition } from "../jobs/defineJob.js"
import { packWith, unpackWith } from "../persistence/codec.js"

const NONE = Symbol("no state offered")

/**
 * Wraps a job definition to record its checkpointed states as a resumed job reads them back:
 * schema-encoded, MessagePacked and decoded again, by the engine's own codec.
 *
 * The engine says that checkpoint n committed (its `checkpoint` event) but not with what state.
 * The wrapped `checkpoint` keeps the state it is handed, encoded when the call is made (so a job
 * that mutates its state object afterwards cannot change the record), and
 * `committed()`, called on the event, keeps that state. A job waits for each checkpoint before
 * it makes the next, so the event always belongs to the last state offered. A state the codec
 * refuses is not offered: the engine refuses it too, and no event comes.
 */
export class CheckpointRecorder<P, S, O, Pr> {
  /** The job to register and dispatch instead of the original (same name, same schemas). */
  readonly definition: JobDefinition<P, S, O, Pr>
  /** The committed states, in order. */
  readonly states: S[] = []
  private offered: S | typeof NONE = NONE

  constructor(job: JobDefinition<P, S, O, Pr>) {
    this.definition = { ...job, run: (ctx) => job.run(this.recording(ctx)) }
  }

  /** Checkpoint n has committed: keep the state it was made with. */
  committed() {
    if (this.offered !== NONE) this.states.push(this.offered)
    this.offered = NONE
  }

  private recording(ctx: JobContext<P, S, Pr>): JobContext<P, S, Pr> {
    const schema = this.definition.state
    const what = `state of job ${ctx.id}`
    // The state is kept when the call is made, and the engine's own call returned as it is: in an
    // `async` job it takes effect when made, awaited or not (see EagerCalls).
    const checkpoint = (state: S) => {
      try {
        this.offered = unpackWith(schema, packWith(schema, state, what), what)
      } catch {
        this.offered = NONE
      }
      return ctx.checkpoint(state)
    }
    // A proxy rather than a copy: whatever else the context has (or gains later) passes through as it is.
    return new Proxy(ctx, {
      get: (target, key) => (key === "checkpoint" ? checkpoint : Reflect.get(target, key, target)),
    })
  }
}
