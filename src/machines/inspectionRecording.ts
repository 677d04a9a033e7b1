import { Data } from "effect"

/**
 * Recordings of XState inspection events (`jobstate inspect --out`: one event per line) read as
 * a timeline: the CLI's replay page and the dashboard's replay both show these rows.
 */

/** A text that is not a recording: which line of which source, and what a recording is. */
export class InvalidRecording extends Data.TaggedError("InvalidRecording")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/** One line of the timeline: what happened to which actor, and the state it was in after. */
export interface ReplayRow {
  readonly seq: number
  /** Milliseconds since the first recorded event. */
  readonly at: number
  readonly actor: string
  readonly kind: "actor" | "event" | "snapshot"
  readonly event: string
  readonly state: string
  /** The actor's own status after the event: active, done (a final state) or stopped. */
  readonly status: string
}

export interface RecordedEvent {
  readonly type?: string
  readonly name?: string
  readonly sessionId?: string
  readonly parentId?: string
  readonly sourceId?: string
  readonly createdAt?: string | number
  readonly event?: { readonly type?: string }
  readonly snapshot?: {
    readonly value?: unknown
    readonly status?: string
    readonly context?: { readonly jobId?: unknown } | null
  }
}

/** `{ running: "active" }` as `running.active`, the way the lifecycle diagram names it. */
const stateName = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) =>
        v === null || (typeof v === "object" && Object.keys(v as object).length === 0) ? k : `${k}.${stateName(v)}`,
      )
      .join(", ")
  }
  return JSON.stringify(value)
}

/** The inspection events of a recording's text (JSON lines); `source` names it in the error. */
export const parseRecording = (text: string, source: string): ReadonlyArray<RecordedEvent> => {
  return text.split("\n").flatMap((line, i) => {
    if (line.trim() === "") return []
    try {
      return [JSON.parse(line) as RecordedEvent]
    } catch {
      throw new InvalidRecording({
        detail: `${source}:${i + 1} is not an inspection event (JSON lines, as \`jobstate inspect --out\` writes)`,
      })
    }
  })
}

/**
 * The timeline of a recording. An actor is named by its machine (`job`, `worker`, ...) and,
 * for a job's actors, the job id it serves (a worker takes its parent job's), so that the
 * attempts of one job read as one story.
 */
export const replayRows = (events: ReadonlyArray<RecordedEvent>): ReadonlyArray<ReplayRow> => {
  const actors = new Map<string, { name: string; jobId: string | null }>()
  const labelOf = (sessionId: string | undefined) => {
    const actor = sessionId === undefined ? undefined : actors.get(sessionId)
    if (actor === undefined) return sessionId ?? "?"
    // Job actors are named `<type>:<job id>` already; their workers get the job's id added.
    const withJob = actor.jobId !== null && !actor.name.includes(actor.jobId)
    return `${actor.name}${withJob ? ` ${actor.jobId!.slice(0, 8)}` : ""} (${sessionId})`
  }
  const first = Number(events.find((e) => e.createdAt !== undefined)?.createdAt ?? 0)
  return events.map((e, i) => {
    if (e.type === "@xstate.actor" && e.sessionId !== undefined) {
      const own = e.snapshot?.context?.jobId
      const jobId =
        typeof own === "string" ? own : ((e.parentId !== undefined ? actors.get(e.parentId)?.jobId : null) ?? null)
      actors.set(e.sessionId, { name: e.name ?? "actor", jobId })
    }
    const kind = e.type === "@xstate.actor" ? "actor" : e.type === "@xstate.snapshot" ? "snapshot" : "event"
    const event = kind === "actor" ? "(created)" : (e.event?.type ?? "")
    const from = kind === "event" && e.sourceId !== undefined ? ` ← ${labelOf(e.sourceId)}` : ""
    return {
      seq: i + 1,
      at: e.createdAt === undefined ? 0 : Number(e.createdAt) - first,
      actor: labelOf(e.sessionId),
      kind,
      event: event + from,
      state: kind === "event" ? "" : stateName(e.snapshot?.value),
      status: kind === "event" ? "" : (e.snapshot?.status ?? ""),
    }
  })
}
