/**
 * Holds the process open until the returned function is called. A PostgreSQL store's close
 * waits for its LISTEN connection to end, and that socket is unref'd: in a plain script whose
 * only pending work is that close, Node would exit before the run goes on.
 */
export const keepProcessAlive = (): (() => void) => {
  const timer = setInterval(() => {}, 60_000)
  return () => clearInterval(timer)
}
