import { Context, Effect, Layer } from "effect"
import type { DuplicateJobType, InvalidOptions, PersistenceError } from "../jobs/errors.js"
import { JobManager, type JobManagerOptions } from "./JobManager.js"
import { lift } from "./JobManagerEffect.js"

/** The manager as an Effect service. */
export class JobManagerService extends Context.Service<JobManagerService, JobManager>()("jobstate/JobManager") {}

/** Opens a manager for the layer's scope and closes it (gracefully) when the scope ends. */
export const JobManagerLayer = (
  options: JobManagerOptions,
): Layer.Layer<JobManagerService, PersistenceError | DuplicateJobType | InvalidOptions> =>
  Layer.effect(JobManagerService)(
    Effect.acquireRelease(
      lift<JobManager, PersistenceError | DuplicateJobType | InvalidOptions>(() => JobManager.open(options)),
      (manager) => Effect.promise(() => manager.close()),
    ),
  )
