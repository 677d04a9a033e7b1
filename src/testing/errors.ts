import { Data } from "effect"

/**
 * `checkResumable` crashed a job right after one of its checkpoints, resumed it in another
 * manager, and the result was not what an uninterrupted run gives. `checkpoint` says which
 * crash; `expected` and `actual` are what was compared (outputs, or side-effect counts).
 */
export class ResumeMismatch extends Data.TaggedError("ResumeMismatch")<{
  readonly job: string
  /** The crash came the moment this checkpoint (1 = the first) had committed. */
  readonly checkpoint: number
  readonly reason: /** The resumed run's output is not the uninterrupted run's (`diff` lists where). */
    | "OutputDiffers"
    /** The crashed and resumed runs together did a different number of side effects (`sideEffects`). */
    | "SideEffectsDiffer"
    /** The resumed run failed or was cancelled (`cause`). */
    | "ResumeFailed"
    /** The run ended before making this checkpoint, though an uninterrupted run made it. */
    | "CheckpointNotReached"
  readonly expected: unknown
  readonly actual: unknown
  /** For `OutputDiffers`: one line per differing place, e.g. `total: expected 6, got 4`. */
  readonly diff: ReadonlyArray<string>
  readonly detail: string
  /** The runs' directory (removed by then, unless `keep`). */
  readonly dataDir: string
  readonly cause?: unknown
}> {
  override get message() {
    const lines = this.diff.map((l) => `\n  ${l}`).join("")
    return `Job "${this.job}" does not resume correctly after checkpoint ${this.checkpoint}: ${this.detail}${lines}`
  }
}

/** A run of `runJob` or `checkResumable` did not get where it was going within `timeoutMs`. */
export class JobTimedOut extends Data.TaggedError("JobTimedOut")<{
  readonly job: string
  readonly id: string
  readonly timeoutMs: number
  /** What it was waiting for, e.g. "end", "reach checkpoint 3". */
  readonly waitingFor: string
  readonly dataDir: string
}> {
  override get message() {
    return `Job "${this.job}" (${this.id}) did not ${this.waitingFor} within ${this.timeoutMs} ms (options.timeoutMs)`
  }
}
