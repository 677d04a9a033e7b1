import { EventsOverflow } from "../jobs/errors.js"
import { isJobStatus } from "../jobs/JobStatus.js"
import type { DbEvent, JobStore } from "../persistence/JobStore.js"
import type { ManagerEvent, ManagerEventListeners } from "./JobEvents.js"

/** Rows read per look at `job_events`; more are read at once when a look comes back full. */
const READ_BATCH = 500
/** How long a seq skipped by a read (its commit not yet visible, PostgreSQL) is looked for again. */
const GAP_WAIT_MS = 10_000
const MAX_GAPS = 10_000
/** `job_events` rows are kept this long, then trimmed by the managers that read them. */
const KEEP_EVENTS_MS = 60_000
const TRIM_EVERY_MS = 15_000

export interface ManagerEventsOptions {
  readonly managerId: string
  /** Events a subscriber may have waiting (statuses and logs; progress is coalesced per job). */
  readonly bufferSize: number
  /** Called when the manager gains its first subscriber (true) or loses its last (false). */
  readonly onListening: (listening: boolean) => void
  readonly onError: (error: unknown) => void
}

/**
 * `manager.events`: every job's status changes, progress and log lines. This manager's own
 * come from the engine as they happen; other processes' from `job_events`, read when the store
 * reports news (see `JobStore.watch`). Each iteration is its own subscription, with its own
 * bounded buffer, so a slow consumer holds up neither the engine nor other subscribers.
 */
export class ManagerEvents {
  private readonly subscriptions = new Set<Subscription>()
  private closed = false
  private offLocal: (() => void) | undefined
  /** The last `job_events` seq read; undefined until a subscriber's start has read where to begin. */
  private cursor: number | undefined
  private starting: Promise<void> | undefined
  private readonly gaps = new Map<number, number>()
  private reading: Promise<void> | undefined
  private readAgain = false
  private readonly marks: Array<{ readonly ms: number; readonly seq: number }> = []

  constructor(
    private readonly local: ManagerEventListeners,
    private readonly store: JobStore,
    private readonly options: ManagerEventsOptions,
  ) {}

  /** Subscribes at the first `next()`-able moment: the call of `[Symbol.asyncIterator]()`. */
  readonly iterable: AsyncIterable<ManagerEvent> = {
    [Symbol.asyncIterator]: () => this.subscribe(),
  }

  get listening(): boolean {
    return this.subscriptions.size > 0
  }

  private subscribe(): AsyncIterator<ManagerEvent> {
    const subscription = new Subscription(this.options.bufferSize, () => this.unsubscribe(subscription))
    if (this.closed) {
      subscription.end()
      return subscription
    }
    this.subscriptions.add(subscription)
    if (this.subscriptions.size === 1) this.start()
    return subscription
  }

  private unsubscribe(subscription: Subscription) {
    if (!this.subscriptions.delete(subscription) || this.subscriptions.size > 0) return
    this.offLocal?.()
    this.offLocal = undefined
    this.cursor = undefined
    this.gaps.clear()
    this.marks.length = 0
    if (!this.closed) this.options.onListening(false)
  }

  private start() {
    this.offLocal = this.local.subscribe((event) => this.deliver(event))
    this.options.onListening(true)
    const started = (this.starting = this.store.lastEventSeq().then(
      (seq) => {
        if (this.starting === started && this.listening) this.cursor = seq
      },
      (error) => this.options.onError(error),
    ))
  }

  private deliver(event: ManagerEvent) {
    for (const s of this.subscriptions) s.push(event)
  }

  /**
   * Another process may have written: reads its `job_events` rows (not this manager's own,
   * which its subscribers had from the engine) and delivers them. One read at a time.
   */
  async poll(): Promise<void> {
    if (!this.listening || this.closed) return
    if (this.reading !== undefined) {
      this.readAgain = true
      return this.reading
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false
          await this.readRemote()
        } while (this.readAgain && this.listening && !this.closed)
      } finally {
        this.reading = undefined
      }
    })()
    return this.reading
  }

  private async readRemote() {
    await this.starting
    for (;;) {
      const from = this.cursor
      if (from === undefined || !this.listening || this.closed) return
      const now = Date.now()
      for (const [seq, until] of this.gaps) if (until < now) this.gaps.delete(seq)
      const rows = await this.store.eventsAfter(from, [...this.gaps.keys()], READ_BATCH)
      if (this.cursor !== from) return // the last subscriber left (and maybe another came) meanwhile
      let cursor = from
      for (const row of rows) {
        if (row.seq > cursor) {
          // A seq skipped below this row may be a commit not yet visible (PostgreSQL gives seqs
          // before commit): looked for again for a while. SQLite never leaves one.
          for (let missing = cursor + 1; missing < row.seq && this.gaps.size < MAX_GAPS; missing++)
            this.gaps.set(missing, now + GAP_WAIT_MS)
          cursor = row.seq
        } else if (!this.gaps.delete(row.seq)) continue
        if (row.writer === this.options.managerId) continue
        const event = toManagerEvent(row)
        if (event !== undefined) this.deliver(event)
      }
      this.cursor = cursor
      this.trim(now)
      if (rows.length < READ_BATCH) return
    }
  }

  /** Every TRIM_EVERY_MS, notes the cursor; deletes the rows below a note older than KEEP_EVENTS_MS. */
  private trim(now: number) {
    const last = this.marks[this.marks.length - 1]
    if (this.cursor !== undefined && (last === undefined || now - last.ms >= TRIM_EVERY_MS))
      this.marks.push({ ms: now, seq: this.cursor })
    let below: number | undefined
    while (this.marks.length > 0 && now - this.marks[0]!.ms >= KEEP_EVENTS_MS) below = this.marks.shift()!.seq
    // Below a seq once read: the newest row is never deleted, so a SQLite rowid is never reused.
    if (below !== undefined) this.store.trimEvents(below).catch(this.options.onError)
  }

  /** Ends every subscription (after what each has buffered): the manager is closing. */
  close() {
    this.closed = true
    this.offLocal?.()
    this.offLocal = undefined
    for (const s of [...this.subscriptions]) s.end()
    this.subscriptions.clear()
  }
}

const toManagerEvent = (row: DbEvent): ManagerEvent | undefined => {
  let body: Record<string, unknown>
  try {
    body = JSON.parse(row.body) as Record<string, unknown>
  } catch {
    return undefined
  }
  const base = { id: row.job_id, name: row.name, at: row.at, manager: row.writer }
  switch (row.type) {
    case "status":
      return isJobStatus(body.status) ? { type: "status", ...base, status: body.status } : undefined
    case "progress":
      return typeof body.progress === "object" && body.progress !== null
        ? { type: "progress", ...base, progress: body.progress as never }
        : undefined
    case "log":
      return typeof body.message === "string"
        ? {
            type: "log",
            ...base,
            level: (body.level as "debug" | "info" | "warn" | "error") ?? "info",
            message: body.message,
          }
        : undefined
    default:
      return undefined
  }
}

/**
 * One iteration of `manager.events`: a queue of at most `bound` waiting events. A progress event
 * replaces the same job's progress still waiting (the latest value is what matters), so only
 * statuses and log lines can fill it; past the bound the subscription fails with
 * `EventsOverflow` at its next read, and what it had waiting is dropped.
 */
class Subscription implements AsyncIterator<ManagerEvent> {
  private items: Array<ManagerEvent | undefined> = []
  private head = 0
  private size = 0
  /** Job id → index in `items` of its progress event still waiting. */
  private readonly waitingProgress = new Map<string, number>()
  private wake: (() => void) | undefined
  private ended = false
  private failure: EventsOverflow | undefined

  constructor(
    private readonly bound: number,
    private readonly onDone: () => void,
  ) {}

  push(event: ManagerEvent) {
    if (this.ended) return
    if (event.type === "progress") {
      const waiting = this.waitingProgress.get(event.id)
      if (waiting !== undefined) {
        this.items[waiting] = undefined
        this.size--
      }
      this.waitingProgress.set(event.id, this.items.length)
    } else if (this.size >= this.bound) {
      this.failure = new EventsOverflow({ limit: this.bound })
      this.stop()
      return
    }
    this.items.push(event)
    this.size++
    this.poke()
  }

  end() {
    this.ended = true
    this.poke()
  }

  private poke() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async next(): Promise<IteratorResult<ManagerEvent>> {
    for (;;) {
      while (this.head < this.items.length) {
        const index = this.head++
        const event = this.items[index]
        this.items[index] = undefined
        if (event === undefined) continue
        this.size--
        if (event.type === "progress" && this.waitingProgress.get(event.id) === index)
          this.waitingProgress.delete(event.id)
        this.compact()
        return { value: event, done: false }
      }
      if (this.failure !== undefined) {
        const failure = this.failure
        this.failure = undefined
        throw failure
      }
      if (this.ended) {
        this.onDone()
        return { value: undefined, done: true }
      }
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  async return(): Promise<IteratorResult<ManagerEvent>> {
    this.stop()
    return { value: undefined, done: true }
  }

  /** Ends the subscription at once, dropping what waits in it. */
  private stop() {
    this.ended = true
    this.items = []
    this.head = 0
    this.size = 0
    this.waitingProgress.clear()
    this.onDone()
    this.poke()
  }

  /** Drops the consumed front of the queue once it is most of it. */
  private compact() {
    if (this.head < 1024 || this.head * 2 < this.items.length) return
    const head = this.head
    this.items = this.items.slice(head)
    this.head = 0
    for (const [id, index] of this.waitingProgress) this.waitingProgress.set(id, index - head)
  }
}
