/** Of `candidates`, those a typo away from `name` (for "did you mean …?"): at most one edit per four letters, case aside. */
export const nearNames = (name: string, candidates: ReadonlyArray<string>): string[] =>
  candidates.filter(
    (c) => c !== name && editDistance(name.toLowerCase(), c.toLowerCase()) <= Math.max(1, Math.floor(c.length / 4)),
  )

/** Edits (insert, delete, change, or swap of two neighbours) that turn `a` into `b`. */
const editDistance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}
