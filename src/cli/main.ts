/**
 * The `jobstate` command. Every command works on one data dir (`--data-dir`, default
 * `./.jobstate`), the same directory a `JobManager` embedded in an app would use.
 */
import { readFileSync } from "node:fs"
import { Command, CommanderError, Option } from "commander"
import { registerControlCommands } from "./commands/control.js"
import { registerDemoCommand } from "./commands/demo.js"
import { registerDoctorCommand } from "./commands/doctor.js"
import { registerInspectCommand } from "./commands/inspect.js"
import { registerPruneCommand } from "./commands/prune.js"
import { registerQueryCommands } from "./commands/query.js"
import { registerRunCommand } from "./commands/run.js"
import { registerSchedulesCommand } from "./commands/schedules.js"
import { registerSendCommand } from "./commands/send.js"
import { registerVizCommand } from "./commands/viz.js"
import { registerWatchCommand } from "./commands/watch.js"
import { registerUiCommand } from "./commands/ui.js"
import { registerWorkerCommand } from "./commands/worker.js"
import { ExitCode, exitCodeOf, formatError } from "./errors.js"
import { jobsModuleFile } from "./jobs.js"

// The package's own version: dist/cli/main.js and src/cli/main.ts both sit two levels below it.
const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string
}

const program = new Command("jobstate")
  .description("Run and inspect persistent jobs: dispatch, watch, pause, resume, cancel")
  .version(version, "-V, --version", "print the jobstate version")
  .addOption(new Option("-d, --data-dir <dir>", "where jobs.db lives").default("./.jobstate").env("JOBSTATE_DATA_DIR"))
  .addOption(
    new Option(
      "--database-url <url>",
      "keep jobs in this PostgreSQL database (postgres://…) instead of <data-dir>/jobs.db",
    ).env("JOBSTATE_DATABASE_URL"),
  )
  .addOption(
    new Option("--jobs <module>", "also register the job definitions this module exports (repeatable)").argParser(
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    ),
  )
  // One line per error, with commander's own prefix replaced by ours.
  .configureOutput({
    outputError: (text, write) =>
      write(
        `jobstate: ${text
          .replace(/^error: /, "")
          .trim()
          .replace(/\s*\n\s*/g, " ")}\n`,
      ),
  })
  .addHelpText(
    "after",
    `
Exit codes: 0 success; 1 the job failed or was cancelled, or the store failed;
2 bad input (unknown type, id or option, invalid params or event, a transition the job does not allow);
130 stopped by Ctrl-C (the job is paused).`,
  )
  // Commander's own errors (unknown command or option) exit through the same path as ours.
  .exitOverride()
  // Every command, whether it loads the modules or not (list, show, prune only read the store):
  // a --jobs file that is not there is the same usage error everywhere.
  .hook("preAction", (_program, action) => {
    for (const module of (action.optsWithGlobals().jobs as ReadonlyArray<string> | undefined) ?? []) {
      jobsModuleFile(module)
    }
  })

registerDemoCommand(program)
registerInspectCommand(program)
registerRunCommand(program)
registerWorkerCommand(program)
registerQueryCommands(program)
registerSchedulesCommand(program)
registerWatchCommand(program)
registerControlCommands(program)
registerSendCommand(program)
registerPruneCommand(program)
registerVizCommand(program)
registerUiCommand(program)
registerDoctorCommand(program)

// `jobstate list | head` closes the pipe early; that is the reader being done, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(ExitCode.Ok)
    throw error
  })
}

const exit = (code: number) => {
  // Let what is written to a pipe drain before exiting.
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)))
}

try {
  await program.parseAsync(process.argv)
  exit(process.exitCode === undefined ? ExitCode.Ok : Number(process.exitCode))
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    const ok =
      error.code === "commander.helpDisplayed" || error.code === "commander.help" || error.code === "commander.version"
    exit(ok ? ExitCode.Ok : ExitCode.Usage)
  } else {
    const jobs = program.opts<{ jobs?: ReadonlyArray<string> }>().jobs
    process.stderr.write(`jobstate: ${formatError(error, { jobsGiven: jobs !== undefined && jobs.length > 0 })}\n`)
    if (process.env.JOBSTATE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`)
    exit(exitCodeOf(error))
  }
}
