import { appendFileSync } from "node:fs"
import { createServer } from "node:net"
import type { Command } from "commander"
import type { InspectionEvent } from "xstate"
import { UsageError } from "../errors.js"
import { storeOf, jobsOf, portOption } from "../options.js"
import { optionalImport } from "../optionalImport.js"
import { runDemo } from "../demoRun.js"
import { serveReplay } from "../replay.js"
import { demoFailed } from "./demo.js"

interface InspectOptions {
  readonly port?: number
  readonly server: boolean
  readonly out?: string
  readonly replay?: string
}

export const registerInspectCommand = (program: Command) => {
  program
    .command("inspect")
    .description(
      "run the demo with the Stately inspector attached to the manager and every job actor, or --replay a recording offline",
    )
    .option(
      "--port <port>",
      "port of the local inspector bridge (default 8080), or of the replay page (default: any free one)",
      portOption,
    )
    .option("--no-server", "do not start the bridge (use with --out)")
    .option("--out <file>", "also append every inspection event to this file as JSON lines (works offline)")
    .option(
      "--replay <file>",
      "serve a page on 127.0.0.1 showing the events of an --out recording as a timeline (no demo runs; offline)",
    )
    .action(async (options: InspectOptions, command: Command) => {
      if (options.replay !== undefined) {
        if (options.out !== undefined)
          throw new UsageError({ detail: "--replay shows a recording; it cannot also record one (--out)" })
        return replay(options.replay, options.port ?? 0)
      }
      return inspectDemo(options, command)
    })
}

/** Resolves on the first Ctrl-C (or SIGTERM): a server the user opens in a browser stays up until then. */
const untilStopped = () =>
  new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop)
      process.off("SIGTERM", stop)
      resolve()
    }
    process.on("SIGINT", stop)
    process.on("SIGTERM", stop)
  })

const replay = async (file: string, port: number) => {
  const served = await serveReplay(file, port)
  process.stdout.write(
    `Replay of ${served.count} inspection events from ${file}: open ${served.url} in a browser (offline). Ctrl-C stops.\n`,
  )
  await untilStopped()
  await new Promise((resolve) => served.server.close(resolve))
}

const inspectDemo = async (options: InspectOptions, command: Command) => {
  const port = options.port ?? 8080
  if (options.server && port === 0)
    throw new UsageError({
      detail: "The inspector bridge needs a fixed --port (the page it serves connects back to it)",
    })
  if (!options.server && options.out === undefined)
    throw new UsageError({ detail: "Nothing to inspect with: drop --no-server or add --out <file>" })
  // The inspector library is an optional peer dependency, loaded only here.
  const { createInspector, createWebSocketInspector } = await optionalImport(
    () => import("@statelyai/inspect"),
    "@statelyai/inspect",
    "jobstate inspect",
  )
  const observers: Array<(event: InspectionEvent) => void> = []
  const stops: Array<() => void> = []
  if (options.out !== undefined) {
    const file = options.out
    // The library's own serialisation (ids, session, safe JSON), written where no network is needed.
    const recorder = createInspector({ send: (event) => appendFileSync(file, `${JSON.stringify(event)}\n`) })
    observers.push((event) => recorder.inspect.next?.(event))
  }
  try {
    if (options.server) {
      await assertPortFree(port)
      const { createInspectorServer } = await optionalImport(
        () => import("@statelyai/inspect/server"),
        "@statelyai/inspect",
        "jobstate inspect",
      )
      const server = createInspectorServer({ port, autoOpen: false })
      stops.push(() => server.stop())
      const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` })
      observers.push((event) => inspector.inspect.next?.(event))
      stops.unshift(() => inspector.stop())
      process.stdout.write(
        `Inspector bridge: open http://localhost:${port} in a browser. The page embeds the Stately ` +
          `inspector (https://stately.ai/inspect), so the browser needs internet access; --out records offline.\n`,
      )
      if (process.stdin.isTTY) await waitForEnter("Press Enter to start the jobs once the page is open... ")
    }
    const ok = await runDemo({
      ...storeOf(command),
      jobs: await jobsOf(command),
      inspect: (event) => observers.forEach((o) => o(event)),
    })
    if (options.out !== undefined)
      process.stdout.write(
        `Inspection events written to ${options.out} (view them with \`npx jobstate inspect --replay ${options.out}\`)\n`,
      )
    if (options.server) {
      // The page may be opened long after the demo ends; the bridge replays its last 200 events to it.
      process.stdout.write(
        `The demo has ended; the bridge stays up on http://localhost:${port} and replays its last 200 events to a new page. Ctrl-C stops it.\n`,
      )
      await untilStopped()
    }
    if (!ok) throw demoFailed()
  } finally {
    for (const stop of stops) stop()
  }
}

/** The bridge crashes the process on a port in use; checking first turns that into one line. */
const assertPortFree = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const probe = createServer()
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new UsageError({
          detail: `Cannot use port ${port} for the inspector (${error.code}); choose another with --port`,
        }),
      ),
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
