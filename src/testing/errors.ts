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

/**
 * `checkMachineJob` crashed a machine job at a state along a path through its machine, restarted
 * it, and the run that followed did not end as an uninterrupted run of the same path does.
 * `path` names the path by its steps, `crash` says where it crashed, `state` is the machine's
 * state value there.
 */
export class MachineCrashMismatch extends Data.TaggedError("MachineCrashMismatch")<{
  readonly job: string
  /** The path's steps, readable: `PAID {"ref":"tx-1"} → charge done → ship (child job "ship") done`. */
  readonly path: string
  /** The path's events, as the machine takes them (`xstate.done.actor.…` for a step's end). */
  readonly events: ReadonlyArray<unknown>
  /** Where it crashed, e.g. `right after it entered "charging" (state 1, by PAID {"ref":"tx-1"})`. */
  readonly crash: string
  /** The machine's state value where it crashed. */
  readonly state: unknown
  readonly reason: /** Its final output, state, status or children differ (`differences` lists where; not `diff`, which test runners write onto an error with `expected` and `actual`). */
    | "OutcomeDiffers"
    /** After the restart the engine did not follow the path: it went to another state, or ended early. */
    | "PathDiverged"
    /** The crashed and resumed runs together made a different number of side effects (`sideEffects`). */
    | "SideEffectsDiffer"
  readonly expected: unknown
  readonly actual: unknown
  /** One line per differing place, e.g. `output.total: expected 2, got 3`. */
  readonly differences: ReadonlyArray<string>
  readonly detail: string
  /** The runs' directory (removed by then, unless `keep`). */
  readonly dataDir: string
}> {
  override get message() {
    const lines = this.differences.map((l) => `\n  ${l}`).join("")
    return `Job "${this.job}" does not recover from a crash on path ${this.path}: crashed ${this.crash}, ${this.detail}${lines}`
  }
}

/**
 * The failure `checkMachineJob` gives an invoked step or child job on a path that takes its
 * error event (`onError`), when the step or job itself succeeded: as if it had failed for an
 * outside reason. The machine's error event carries it (`event.error`).
 */
export class InjectedFailure extends Data.TaggedError("InjectedFailure")<{
  /** The invoked actor's id (a child job's type for a child job). */
  readonly actor: string
}> {
  override get message() {
    return `checkMachineJob: "${this.actor}" fails here, as the path being checked says`
  }
}
