import { createServer } from "node:http"
import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import { dashboard } from "../../ui/dashboard.js"
import { UsageError } from "../errors.js"
import { integerOption, jobsOf, storeOf, whereOf } from "../options.js"

interface UiOptions {
  readonly port: number
  readonly host: string
  readonly token?: string
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]", "::1"]
const isLoopback = (host: string) => LOOPBACK_NAMES.includes(host) || /^127\./.test(host)

export const registerUiCommand = (program: Command) => {
  program
    .command("ui")
    .description("serve the web dashboard (offline, live): jobs, progress, logs, lifecycle, actions, dispatch")
    .option("--port <port>", "port to listen on (0: any free one)", integerOption("--port", 0), 8080)
    .option("--host <host>", "address to bind; anything but loopback should have a --token", "127.0.0.1")
    .option("--token <token>", "require this token for everything (open the page with ?token=…); or JOBSTATE_UI_TOKEN")
    .action(async (options: UiOptions, command: Command) => {
      const token = options.token ?? process.env.JOBSTATE_UI_TOKEN
      const where = storeOf(command)
      // A producer: it dispatches and controls jobs, and runs none (workers do).
      const manager = await JobManager.open({ ...where, jobs: await jobsOf(command), concurrency: 0 })
      const loopback = isLoopback(options.host)
      const handler = dashboard(manager, {
        ...(token ? { token } : {}),
        // Without a token, only loopback names may reach it: a site that points its own name at
        // 127.0.0.1 (DNS rebinding) is refused.
        ...(loopback && !token ? { allowedHosts: ["localhost", "127.0.0.1", "[::1]"] } : {}),
        title: `jobstate: ${whereOf(where)}`,
      })
      const server = createServer(handler)
      await new Promise<void>((resolve, reject) => {
        server.once("error", (error: NodeJS.ErrnoException) => reject(new UsageError({ detail: `Cannot listen on ${options.host}:${options.port} (${error.code}); choose another --port or --host` })))
        server.listen(options.port, options.host, () => resolve())
      })
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : options.port
      const shown = options.host.includes(":") ? `[${options.host}]` : options.host
      process.stdout.write(`Dashboard for ${whereOf(where)}: http://${shown}:${port}/${token ? "?token=…" : ""} (Ctrl-C stops)\n`)
      if (!loopback && !token) process.stderr.write(`jobstate: warning: the dashboard listens on ${options.host} without a token: anyone who reaches it can control your jobs (use --token)\n`)
      const keepAlive = setInterval(() => {}, 60_000)
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve())
        process.once("SIGTERM", () => resolve())
      })
      clearInterval(keepAlive)
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await manager.close()
    })
}
