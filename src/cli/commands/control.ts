import type { Command } from "commander"
import { commandEvent, commandThroughStore, type RemoteCommand } from "../../actors/remoteCommand.js"
import { JobNotFound } from "../../jobs/errors.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { integerOption, jobsOf, storeOf, whereOf } from "../options.js"
import { liveWorkerCount, resolveJobId, withStore } from "../readStore.js"

const wanted: Record<RemoteCommand, string> = { pause: "paused", resume: "queued", cancel: "cancelled" }

const descriptions: Record<RemoteCommand, string> = {
  pause: "pause a job at its next checkpoint; it stays paused until `jobstate resume`",
  resume: "put a paused (or stalled) job back in line; it continues from its last checkpoint",
  cancel: "cancel a queued, running or paused job",
}

export const registerControlCommands = (program: Command) => {
  for (const name of ["pause", "resume", "cancel"] as const) {
    program
      .command(name)
      .description(descriptions[name])
      .argument("<id>", "the job id (or a unique prefix of it)")
      .option("--timeout <seconds>", "how long to wait for the job to get there", integerOption("--timeout", 1), 60)
      .action(async (idArg: string, options: { timeout: number }, command: Command) => {
        const where = storeOf(command)
        // The types this process knows decide what it may do with a stalled job (the orphan rule).
        const registry = new JobRegistry(await jobsOf(command))
        const { id, type, outcome } = await withStore(
          where,
          async (store) => {
            const id = await resolveJobId(store, idArg)
            // A job a live manager runs gets the command through its row, and this waits until
            // that manager has applied it; anything else is changed in the store at once.
            const outcome = await commandThroughStore(store, registry, id, commandEvent(name)!, {
              self: null,
              at: () => new Date().toISOString(),
              timeoutMs: options.timeout * 1000,
            })
            const type = (await store.getJob(id))?.name ?? "?"
            return { id, type, outcome }
          },
          () => {
            throw new JobNotFound({ id: idArg })
          },
          { readOnly: false },
        )
        if (outcome.deferred !== undefined) {
          process.stdout.write(`Job ${id} is stalled: ${outcome.deferred}\n`)
          return
        }
        const status = outcome.status
        const note = status === wanted[name] || status === "running" ? "" : ` (it got there before the ${name} took effect)`
        process.stdout.write(`Job ${id} is ${status}${note}\n`)
        if (name === "resume" && (await withStore(where, (store) => liveWorkerCount(store, type), () => 0)) === 0) {
          process.stdout.write(`No worker of type "${type}" is running on ${whereOf(where)}: start \`npx jobstate worker\` to run it.\n`)
        }
      })
  }
}
