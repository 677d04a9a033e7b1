import type { Command } from "commander"
import { sendCommand, type RemoteCommand } from "../../actors/remoteCommand.js"
import { JobNotFound } from "../../jobs/errors.js"
import { dataDirOf, integerOption } from "../options.js"
import { liveManagerCount, resolveJobId, withStore } from "../readStore.js"

const wanted: Record<RemoteCommand, string> = { pause: "paused", resume: "queued", cancel: "cancelled" }

const descriptions: Record<RemoteCommand, string> = {
  pause: "pause a job at its next checkpoint; it stays paused until `jobstate resume`",
  resume: "put a paused job back in line; it continues from its last checkpoint",
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
        const dataDir = dataDirOf(command)
        const id = await withStore(dataDir, (store) => resolveJobId(store, idArg), () => {
          throw new JobNotFound({ id: idArg })
        })
        // A job a live manager runs gets the command through its row, and this waits until
        // that manager has applied it; anything else is changed in the store at once.
        const status = await sendCommand({ dataDir, id, command: name, timeoutMs: options.timeout * 1000 })
        const note = status === wanted[name] || status === "running" ? "" : ` (it got there before the ${name} took effect)`
        process.stdout.write(`Job ${id} is ${status}${note}\n`)
        if (name === "resume" && (await withStore(dataDir, (store) => liveManagerCount(store), () => 0)) === 0) {
          process.stdout.write(`No manager is running on ${dataDir}: start \`jobstate worker\` to run it.\n`)
        }
      })
  }
}
