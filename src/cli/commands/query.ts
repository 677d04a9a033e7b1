import { once } from "node:events"
import { Option, type Command } from "commander"
import { toJobInfo, type JobInfo, type JobLogLine } from "../../actors/JobInfo.js"
import { errorLine, JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { isTerminalStatus, jobStatuses } from "../../jobs/JobStatus.js"
import { Progress } from "../../jobs/Progress.js"
import type { DbJob, JobStore } from "../../persistence/JobStore.js"
import { UsageError } from "../errors.js"
import { integerOption, invocationOf, jobsOf, quote, storeOf, whereOf, workerHint } from "../options.js"
import {
  jobDetails,
  ownersOf,
  readJob,
  resolveJobId,
  shownCases,
  shownStatus,
  waitingNote,
  withStore,
  type JobDetails,
  shownCaseOf,
  type ShownCase,
} from "../readStore.js"
import { describeProgress, elapsedBetween } from "../render.js"

interface ListOptions {
  readonly status?: JobInfo["status"] | ShownCase
  readonly type?: string
  readonly limit?: number
  readonly after?: string
  readonly before?: string
  readonly offset: number
  readonly sort: "newest" | "oldest"
  readonly json?: boolean
}

const json = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

/** `list` shows this many rows unless `-n` says otherwise. */
const LIST_PAGE = 50

/** `list --status waiting` (a case of a status) reads rows of that status this many at a time. */
const LIST_CHUNK = 500

/**
 * `list --json` without `-n` reads and writes this many jobs at a time, so it holds one page
 * whatever the store's size (it read every job, then built one string: 4.3 GB and "Invalid
 * string length" at 1M jobs).
 */
const JSON_PAGE = 1_000

/** `show` lists this many children; `--json` has them all. */
const MAX_CHILDREN_SHOWN = 20

/** "3 (2 completed, 1 running)", and whether the job waits for them; null without children. */
const childSummary = (details: JobDetails): string | null => {
  const total = details.childJobs.length
  if (total === 0) return null
  const counts = Object.entries(details.children ?? {}).map(([status, n]) => `${n} ${status}`)
  return `${total} (${counts.join(", ")})${details.awaitingChildren ? "; waiting for them to end" : ""}`
}

/** A machine job's state and the way it came, "shipping (awaitingPayment → charging → shipping)"; null for another job. */
const machineLine = (details: JobDetails): string | null => {
  if (details.machineState === undefined) return null
  const said = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))
  const path = details.machinePath ?? []
  return `${said(details.machineState)}${path.length > 1 ? ` (${path.map(said).join(" → ")})` : ""}`
}

/**
 * The line for the job's end, from its row: for a completed job (its end writes no line), or one
 * that ended with no line of its own saying so. A cancelled or failed job's own last line
 * ("cancelled after checkpoint 3", "failed: …") says it already, and better: not twice.
 */
const endLine = (
  row: DbJob,
  lastStored: string | undefined,
): ReadonlyArray<Pick<JobLogLine, "at" | "level" | "message">> => {
  if (row.completed_at === null) return []
  const status = toJobInfo(row).status
  if (lastStored !== undefined && new RegExp(`^${status}\\b`).test(lastStored)) return []
  return [{ at: row.completed_at, level: "info", message: status }]
}

const noJobToPageFrom = (option: string, id: string): UsageError =>
  new UsageError({
    detail: `${option} ${id}: no such job to page from (an id, or a unique prefix of 4 characters or more; a pruned job has no place in the list)`,
  })

/** The keyset bound of `--after` / `--before`: the `seq` of the job it names (an id or a unique prefix). */
const cursorOf = async (
  store: JobStore,
  options: Pick<ListOptions, "after" | "before">,
): Promise<{ afterSeq?: number; beforeSeq?: number }> => {
  const option = options.after !== undefined ? "--after" : "--before"
  const id = options.after ?? options.before
  if (id === undefined) return {}
  let row: DbJob | undefined
  try {
    row = await store.getJob(await resolveJobId(store, id))
  } catch (error) {
    if (error instanceof JobNotFound) throw noJobToPageFrom(option, id)
    throw error
  }
  if (row === undefined) throw noJobToPageFrom(option, id)
  return option === "--after" ? { afterSeq: Number(row.seq) } : { beforeSeq: Number(row.seq) }
}

/** Writes to stdout, waiting for it to drain when its buffer is full (a slow reader holds back the reads). */
const writeOut = async (text: string): Promise<void> => {
  if (!process.stdout.write(text)) await once(process.stdout, "drain")
}

/**
 * The jobs of a list in its order, a page at a time, read by keyset (each page from the last row
 * of the one before): what `list --json` writes as it reads. From `--after`'s job on; up to
 * `--before`'s (read from the list's start, as the list has it, to that job); `--offset` skips
 * that many (rows in the store, matches of a case of a status here).
 */
async function* listPages(
  store: JobStore,
  options: ListOptions,
  cursor: { afterSeq?: number; beforeSeq?: number },
  pageSize: number,
): AsyncGenerator<ReadonlyArray<JobInfo>> {
  const owners = await ownersOf(store)
  const shownCase = shownCaseOf(options.status)
  const status = shownCase === undefined ? options.status : shownCases[shownCase]
  const newest = options.sort === "newest"
  const stop = cursor.beforeSeq
  const beyond = (seq: number) => stop !== undefined && (newest ? seq <= stop : seq >= stop)
  let from: { afterSeq?: number } = cursor.afterSeq === undefined ? {} : { afterSeq: cursor.afterSeq }
  let offset = shownCase === undefined ? options.offset : 0
  let skip = shownCase === undefined ? 0 : options.offset
  for (;;) {
    const rows = await store.listJobs({
      ...(status === undefined ? {} : { status }),
      ...(options.type === undefined ? {} : { name: options.type }),
      limit: pageSize,
      ...(offset > 0 ? { offset } : {}),
      order: options.sort,
      ...from,
    })
    offset = 0
    const kept = rows.filter((row) => !beyond(Number(row.seq)))
    let infos = kept.map((row) => toJobInfo(row, owners))
    if (shownCase !== undefined) infos = infos.filter((info) => shownStatus(info) === shownCase)
    if (skip > 0) {
      const skipped = Math.min(skip, infos.length)
      infos = infos.slice(skipped)
      skip -= skipped
    }
    if (infos.length > 0) yield infos
    if (rows.length < pageSize || kept.length < rows.length) return
    from = { afterSeq: Number(rows.at(-1)!.seq) }
  }
}

/**
 * Writes the list as a JSON array, a page at a time: the same bytes as `JSON.stringify(all, null, 2)`
 * and a newline, without holding them all.
 */
const streamJson = async (pages: AsyncIterable<ReadonlyArray<JobInfo>>): Promise<void> => {
  let first = true
  for await (const page of pages) {
    const items = page.map((job) => `  ${JSON.stringify(job, null, 2).replace(/\n/g, "\n  ")}`).join(",\n")
    await writeOut(`${first ? "[\n" : ",\n"}${items}`)
    first = false
  }
  await writeOut(first ? "[]\n" : "\n]\n")
}

/** The types of the jobs stored (from the counts kept with the rows: no job rows read). */
const storedTypes = async (store: JobStore): Promise<ReadonlyArray<string>> =>
  [...new Set((await store.countJobs()).filter((c) => c.count > 0).map((c) => c.name))].sort()

export const registerQueryCommands = (program: Command) => {
  program
    .command("types")
    .description("list the job types the CLI can run")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const registry = new JobRegistry(await jobsOf(command))
      const types = registry.names().map((name) => {
        const d = registry.require(name)
        return { name, description: d.description ?? null, resumable: d.resumable }
      })
      if (options.json) return json(types)
      for (const t of types) process.stdout.write(`${t.name.padEnd(12)} ${t.description ?? ""}\n`)
    })

  program
    .command("schema")
    .description("print the JSON Schemas of a job type's params, output and progress")
    .argument("<type>", "the job type")
    .action(async (type: string, _options: unknown, command: Command) =>
      json(new JobRegistry(await jobsOf(command)).schema(type)),
    )

  program
    .command("list")
    .description("list jobs, newest first")
    .addOption(
      new Option(
        "-s, --status <status>",
        "only jobs with this status (or stalled, waiting, delayed: as the list shows them)",
      ).choices([...jobStatuses, ...Object.keys(shownCases)]),
    )
    .option(
      "-n, --limit <n>",
      `at most this many (the table shows ${LIST_PAGE} unless told)`,
      integerOption("--limit", 1),
    )
    .option("--type <name>", "only jobs of this type")
    .option("--after <id>", "the page after this job (in the --sort order): the next page, from its last id")
    .option("--before <id>", "the page before this job (in the --sort order): the previous page, from its first id")
    .option("--offset <n>", "skip this many (counted in the --sort order)", integerOption("--offset", 0), 0)
    .addOption(new Option("--sort <order>", "newest or oldest first").choices(["newest", "oldest"]).default("newest"))
    .option("--json", "print JSON (the JobInfo of each job)")
    .action(async (options: ListOptions, command: Command) => {
      const where = storeOf(command)
      const dataDir = whereOf(where)
      if (options.after !== undefined && options.before !== undefined)
        throw new UsageError({ detail: "Give --after or --before, not both" })
      const cursorOption =
        options.after !== undefined ? "--after" : options.before !== undefined ? "--before" : undefined
      if (cursorOption !== undefined && options.offset > 0)
        throw new UsageError({ detail: `Give ${cursorOption} or --offset, not both` })
      const noCursorInEmptyStore = () => {
        // Nothing is stored: no job to page from.
        if (cursorOption !== undefined) throw noJobToPageFrom(cursorOption, (options.after ?? options.before)!)
      }
      if (options.json && options.limit === undefined) {
        // All of them: written a page at a time as they are read, never held together.
        return withStore(
          where,
          async (store) => streamJson(listPages(store, options, await cursorOf(store, options), JSON_PAGE)),
          () => {
            noCursorInEmptyStore()
            return writeOut("[]\n")
          },
        )
      }
      const backwards = options.before !== undefined
      // The table shows a page unless told how many (one row more tells whether there are more).
      const page = options.limit ?? LIST_PAGE
      const limit = options.json ? page : page + 1
      const shownCase = shownCaseOf(options.status)
      const { jobs, types } = await withStore(
        where,
        async (store) => {
          const cursor = await cursorOf(store, options)
          const owners = await ownersOf(store)
          const name = options.type === undefined ? {} : { name: options.type }
          // With no job of the type, the types there are (a type name is not checked: list reads only the store).
          const withTypes = async (jobs: JobInfo[]) => ({
            jobs,
            types: jobs.length === 0 && options.type !== undefined && !options.json ? await storedTypes(store) : [],
          })
          if (shownCase === undefined) {
            const query = {
              ...(options.status ? { status: options.status } : {}),
              ...name,
              limit,
              offset: options.offset,
              order: options.sort,
              ...cursor,
            }
            return withTypes((await store.listJobs(query)).map((row) => toJobInfo(row, owners)))
          }
          // A case of a status is told from the rows of that status, read a chunk at a time
          // (from the cursor, away from it: a page before a job is the rows nearest it).
          let found: JobInfo[] = []
          const want = options.offset + limit
          let from: { afterSeq?: number; beforeSeq?: number } = cursor
          while (found.length < want) {
            const rows = await store.listJobs({
              status: shownCases[shownCase],
              ...name,
              limit: LIST_CHUNK,
              order: options.sort,
              ...from,
            })
            const matched = rows.map((row) => toJobInfo(row, owners)).filter((info) => shownStatus(info) === shownCase)
            found = backwards ? [...matched, ...found] : [...found, ...matched]
            if (rows.length < LIST_CHUNK) break
            from = backwards ? { beforeSeq: Number(rows[0]!.seq) } : { afterSeq: Number(rows.at(-1)!.seq) }
          }
          if (backwards) return withTypes(found.slice(Math.max(0, found.length - limit)))
          return withTypes(found.slice(options.offset, options.offset + limit))
        },
        () => {
          noCursorInEmptyStore()
          return { jobs: [], types: [] }
        },
      )
      if (options.json) return json(jobs)
      // The row read beyond the page: the farthest from the cursor (the first of a page read backwards).
      const more = jobs.length > page
      if (more && backwards) jobs.shift()
      else if (more) jobs.pop()
      if (jobs.length === 0) {
        const which = `${options.type === undefined ? "" : ` of type ${options.type}`}${options.status ? ` with status ${options.status}` : ""}${options.offset > 0 ? ` after the first ${options.offset}` : ""}${cursorOption === undefined ? "" : ` ${cursorOption.slice(2)} ${options.after ?? options.before}`}`
        const stored =
          options.type === undefined || types.includes(options.type)
            ? ""
            : types.length === 0
              ? ` (no job of any type is stored)`
              : ` (no job of that type is stored; the types stored: ${types.join(", ")})`
        return void process.stdout.write(`No jobs${which} in ${dataDir}${stored}\n`)
      }
      process.stdout.write(
        `${"ID".padEnd(36)}  ${"TYPE".padEnd(10)}  ${"STATUS".padEnd(9)}  ${"DONE".padStart(4)}  PRIO  CREATED\n`,
      )
      for (const job of jobs) {
        const fraction = job.progress ?? (job.progressData === null ? null : Progress.fraction(job.progressData))
        const pct = job.status === "completed" ? "100%" : fraction === null ? "-" : `${Math.floor(fraction * 100)}%`
        const status = shownStatus(job)
        process.stdout.write(
          `${job.id.padEnd(36)}  ${job.name.padEnd(10)}  ${status.padEnd(9)}  ${pct.padStart(4)}  ${String(job.priority).padStart(4)}  ${job.createdAt}\n`,
        )
        // A stalled job's note is its own; jobs waiting for a worker are summed up by type below.
        const note = job.stalled !== null ? waitingNote(job) : undefined
        if (note !== undefined) process.stdout.write(`${"".padEnd(38)}${note}\n`)
      }
      const waiting = new Map<string, number>()
      for (const job of jobs)
        if (job.stalled === null && job.waitingForWorker) waiting.set(job.name, (waiting.get(job.name) ?? 0) + 1)
      const known = waiting.size === 0 ? [] : (await jobsOf(command)).map((d) => d.name)
      for (const [name, n] of waiting) {
        process.stdout.write(
          `${n} ${name} job${n === 1 ? "" : "s"} above wait${n === 1 ? "s" : ""} for a worker of type "${name}" (none is running): ${workerHint(command, name, known)}\n`,
        )
      }
      if (more) {
        // A keyset page: the same command from the page's edge, which dispatches and prunes do not shift.
        const edge = backwards ? `--before ${jobs[0]!.id}` : `--after ${jobs.at(-1)!.id}`
        const next = [
          `${invocationOf(command)} list`,
          ...(options.status ? [`--status ${options.status}`] : []),
          ...(options.type === undefined ? [] : [`--type ${quote(options.type)}`]),
          ...(options.sort === "oldest" ? ["--sort oldest"] : []),
          ...(options.limit === undefined ? [] : [`-n ${options.limit}`]),
          edge,
        ].join(" ")
        const also = options.limit === undefined ? " (or -n <how many>, or --json for all)" : ""
        process.stdout.write(`… more jobs; ${backwards ? "previous" : "next"} page: ${next}${also}\n`)
      }
    })

  program
    .command("show")
    .description("show everything stored about a job (an id or a unique prefix of one)")
    .argument("<id>", "the job id")
    .option("--json", "print JSON: the JobInfo plus params and the last checkpointed state")
    .action(async (idArg: string, options: { json?: boolean }, command: Command) => {
      const details = await withStore(
        storeOf(command),
        async (store) => {
          const row = await readJob(store, await resolveJobId(store, idArg))
          return jobDetails(row, await ownersOf(store), await store.listJobs({ parentId: row.id }))
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
      if (options.json) return json(details)
      const { fraction, detail } = describeProgress(details.progressData, details.status === "running")
      const rows: Array<[string, string | null]> = [
        ["id", details.id],
        ["type", details.name],
        ["status", shownStatus(details) + (details.pausedBy ? ` (by ${details.pausedBy})` : "")],
        [details.stalled !== null ? "stalled" : "waiting", waitingNote(details) ?? null],
        ["priority", String(details.priority)],
        [
          "progress",
          details.status === "completed"
            ? "100%"
            : fraction === null
              ? detail || "-"
              : `${Math.floor(fraction * 100)}% ${detail}`,
        ],
        ["attempts", String(details.attempts)],
        [
          "failures",
          details.failures > 0
            ? `${details.failures}${details.lastError ? ` (last: ${errorLine(details.lastError)})` : ""}`
            : null,
        ],
        ["runs at", details.runAt],
        ["machine", machineLine(details)],
        ["unique key", details.uniqueKey],
        [
          "checkpoints",
          `${details.checkpoints}${details.lastCheckpoint ? ` (last at ${details.lastCheckpoint})` : ""}`,
        ],
        ["created", details.createdAt],
        ["started", details.startedAt],
        [
          "ended",
          details.completedAt
            ? `${details.completedAt} (${elapsedBetween(details.startedAt, details.completedAt)} after it first started)`
            : null,
        ],
        ["params", JSON.stringify(details.params)],
        ["output", details.output === null ? null : JSON.stringify(details.output)],
        ["error", details.error ? errorLine(details.error) : null],
        ["parent", details.parentId],
        ["children", childSummary(details)],
      ]
      for (const [k, v] of rows) if (v !== null) process.stdout.write(`${k.padEnd(12)} ${v}\n`)
      const shown = details.childJobs.slice(0, MAX_CHILDREN_SHOWN)
      for (const c of shown) process.stdout.write(`  ${c.id}  ${c.name}  ${shownStatus(c)}\n`)
      if (details.childJobs.length > shown.length) {
        process.stdout.write(
          `  … and ${details.childJobs.length - shown.length} more (${invocationOf(command)} show --json ${details.id})\n`,
        )
      }
    })

  program
    .command("logs")
    .description("print a job's log")
    .argument("<id>", "the job id")
    .option("-f, --follow", "keep printing new lines until the job ends (or Ctrl-C)")
    .action(async (idArg: string, options: { follow?: boolean }, command: Command) => {
      await withStore(
        storeOf(command),
        async (store) => {
          const id = await resolveJobId(store, idArg)
          const print = (lines: ReadonlyArray<Pick<JobLogLine, "at" | "level" | "message">>) => {
            for (const l of lines) process.stdout.write(`${l.at} ${l.level.toUpperCase().padEnd(5)} ${l.message}\n`)
          }
          // The row's own times are lifecycle lines too (a short job writes no log line of its own).
          const row = await readJob(store, id)
          const stored = await store.logs(id)
          let after = stored.at(-1)?.seq ?? 0
          let last = stored.at(-1)?.message
          const ended = (now: DbJob) => endLine(now, last)
          const begun = [
            { at: row.created_at, level: "info" as const, message: "dispatched" },
            ...(row.started_at === null
              ? []
              : [{ at: row.started_at, level: "info" as const, message: "started (attempt 1)" }]),
          ]
          // A stable sort: in the same millisecond, the job's own last lines come before its end.
          print([...begun, ...stored, ...ended(row)].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)))
          if (!options.follow || row.completed_at !== null) return
          let interrupted = false
          const onSigint = () => (interrupted = true)
          process.once("SIGINT", onSigint)
          try {
            while (!interrupted) {
              // Read the status before the lines: a job that ended has written its last line already.
              const now = await readJob(store, id)
              const lines = await store.logs(id, after)
              print(lines)
              after = lines.at(-1)?.seq ?? after
              last = lines.at(-1)?.message ?? last
              if (isTerminalStatus(toJobInfo(now).status)) {
                print(ended(now))
                return
              }
              await new Promise((r) => setTimeout(r, 250))
            }
          } finally {
            process.off("SIGINT", onSigint)
          }
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
    })
}
