// A job's path through its lifecycle, as the page shows it live. No imports: the tests load it.

/**
 * The statuses a job went through, oldest first: the history the server read from the store
 * (its dispatch, starts, transition lines and end, each with its time) and the status events
 * heard since, merged by time. A transition's event and its stored line carry the same `at`, so
 * a step heard and then read back is one; consecutive steps of one status are one too (a
 * restart's event and its "resumed from checkpoint" line, a moment apart).
 */
export const timelineOf = (history, heard) => {
  const seen = new Set()
  const steps = [...history, ...heard].filter((s) => {
    const key = `${s.at}|${s.status}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  // Stable: among equal times, the stored order (commit order) stays.
  steps.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
  return steps.filter((s, i) => i === 0 || steps[i - 1].status !== s.status)
}
