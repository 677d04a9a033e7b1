import { createReadStream, openSync } from "node:fs"
import { createInterface } from "node:readline"
import { UsageError } from "./errors.js"

/** One job's params, read from a line of NDJSON: `line` counts from 1, blank lines included. */
export interface ParamsLine {
  readonly line: number
  readonly params: unknown
}

/**
 * Whether `--params-file` gives many jobs' params, one JSON value a line (NDJSON): `-` (stdin),
 * or a file named `.ndjson` or `.jsonl`. Any other file is one JSON document, as it always was
 * (it may span lines: a pretty-printed object is one job's params).
 */
export const isManyParamsFile = (file: string | undefined): file is string =>
  file === "-" || (file !== undefined && /\.(ndjson|jsonl)$/i.test(file))

/** "stdin" or the file, for messages. */
export const paramsSourceOf = (file: string): string => (file === "-" ? "stdin" : file)

/**
 * Every line's params, read to the end before anything is dispatched: a line that is not JSON
 * is a usage error naming its number, so a bad line dispatches nothing. Blank lines (and a
 * trailing newline, a `\r\n` ending) are skipped; line numbers still count them.
 */
export const readParamsLines = async (
  file: string,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<ReadonlyArray<ParamsLine>> => {
  const source = paramsSourceOf(file)
  let input: NodeJS.ReadableStream
  if (file === "-") {
    if ((stdin as { isTTY?: boolean }).isTTY)
      process.stderr.write("Reading params from the terminal, one JSON object a line; end with Ctrl-D\n")
    input = stdin
  } else {
    let fd: number
    try {
      fd = openSync(file, "r")
    } catch (error) {
      throw new UsageError({ detail: `Cannot read the params file: ${(error as Error).message}` })
    }
    input = createReadStream(file, { fd, encoding: "utf8" })
  }
  const found: ParamsLine[] = []
  let line = 0
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++
      if (text.trim() === "") continue
      let params: unknown
      try {
        params = JSON.parse(text)
      } catch (error) {
        throw new UsageError({
          detail: `Line ${line} of ${source} is not valid JSON (${(error as Error).message}); nothing was dispatched. Give one JSON object a line`,
        })
      }
      found.push({ line, params })
    }
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError({ detail: `Cannot read the params from ${source}: ${(error as Error).message}` })
  }
  if (found.length === 0)
    throw new UsageError({
      detail: `No params in ${source}: give one JSON object a line (NDJSON); nothing was dispatched`,
    })
  return found
}

/** Whether `text` reads as NDJSON of more than one value (for the hint when a `.json` file is not one document). */
export const looksLikeNdjson = (text: string): boolean => {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "")
  if (lines.length < 2) return false
  try {
    for (const l of lines) JSON.parse(l)
    return true
  } catch {
    return false
  }
}
