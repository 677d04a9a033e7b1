// A job's path through its lifecycle, as the page shows it live. No imports: the tests load it.

/**
 * The statuses a job went through, oldest first: the history the server read from the store
 * (its dispatch, starts, transition lines and end, each with its time) and the status events
 * heard since, merged by time. A transition's event and its stored line carry the same `at`, so
 * a step heard and then read back is one; consecutive steps of one status are one too (a
 * restart's event and its "resumed from checkpoint" line, a moment apart).
 *
 * The times come from different processes' clocks, and a claim is stamped when its worker
 * prepared it, before its commit found the row: a start can read a few milliseconds before the
 * dispatch or the resume that queued it. So the times never reorder what is known to be in
 * order: the history's steps stay in the server's order, the events heard in the order they
 * came, and nothing goes before the dispatch. Each step is merged at the latest time of the
 * steps before it in its own sequence (its `at` is kept as it is, for the tooltip).
 */
export const timelineOf = (history, heard) => {
  const dispatched = history[0]?.at ?? ""
  const inOrder = (steps, from) => {
    let latest = from
    return steps.map((s) => {
      if (s.at > latest) latest = s.at
      return { step: s, key: latest }
    })
  }
  const seen = new Set()
  const steps = [...inOrder(history, ""), ...inOrder(heard, dispatched)].filter(({ step: s }) => {
    const key = `${s.at}|${s.status}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  // Stable: among equal times, the stored steps (in commit order) come before the ones heard.
  steps.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return steps.map((s) => s.step).filter((s, i, all) => i === 0 || all[i - 1].status !== s.status)
}
