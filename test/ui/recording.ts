/**
 * Whether a recording (the inspector's events as JSON lines, as `jobstate inspect --out` writes
 * them) holds an event of this type sent to an actor. Not a search of the text: every line that
 * registers a job's actor carries its machine's definition, which names every event it takes.
 */
export const recordsEvent = (lines: ReadonlyArray<string>, type: string): boolean =>
  lines.some((line) => {
    const event = JSON.parse(line) as { type?: string; event?: { type?: string } }
    return event.type === "@xstate.event" && event.event?.type === type
  })
