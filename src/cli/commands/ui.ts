import { createServer } from "node:http"
import type { Command } from "commander"
import { JobManager } from "../../actors/JobManager.js"
import { dashboard, isLoopbackHost } from "../../ui/dashboard.js"
import { UsageError } from "../errors.js"
import { jobsOf, portOption, storeOf, whereOf } from "../options.js"

interface UiOptions {
  readonly port: number
  readonly host: string
  readonly token?: string
  readonly unsafeNoToken?: boolean
}

export const registerUiCommand = (program: Command) => {
  program
    .command("ui")
    .description("serve the web dashboard (offline, live): jobs, progress, logs, lifecycle, actions, dispatch")
    .option("--port <port>", "port to listen on (0: any free one)", portOption, 8080)
    .option("--host <host>", "address to bind; anything but loopback needs a token (JOBSTATE_UI_TOKEN)", "127.0.0.1")
    .option(
      "--token <token>",
      "require this token for everything (open the page with ?token=…); prefer JOBSTATE_UI_TOKEN, which ps does not show",
    )
    .option(
      "--unsafe-no-token",
      "listen on a non-loopback --host without a token: anyone who reaches it controls your jobs",
    )
    .action(async (options: UiOptions, command: Command) => {
      // The environment first: a token on the command line is visible to every user in `ps`.
      const token = process.env.JOBSTATE_UI_TOKEN || options.token
      const loopback = isLoopbackHost(options.host)
      if (!loopback && !token && !options.unsafeNoToken) {
        throw new UsageError({
          detail: `Refusing to serve the dashboard on ${options.host} without a token: anyone who reaches it could read and control your jobs. Set JOBSTATE_UI_TOKEN (or --token), or pass --unsafe-no-token`,
        })
      }
      if (options.token !== undefined && process.env.JOBSTATE_UI_TOKEN === undefined) {
        process.stderr.write("jobstate: note: --token is visible to other users in `ps`; JOBSTATE_UI_TOKEN is not\n")
      }
      const where = storeOf(command)
      // A producer: it dispatches and controls jobs, and runs none (workers do).
      const manager = await JobManager.open({ ...where, jobs: await jobsOf(command), concurrency: 0 })
      const handler = dashboard(manager, {
        ...(token ? { token } : {}),
        // The handler's default: without a token, only loopback names (DNS rebinding is refused).
        // Asked for without a token on another address, any name.
        ...(!loopback && !token ? { allowedHosts: "any" as const } : {}),
        title: `jobstate: ${whereOf(where)}`,
      })
      const server = createServer(handler)
      await new Promise<void>((resolve, reject) => {
        server.once("error", (error: NodeJS.ErrnoException) =>
          reject(
            new UsageError({
              detail: `Cannot listen on ${options.host}:${options.port} (${error.code}); choose another --port or --host`,
            }),
          ),
        )
        server.listen(options.port, options.host, () => resolve())
      })
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : options.port
      const shown = options.host.includes(":") ? `[${options.host}]` : options.host
      process.stdout.write(
        `Dashboard for ${whereOf(where)}: http://${shown}:${port}/${token ? "?token=…" : ""} (Ctrl-C stops)\n`,
      )
      if (!loopback && !token)
        process.stderr.write(
          `jobstate: warning: the dashboard listens on ${options.host} without a token: anyone who reaches it can control your jobs\n`,
        )
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
