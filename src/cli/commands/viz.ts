import { Option, type Command } from "commander"
import type { AnyStateMachine } from "xstate"
import { isMachineJob } from "../../jobs/defineMachineJob.js"
import { JobRegistry } from "../../jobs/JobRegistry.js"
import { jobLifecycleMachine } from "../../machines/jobLifecycleMachine.js"
import { managerMachine } from "../../machines/managerMachine.js"
import { machineGraph } from "../../machines/machineGraph.js"
import { UsageError } from "../errors.js"
import { jobsOf } from "../options.js"
import { toDot, toMermaid } from "../renderMachine.js"

const machines = { job: jobLifecycleMachine, manager: managerMachine } as const

interface VizOptions {
  readonly format: "mermaid" | "dot" | "json"
  readonly machine: "job" | "manager" | "all"
  readonly job?: string
}

/** A machine job type's own machine, from the types this invocation knows (built in, and `--jobs`). */
const jobMachine = async (command: Command, type: string): Promise<AnyStateMachine> => {
  const registry = new JobRegistry(await jobsOf(command))
  // An unknown type is an UnknownJobType: the near name, or how to make it known.
  const definition = registry.require(type)
  if (isMachineJob(definition)) return definition.machine.machine
  const machineTypes = registry.names().filter((name) => isMachineJob(registry.get(name)))
  throw new UsageError({
    detail: `Job type "${type}" is not a machine job (defineMachineJob): it has no machine of its own (${
      machineTypes.length > 0 ? `machine job types: ${machineTypes.join(", ")}` : "no known type is one"
    }); \`viz --machine job\` prints the lifecycle every job goes through`,
  })
}

export const registerVizCommand = (program: Command) => {
  program
    .command("viz")
    .description(
      "print the job lifecycle and manager machines, or a machine job type's own machine (--job), as a diagram generated from their definitions",
    )
    .addOption(new Option("--format <format>", "output format").choices(["mermaid", "dot", "json"]).default("mermaid"))
    .addOption(new Option("--machine <machine>", "which machine").choices(["job", "manager", "all"]).default("all"))
    .addOption(
      new Option(
        "--job <type>",
        "a machine job type's own machine (defineMachineJob; its module with --jobs)",
      ).conflicts("machine"),
    )
    .action(async (options: VizOptions, command: Command) => {
      const chosen =
        options.job !== undefined
          ? [await jobMachine(command, options.job)]
          : options.machine === "all"
            ? Object.values(machines)
            : [machines[options.machine]]
      const graphs = chosen.map((m) => machineGraph(m))
      const text =
        options.format === "mermaid"
          ? toMermaid(graphs)
          : options.format === "dot"
            ? toDot(graphs)
            : `${JSON.stringify(graphs, null, 2)}\n`
      process.stdout.write(text)
    })
}
