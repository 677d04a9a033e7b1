import { JobCancelled, JobFailed, JobNotFound, ManagerClosed, type StoredError } from "../jobs/errors.js"
import { isJobStatus, isTerminalStatus } from "../jobs/JobStatus.js"
import type { Progress } from "../jobs/Progress.js"
import { decodeWith } from "../persistence/codec.js"
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

  constructor(private readonly engine: JobEngine) {}

  /** Settles every remote waiter whose job the store now shows ended (or gone). */
  checkRemote() {
    for (const [id, waiters] of this.remoteWaiters) {
      if (this.engine.live.has(id)) continue
      const status = this.engine.store.statusOf(id)
      if (status === undefined || (isJobStatus(status) && isTerminalStatus(status))) for (const settle of [...waiters]) settle()
    }
  }

  /** Rejects pending results and ends progress streams: the manager is closing. */
  closeAll() {
    for (const l of [...this.closeListeners]) l()
  }

  result(id: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let unsubscribe = () => {}
      const settle = () => {
        let row
        try {
          row = this.engine.store.getJob(id)
        } catch (error) {
          unsubscribe()
          return reject(error)
        }
        if (row === undefined) {
          unsubscribe()
          return reject(new JobNotFound({ id }))
        }
        const info = toJobInfo(row)
        if (!isTerminalStatus(info.status)) return
        unsubscribe()
        if (info.status === "completed") {
          const definition = this.engine.registry.get(row.name)
          try {
            resolve(decodeWith(definition?.output, info.output, `output of job ${id}`))
          } catch (error) {
            reject(error)
          }
        } else if (info.status === "cancelled") reject(new JobCancelled({ id }))
        else reject(new JobFailed({ id, error: info.error ?? ({ _tag: "Unknown", message: "no error stored" } as StoredError) }))
      }
      const offStatus = this.engine.subscribe(id, (event) => {
        // Read after the current transaction: status events may be emitted inside it.
        if (event.type === "status" && isTerminalStatus(event.status)) queueMicrotask(settle)
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
      waiters.add(settle)
      unsubscribe = () => {
        offStatus()
        waiters.delete(settle)
        if (waiters.size === 0) this.remoteWaiters.delete(id)
        this.closeListeners.delete(onClose)
      }
      settle()
    })
  }

  progress(id: string): AsyncIterable<Progress<unknown>> {
    const engine = this.engine
    const closeListeners = this.closeListeners
    return {
      [Symbol.asyncIterator]() {
        let latest: Progress<unknown> | undefined
        let ended = false
        let wake: (() => void) | undefined
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
          else if (event.type === "unrecorded" || isTerminalStatus(event.status)) ended = true
          poke()
        })
        closeListeners.add(end)
        const row = engine.store.getJob(id)
        if (row === undefined || isTerminalStatus(toJobInfo(row).status)) ended = true
        const finish = () => {
          off()
          closeListeners.delete(end)
        }
        return {
          async next(): Promise<IteratorResult<Progress<unknown>>> {
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
