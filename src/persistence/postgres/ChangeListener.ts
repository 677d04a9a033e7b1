import pg from "pg"
import { connectionConfig, quoteIdent } from "./connection.js"

interface Watcher {
  readonly onChange: () => void
  readonly timer: NodeJS.Timeout
  /** A call is scheduled for the next turn of the event loop. */
  pending: boolean
  active: boolean
}

export interface ChangeListenerOptions {
  readonly databaseUrl: string
  readonly channel: string
  /** Whether a notifying backend is one of this store's own connections: its writes are no news to it. */
  readonly isOwnBackend: (pid: number) => boolean
}

const sleepMs = (failures: number) => Math.min(5_000, 100 * 2 ** failures) * (0.5 + Math.random() / 2)

/**
 * LISTENs on the schema's channel, on a connection of its own (a pooled one would be handed
 * to other queries), while anyone watches. Each notification calls every watcher, at most
 * once per turn of the event loop however many arrive. When the connection is lost it
 * reconnects with backoff; once listening (the first time and after each reconnect) it
 * calls every watcher once, since a notification sent while no one listened is gone.
 */
export class ChangeListener {
  private readonly watchers = new Set<Watcher>()
  /** The connection, while it is listening. */
  private client: pg.Client | undefined
  private connecting: pg.Client | undefined
  private running: Promise<void> | undefined
  private wake: (() => void) | undefined
  private closed = false
  /** The last error of the listening connection, for diagnosis; never thrown. */
  lastError: Error | undefined

  constructor(private readonly options: ChangeListenerOptions) {}

  watch(onChange: () => void, intervalMs: number): () => void {
    const watcher: Watcher = {
      onChange,
      pending: false,
      active: true,
      timer: setInterval(() => this.fire(watcher), intervalMs),
    }
    // Like the SQLite store's poll, watching alone does not keep the process alive.
    watcher.timer.unref()
    if (this.closed) {
      watcher.active = false
      clearInterval(watcher.timer)
      return () => {}
    }
    this.watchers.add(watcher)
    if (this.client !== undefined) this.fire(watcher)
    this.running ??= this.listen().finally(() => (this.running = undefined))
    return () => {
      if (!watcher.active) return
      watcher.active = false
      clearInterval(watcher.timer)
      this.watchers.delete(watcher)
      if (this.watchers.size === 0) this.hangUp()
    }
  }

  /**
   * Stops every watcher and ends the connection. A connection still being opened cannot be
   * ended (pg would leave its `connect()` unsettled), and close does not wait up to the
   * connect timeout for it: the loop ends it as soon as it is open.
   */
  async close(): Promise<void> {
    this.closed = true
    for (const watcher of this.watchers) {
      watcher.active = false
      clearInterval(watcher.timer)
    }
    this.watchers.clear()
    this.hangUp()
    if (this.connecting === undefined) await this.running
  }

  private wanted() {
    return !this.closed && this.watchers.size > 0
  }

  private hangUp() {
    void this.client?.end().catch(() => undefined)
    this.wake?.()
  }

  private fire(watcher: Watcher) {
    if (!watcher.active || watcher.pending) return
    watcher.pending = true
    setImmediate(() => {
      watcher.pending = false
      if (watcher.active) watcher.onChange()
    })
  }

  private fireAll() {
    for (const watcher of this.watchers) this.fire(watcher)
  }

  private async listen(): Promise<void> {
    let failures = 0
    while (this.wanted()) {
      const client = new pg.Client(connectionConfig(this.options.databaseUrl, "jobstate listen"))
      // Kept for the client's whole life: pg emits `error` when the backend dies, and an
      // unheard `error` event would crash the process.
      client.on("error", (error) => void (this.lastError = error))
      const lost = new Promise<void>((resolve) => {
        client.once("end", resolve)
        client.once("error", () => resolve())
      })
      client.on("notification", (n) => {
        if (!this.options.isOwnBackend(n.processId)) this.fireAll()
      })
      let listeningSince: number | undefined
      this.connecting = client
      try {
        await client.connect()
        ;(client as unknown as { unref(): void }).unref()
        await client.query(`LISTEN ${quoteIdent(this.options.channel)}`)
        this.connecting = undefined
        if (this.wanted()) {
          this.client = client
          listeningSince = Date.now()
          this.fireAll()
          await lost
        }
      } catch (error) {
        this.lastError = error as Error
      } finally {
        this.connecting = undefined
        this.client = undefined
      }
      await client.end().catch(() => undefined)
      if (!this.wanted()) break
      // A connection that listened a while is a new story; one that keeps dropping backs off further.
      failures = listeningSince !== undefined && Date.now() - listeningSince > 10_000 ? 0 : failures + 1
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, sleepMs(failures))
        timer.unref()
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = undefined
    }
  }
}
