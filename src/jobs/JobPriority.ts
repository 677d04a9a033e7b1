import { InvalidOptions } from "./errors.js"

/** Dispatch priorities: higher runs first, FIFO within one priority. Any integer is allowed. */
export const JobPriority = {
  LOW: -1,
  NORMAL: 0,
  HIGH: 1,
  CRITICAL: 10,
} as const

export type JobPriority = number

/** A job's priority, checked where any job is made (dispatch, spawn, schedule): an integer, default 0; `InvalidOptions` naming `option` otherwise. */
export const checkPriority = (priority: unknown, option = "priority"): number => {
  if (priority === undefined) return 0
  if (typeof priority !== "number" || !Number.isInteger(priority)) {
    throw new InvalidOptions({
      option,
      detail: `expected an integer (JobPriority.LOW -1, NORMAL 0, HIGH 1, CRITICAL 10, or any other), got ${JSON.stringify(priority)}`,
    })
  }
  return priority
}
