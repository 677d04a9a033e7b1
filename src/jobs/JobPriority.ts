/** Dispatch priorities: higher runs first, FIFO within one priority. Any integer is allowed. */
export const JobPriority = {
  LOW: -1,
  NORMAL: 0,
  HIGH: 1,
  CRITICAL: 10,
} as const

export type JobPriority = number
