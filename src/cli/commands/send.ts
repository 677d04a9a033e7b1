import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import type { SentEvent } from "../../jobs/defineMachineJob.js"
import { JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { UsageError } from "../errors.js"
import { typeNotKnown } from "../jobs.js"
import { jobsOf, storeOf, whereOf, workerHintOf } from "../options.js"
import { readJob, resolveJobId, withStore } from "../readStore.js"

export const registerSendCommand = (program: Command) => {
  program
    .command("send")
    .description(
      "send an event to a machine job (defineMachineJob): checked against its type's events schema (its module with --jobs) and stored in its inbox; its machine applies it when it runs",
    )
    .argument("<id>", "the job id (or a unique prefix of it)")
    .argument("<event>", `the event as JSON, with its type: '{"type":"PAID","ref":"tx-1"}'`)
    .action(async (idArg: string, text: string, _options: unknown, command: Command) => {
      const where = storeOf(command)
      let event: unknown
      try {
        event = JSON.parse(text)
      } catch (error) {
        throw new UsageError({ detail: `The event is not valid JSON: ${(error as Error).message}` })
      }
      const jobs = await jobsOf(command)
      const registry = new JobRegistry(jobs)
      const { id, type } = await withStore(
        where,
        async (store) => {
          const row = await readJob(store, await resolveJobId(store, idArg))
          return { id: row.id, type: row.name }
        },
        () => {
          throw new JobNotFound({ id: idArg })
        },
      )
      // Its type's events schema says what it takes: checked before a manager opens, so that bad
      // input leaves the store untouched.
      if (!registry.has(type)) throw typeNotKnown(id, type)
      registry.decodeEvent(type, event)
      // A producer: it stores the event and runs nothing; the worker that runs the job applies it.
      const manager = await JobManager.open({ ...where, jobs, concurrency: 0 })
      try {
        await manager.send(id, event as SentEvent)
        process.stdout.write(`Sent ${(event as SentEvent).type} to ${type} job ${id}\n`)
        const workers = (await manager.listManagers()).filter(
          (m) => m.id !== manager.id && m.state === "live" && m.types.includes(type),
        )
        if (workers.length === 0)
          process.stdout.write(
            `No worker of type "${type}" is running on ${whereOf(where)}: start \`${await workerHintOf(command, type)}\` to apply it.\n`,
          )
      } finally {
        await manager.close()
      }
    })
}
