import { Option, type Command } from "commander"
import { jobLifecycleMachine } from "../../machines/jobLifecycleMachine.js"
import { managerMachine } from "../../machines/managerMachine.js"
import { machineGraph } from "../../machines/machineGraph.js"
import { toDot, toMermaid } from "../renderMachine.js"

const machines = { job: jobLifecycleMachine, manager: managerMachine } as const

export const registerVizCommand = (program: Command) => {
  program
    .command("viz")
    .description("print the job lifecycle and manager machines as a diagram, generated from their definitions")
    .addOption(new Option("--format <format>", "output format").choices(["mermaid", "dot", "json"]).default("mermaid"))
    .addOption(new Option("--machine <machine>", "which machine").choices(["job", "manager", "all"]).default("all"))
    .action((options: { format: "mermaid" | "dot" | "json"; machine: "job" | "manager" | "all" }) => {
      const chosen = options.machine === "all" ? Object.values(machines) : [machines[options.machine]]
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
