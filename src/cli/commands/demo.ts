import type { Command } from "commander"
import { ExitCode, JobDidNotComplete } from "../errors.js"
import { storeOf, jobsOf } from "../options.js"
import { runDemo } from "../demoRun.js"

export const demoFailed = () =>
  new JobDidNotComplete({ code: ExitCode.Failed, detail: "The demo's jobs did not both complete" })

export const registerDemoCommand = (program: Command) => {
  program
    .command("demo")
    .description("index and copy a generated sample tree with live progress, pausing and resuming the copy midway")
    .option("--keep", "keep the sample tree and its copy (in the OS temp dir)")
    .action(async (options: { keep?: boolean }, command: Command) => {
      if (!(await runDemo({ ...storeOf(command), jobs: await jobsOf(command), keep: options.keep ?? false })))
        throw demoFailed()
    })
}
