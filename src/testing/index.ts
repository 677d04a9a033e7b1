/**
 * jobstate/testing: run a job through the real engine in a test, and check that it resumes
 * correctly after a crash. A separate entry point: `jobstate` itself never loads it.
 */

/** Runs a job to its end on a temporary store: output, every progress value, log lines, checkpointed states. */
export { runJob, type RunJobOptions, type JobRun, type JobParams, type RunFiles } from "./runJob.js"
/** Crashes a job right after each checkpoint in turn, resumes it, and requires an uninterrupted run's output. */
export { checkResumable, type CheckResumableOptions, type ResumableReport } from "./checkResumable.js"
/**
 * Runs each path through a machine job's machine (xstate/graph) uninterrupted and with a crash
 * at each state, and requires the same outcome.
 */
export {
  checkMachineJob,
  type CheckMachineJobOptions,
  type ActorEndSample,
  type MachineCheckReport,
  type CheckedPath,
  type UnfollowedPath,
  type MachineOutcome,
} from "./checkMachineJob.js"
/**
 * `ResumeMismatch` (which checkpoint, what differed, a readable diff), `MachineCrashMismatch`
 * (which path, where it crashed, what differed), `JobTimedOut`, and `InjectedFailure` (what a
 * step or child job that a path fails fails with).
 */
export { ResumeMismatch, MachineCrashMismatch, JobTimedOut, InjectedFailure } from "./errors.js"
/** A clock that moves only when the test says: delays, retries, schedules, timeouts and `Effect.sleep` without waiting. */
export { testClock, type TestClock } from "./testClock.js"
