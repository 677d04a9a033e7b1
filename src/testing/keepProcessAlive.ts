/**
 * Holds the process open until `release()`: the engine's timers and the stores' connections do
 * not, so a plain script whose only work is a `runJob` or `checkResumable` would otherwise exit
 * with the promise unsettled.
 */
export const keepProcessAlive = (): (() => void) => {
  const timer = setInterval(() => {}, 1_000)
  return () => clearInterval(timer)
}
