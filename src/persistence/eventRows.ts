import type { LogLevel } from "../jobs/defineJob.js"

/*
 * The `body` of a `job_events` row: JSON of the event's own fields. Built as text here, once,
 * so both stores write the same thing; a progress body embeds the row's `progress_data` as is.
 */

export const statusBody = (status: string): string => `{"status":${JSON.stringify(status)}}`

export const progressBody = (progressData: string): string => `{"progress":${progressData}}`

export const logBody = (level: LogLevel, message: string): string => JSON.stringify({ level, message })
