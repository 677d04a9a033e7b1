/** Resolves with `promise`, or rejects with `onTimeout()` after `ms`. */
export const withDeadline = <A>(promise: Promise<A>, ms: number, onTimeout: () => Error): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
