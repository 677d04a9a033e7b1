import { inspect, isDeepStrictEqual } from "node:util"

/** At most this many differences are listed; a rewritten output says enough in a few lines. */
const MAX_LINES = 12

/**
 * The differences between two plain values (schema-encoded outputs, as JSON holds them), one
 * line per differing place: `sums["/tmp/a"]: expected "9f…", got "1c…"`. Empty when equal.
 */
export const diffValues = (expected: unknown, actual: unknown): ReadonlyArray<string> => {
  const lines: string[] = []
  walk(expected, actual, "", lines)
  if (lines.length > MAX_LINES) return [...lines.slice(0, MAX_LINES), `… and ${lines.length - MAX_LINES} more`]
  return lines
}

const walk = (expected: unknown, actual: unknown, path: string, lines: string[]) => {
  if (isDeepStrictEqual(expected, actual)) return
  const at = path === "" ? "(root)" : path
  if (Array.isArray(expected) && Array.isArray(actual)) {
    for (let i = 0; i < Math.min(expected.length, actual.length); i++)
      walk(expected[i], actual[i], `${path}[${i}]`, lines)
    if (expected.length !== actual.length) lines.push(`${at}: expected ${expected.length} items, got ${actual.length}`)
    return
  }
  if (isRecord(expected) && isRecord(actual)) {
    for (const key of [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()) {
      const child = path + keyPath(key, path === "")
      if (!(key in actual)) lines.push(`${child}: expected ${show(expected[key])}, missing`)
      else if (!(key in expected)) lines.push(`${child}: not expected, got ${show(actual[key])}`)
      else walk(expected[key], actual[key], child, lines)
    }
    return
  }
  lines.push(`${at}: expected ${show(expected)}, got ${show(actual)}`)
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && Object.getPrototypeOf(u) === Object.prototype

const keyPath = (key: string, first: boolean) =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? (first ? key : `.${key}`) : `[${JSON.stringify(key)}]`

const show = (value: unknown): string => {
  let text: string
  try {
    text = JSON.stringify(value) ?? inspect(value)
  } catch {
    text = inspect(value, { depth: 2 })
  }
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}
