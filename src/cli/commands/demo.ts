import { appendFileSync } from "node:fs"
import { createServer } from "node:net"
import { createInspector, createWebSocketInspector } from "@statelyai/inspect"
import { createInspectorServer } from "@statelyai/inspect/server"
import type { Command } from "commander"
import type { InspectionEvent } from "xstate"
import { ExitCode, JobDidNotComplete, UsageError } from "../errors.js"
import { dataDirOf, integerOption, jobsOf } from "../options.js"
import { runDemo } from "../demoRun.js"

const demoFailed = () => new JobDidNotComplete({ code: ExitCode.Failed, detail: "The demo's jobs did not both complete" })

export const registerDemoCommands = (program: Command) => {
  program
    .command("demo")
    .description("index and copy a generated sample tree with live progress, pausing and resuming the copy midway")
    .option("--keep", "keep the sample tree and its copy (in the OS temp dir)")
    .action(async (options: { keep?: boolean }, command: Command) => {
      if (!(await runDemo({ dataDir: dataDirOf(command), jobs: await jobsOf(command), keep: options.keep ?? false }))) throw demoFailed()
    })

  program
    .command("inspect")
    .description("run the demo with the Stately inspector attached to the manager and every job actor")
    .option("--port <port>", "port of the local inspector bridge", integerOption("--port", 1), 8080)
    .option("--no-server", "do not start the bridge (use with --out)")
    .option("--out <file>", "also append every inspection event to this file as JSON lines (works offline)")
    .action(async (options: { port: number; server: boolean; out?: string }, command: Command) => {
      const observers: Array<(event: InspectionEvent) => void> = []
      const stops: Array<() => void> = []
      if (options.out !== undefined) {
        const file = options.out
        // The library's own serialisation (ids, session, safe JSON), written where no network is needed.
        const recorder = createInspector({ send: (event) => appendFileSync(file, `${JSON.stringify(event)}\n`) })
        observers.push((event) => recorder.inspect.next?.(event))
      }
      if (options.server) {
        await assertPortFree(options.port)
        const server = createInspectorServer({ port: options.port, autoOpen: false })
        const inspector = createWebSocketInspector({ url: `ws://localhost:${options.port}` })
        observers.push((event) => inspector.inspect.next?.(event))
        stops.push(() => inspector.stop(), () => server.stop())
        process.stdout.write(
          `Inspector bridge: open http://localhost:${options.port} in a browser. The page embeds the Stately ` +
            `inspector (https://stately.ai/inspect), so the browser needs internet access; --out records offline.\n`,
        )
        if (process.stdin.isTTY) await waitForEnter("Press Enter to start the jobs once the page is open... ")
      }
      if (observers.length === 0) throw new UsageError({ detail: "Nothing to inspect with: drop --no-server or add --out <file>" })
      try {
        const ok = await runDemo({ dataDir: dataDirOf(command), jobs: await jobsOf(command), inspect: (event) => observers.forEach((o) => o(event)) })
        if (options.out !== undefined) process.stdout.write(`Inspection events written to ${options.out}\n`)
        if (options.server && process.stdin.isTTY) {
          process.stdout.write("The bridge replays its last 200 events to a new page. Ctrl-C stops it.\n")
          await new Promise((resolve) => process.once("SIGINT", resolve))
        }
        if (!ok) throw demoFailed()
      } finally {
        for (const stop of stops) stop()
      }
    })
}

/** The bridge crashes the process on a port in use; checking first turns that into one line. */
const assertPortFree = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const probe = createServer()
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(new UsageError({ detail: `Cannot use port ${port} for the inspector (${error.code}); choose another with --port` })),
    )
    probe.listen(port, () => probe.close(() => resolve()))
  })

const waitForEnter = (prompt: string) =>
  new Promise<void>((resolve) => {
    process.stdout.write(prompt)
    process.stdin.resume()
    process.stdin.once("data", () => {
      process.stdin.pause()
      resolve()
    })
  })
