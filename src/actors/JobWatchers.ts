import { JobCancelled, JobFailed, JobNotFound, ManagerClosed, type StoredError } from "../jobs/errors.js"
import { isJobStatus, isTerminalStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import { decodeJsonWith } from "../persistence/codec.js"
import type { JobRegistry } from "../jobs/JobRegistry.js"
import type { JobStore } from "../persistence/JobStore.js"
import type { JobEngine } from "./JobEngine.js"
import type { JobEvent } from "./JobEvents.js"
import { toJobInfo } from "./JobInfo.js"

/**
 * What handles wait on: a job's result and its progress stream. Jobs this process runs are
 * followed through the engine's events; jobs another process may finish, through the store
 * (`checkRemote`, called by the manager's poll when another connection has committed).
 */
export class JobWatchers {
  private readonly closeListeners = new Set<() => void>()
  /** result() calls waiting on jobs that another process may finish. */
  private readonly remoteWaiters = new Map<string, Set<() => void>>()
  /** progress streams of jobs another process may run: each looks at the job's row on news. */
  private readonly remoteProgress = new Set<() => Promise<void>>()

  constructor(
    private readonly engine: JobEngine,
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
  ) {}

  /** Settles every remote waiter whose job the store now shows ended (or gone), and tells progress streams what changed. */
  async checkRemote() {
    for (const [id, waiters] of [...this.remoteWaiters]) {
      if (this.engine.isLive(id)) continue
      const row = await this.store.getJob(id)
      if (row === undefined || (isJobStatus(row.status) && isTerminalStatus(row.status)))
        for (const settle of [...waiters]) settle()
    }
    for (const look of [...this.remoteProgress]) await look()
  }

  /** Rejects pending results and ends progress streams: the manager is closing. */
  closeAll() {
    for (const l of [...this.closeListeners]) l()
  }

  /**
   * The job's output once it completes. While a caller waits, the process stays alive: a job
   * may be waiting for its time (a delay, a retry's backoff) or run by another process, and
   * nothing else of the manager holds the event loop open.
   */
  result(id: string): Promise<unknown> {
    const keepAlive = setInterval(() => {}, 60_000)
    return this.waitForResult(id).finally(() => clearInterval(keepAlive))
  }

  private waitForResult(id: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let unsubscribe = () => {}
      let done = false
      const settle = async () => {
        let row
        try {
          row = await this.store.getJob(id)
        } catch (error) {
          unsubscribe()
          return reject(error)
        }
        if (done) return
        if (row === undefined) {
          unsubscribe()
          return reject(new JobNotFound({ id }))
        }
        const info = toJobInfo(row)
        if (!isTerminalStatus(info.status)) return
        done = true
        unsubscribe()
        if (info.status === "completed") {
          const definition = this.registry.get(row.name)
          try {
            resolve(decodeJsonWith(definition?.output, info.output, `output of job ${id}`))
          } catch (error) {
            reject(error)
          }
        } else if (info.status === "cancelled") reject(new JobCancelled({ id }))
        else
          reject(
            new JobFailed({
              id,
              error: info.error ?? ({ _tag: "Unknown", message: "no error stored" } as StoredError),
            }),
          )
      }
      const offStatus = this.engine.subscribe(id, (event) => {
        // Read after the current transaction: status events may be emitted inside it.
        if (event.type === "status" && isTerminalStatus(event.status)) void settle()
        if (event.type === "unrecorded") {
          unsubscribe()
          reject(event.error)
        }
      })
      const onClose = () => {
        unsubscribe()
        reject(new ManagerClosed())
      }
      this.closeListeners.add(onClose)
      // Another process may run and finish the job: then only the store can tell (see poll()).
      const waiters = this.remoteWaiters.get(id) ?? this.remoteWaiters.set(id, new Set()).get(id)!
      const settleRemote = () => void settle()
      waiters.add(settleRemote)
      unsubscribe = () => {
        offStatus()
        waiters.delete(settleRemote)
        if (waiters.size === 0) this.remoteWaiters.delete(id)
        this.closeListeners.delete(onClose)
      }
      void settle()
    })
  }

  /**
   * The job's progress values as they come, ending with the job. A job this process runs is
   * followed through the engine's events; one another process runs, through its row, read when
   * the store has news (the values it stored: the last of a burst, at most one per
   * `progressThrottleMs` of the process that runs it). While a caller iterates, the process
   * stays alive, as for `result()`.
   */
  progress(id: string): AsyncIterable<Progress<unknown>> {
    const engine = this.engine
    const store = this.store
    const closeListeners = this.closeListeners
    const remoteProgress = this.remoteProgress
    return {
      [Symbol.asyncIterator]() {
        let latest: Progress<unknown> | undefined
        let ended = false
        let wake: (() => void) | undefined
        const keepAlive = setInterval(() => {}, 60_000)
        const poke = () => {
          wake?.()
          wake = undefined
        }
        const end = () => {
          ended = true
          poke()
        }
        const off = engine.subscribe(id, (event: JobEvent) => {
          if (event.type === "progress") latest = event.progress
          else if (event.type === "unrecorded" || (event.type === "status" && isTerminalStatus(event.status)))
            ended = true
          else return
          poke()
        })
        closeListeners.add(end)
        // Run elsewhere: what its row says, when it changed since the last look.
        let seen: string | null = null
        const look = async () => {
          if (ended || engine.isLive(id)) return
          let row
          try {
            row = await store.getJob(id)
          } catch {
            return // the store failed this time: the next news looks again
          }
          if (row === undefined) return end()
          if (row.progress_data !== null && row.progress_data !== seen) {
            seen = row.progress_data
            latest = JSON.parse(row.progress_data) as Progress<unknown>
          }
          if (isTerminalStatus(toJobInfo(row).status)) ended = true
          poke()
        }
        remoteProgress.add(look)
        const checked = store.getJob(id).then(
          (row) => {
            if (row === undefined || isTerminalStatus(toJobInfo(row).status)) ended = true
            // What it has stored already is where a stream of a job run elsewhere begins.
            else if (row.progress_data !== null && !engine.isLive(id) && latest === undefined) {
              seen = row.progress_data
              latest = JSON.parse(row.progress_data) as Progress<unknown>
            }
          },
          () => void (ended = true),
        )
        const finish = () => {
          off()
          closeListeners.delete(end)
          remoteProgress.delete(look)
          clearInterval(keepAlive)
        }
        return {
          async next(): Promise<IteratorResult<Progress<unknown>>> {
            await checked
            while (latest === undefined && !ended) await new Promise<void>((r) => (wake = r))
            if (latest !== undefined) {
              const value = latest
              latest = undefined
              return { value, done: false }
            }
            finish()
            return { value: undefined, done: true }
          },
          async return(): Promise<IteratorResult<Progress<unknown>>> {
            finish()
            return { value: undefined, done: true }
          },
        }
      },
    }
  }
}
