import type { Command } from "commander"
import { toScheduleInfo, type ScheduleInfo } from "../../actors/Scheduler.js"
import { UsageError } from "../errors.js"
import { storeOf, whereOf } from "../options.js"
import { withStore } from "../readStore.js"

const json = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

/** `jobstate schedules`: what the store's schedules dispatch and when (`manager.schedule` makes them). */
export const registerSchedulesCommand = (program: Command) => {
  program
    .command("schedules")
    .description("list the cron schedules (made by manager.schedule), with their next and last run")
    .option("--json", "print JSON (the ScheduleInfo of each schedule)")
    .option("--remove <name>", "delete this schedule (the jobs it dispatched stay)")
    .action(async (options: { json?: boolean; remove?: string }, command: Command) => {
      const where = storeOf(command)
      if (options.remove !== undefined) return remove(where, options.remove)
      const schedules = await withStore(where, async (store) => (await store.listSchedules()).map(toScheduleInfo), () => [] as ScheduleInfo[])
      if (options.json) return json(schedules)
      if (schedules.length === 0) return void process.stdout.write(`No schedules in ${whereOf(where)}\n`)
      const rows = schedules.map((s) => [s.name, s.jobName, s.cron, s.timezone, s.nextRunAt ?? "never", s.lastRunAt ?? "-", s.lastJobId ?? "-", JSON.stringify(s.params)])
      const header = ["NAME", "TYPE", "CRON", "ZONE", "NEXT RUN", "LAST RUN", "LAST JOB", "PARAMS"]
      // Every column as wide as its widest cell, but the last (params), which may be long.
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
      for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")}\n`)
    })
}

const remove = async (where: ReturnType<typeof storeOf>, name: string) => {
  const removed = await withStore(where, (store) => store.deleteSchedule(name), () => false, { readOnly: false })
  if (!removed) throw new UsageError({ detail: `No schedule named ${JSON.stringify(name)} in ${whereOf(where)}` })
  process.stdout.write(`Removed schedule ${JSON.stringify(name)}\n`)
}
