import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import { checkSchedule, toScheduleInfo, type ScheduleInfo } from "../../actors/Scheduler.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { UsageError } from "../errors.js"
import { jobsOf, priorityOption, readParams, storeOf, whereOf, workerHintOf } from "../options.js"
import { liveWorkerCount, withStore } from "../readStore.js"

const json = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

type Where = ReturnType<typeof storeOf>

/** `jobstate schedules`: what the store's schedules dispatch and when (`manager.schedule` or `jobstate schedule add` makes them). */
export const registerSchedulesCommand = (program: Command) => {
  program
    .command("schedules")
    .description(
      "list the cron schedules (made by manager.schedule or `jobstate schedule add`), with their next and last run",
    )
    .option("--json", "print JSON (the ScheduleInfo of each schedule)")
    .option(
      "--remove <name>",
      "delete this schedule (the jobs it dispatched stay); the same as `jobstate schedule remove <name>`",
    )
    .action(async (options: { json?: boolean; remove?: string }, command: Command) => {
      const where = storeOf(command)
      if (options.remove !== undefined) return remove(where, options.remove)
      const schedules = await withStore(
        where,
        async (store) => (await store.listSchedules()).map(toScheduleInfo),
        () => [] as ScheduleInfo[],
      )
      if (options.json) return json(schedules)
      if (schedules.length === 0) return void process.stdout.write(`No schedules in ${whereOf(where)}\n`)
      const rows = schedules.map((s) => [
        s.name,
        s.jobName,
        s.cron,
        s.timezone,
        s.nextRunAt ?? "never",
        s.lastRunAt ?? "-",
        s.lastJobId ?? "-",
        JSON.stringify(s.params),
      ])
      const header = ["NAME", "TYPE", "CRON", "ZONE", "NEXT RUN", "LAST RUN", "LAST JOB", "PARAMS"]
      // Every column as wide as its widest cell, but the last (params), which may be long.
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
      for (const row of [header, ...rows])
        process.stdout.write(
          `${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")}\n`,
        )
    })

  const schedule = program
    .command("schedule")
    .description("add or remove a cron schedule (`jobstate schedules` lists them)")
  schedule
    .command("add")
    .description(
      "store a schedule that dispatches a job of <type> at each tick of --cron (a schedule by that name is replaced)",
    )
    .argument("<name>", "the schedule's name (unique on the store)")
    .argument("<type>", "the job type it dispatches (see `jobstate types`)")
    .requiredOption(
      "--cron <expr>",
      'when it fires: "minute hour day month weekday" (e.g. "0 3 * * *", 03:00 daily), 6 fields with seconds first, or @daily, @hourly, …',
    )
    .option("--timezone <zone>", "the IANA time zone the cron expression is read in (e.g. Europe/Stockholm)", "UTC")
    .option("-p, --params <json>", "the params of each job it dispatches, as JSON")
    .option("-f, --params-file <file>", "read the params from a JSON file")
    .option(
      "--priority <p>",
      "of each job it dispatches: low (-1), normal (0), high (1), critical (10), or any integer",
      priorityOption,
    )
    .option("--json", "print the stored schedule as JSON (its ScheduleInfo)")
    .action(async (name: string, type: string, options: AddOptions, command: Command) => {
      const where = storeOf(command)
      const params = readParams(options)
      const scheduleOptions = {
        cron: options.cron,
        timezone: options.timezone,
        ...(options.priority === undefined ? {} : { priority: options.priority }),
      }
      // Checked before a manager opens: bad input must leave the data dir untouched.
      const jobs = await jobsOf(command)
      new JobRegistry(jobs).decodeParams(type, params)
      checkSchedule(name, scheduleOptions, Date.now())
      // A producer: it stores the schedule and runs nothing.
      const manager = await JobManager.open({ ...where, jobs, concurrency: 0 })
      let info: ScheduleInfo
      let replaced: boolean
      try {
        replaced = (await manager.listSchedules()).some((s) => s.name === name)
        info = await manager.scheduleByName(name, type, params, scheduleOptions)
      } finally {
        await manager.close()
      }
      if (options.json) json(info)
      else {
        process.stdout.write(
          `${replaced ? "Replaced" : "Added"} schedule ${JSON.stringify(name)}: a ${type} job at "${info.cron}" (${info.timezone}); next run ${info.nextRunAt ?? "never"}\n`,
        )
      }
      // Any manager that knows the type fires the tick; a worker runs the job it dispatches.
      if (
        (await withStore(
          where,
          (store) => liveWorkerCount(store, type),
          () => 0,
        )) === 0
      ) {
        process.stderr.write(
          `No worker of type "${type}" is running on ${whereOf(where)}: start \`${await workerHintOf(command, type)}\` to fire it and run its jobs.\n`,
        )
      }
    })
  schedule
    .command("remove")
    .description("delete a schedule (the jobs it dispatched stay)")
    .argument("<name>", "the schedule's name")
    .action(async (name: string, _options: unknown, command: Command) => remove(storeOf(command), name))
}

interface AddOptions {
  readonly cron: string
  readonly timezone: string
  readonly params?: string
  readonly paramsFile?: string
  readonly priority?: number
  readonly json?: boolean
}

const remove = async (where: Where, name: string) => {
  const removed = await withStore(
    where,
    (store) => store.deleteSchedule(name),
    () => false,
    { readOnly: false },
  )
  if (!removed) throw new UsageError({ detail: `No schedule named ${JSON.stringify(name)} in ${whereOf(where)}` })
  process.stdout.write(`Removed schedule ${JSON.stringify(name)}\n`)
}
