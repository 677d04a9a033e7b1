import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** How often the checkpointer copies the WAL's new pages back into the database file. */
const CHECKPOINT_EVERY_MS = 100
/** How long closing waits for the checkpointer to close its connection. */
const STOP_WAIT_MS = 5_000

/**
 * The checkpointer's thread: its own connection to the file, a PASSIVE checkpoint every
 * `everyMs` (it never waits for, nor blocks, the engine's reads and writes), and on "stop" it
 * closes the connection and says so through the shared flag.
 */
const workerSource = /* js */ `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.module)
const { file, everyMs, stopped } = workerData
const flag = new Int32Array(stopped)
const db = new Database(file, { fileMustExist: true })
db.pragma("busy_timeout = 0")
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)")
  } catch (error) {
    // Busy (another checkpoint runs): the next tick tries again. Anything else ends the thread.
    if (error.code !== "SQLITE_BUSY" && error.code !== "SQLITE_LOCKED") throw error
  }
}, everyMs)
parentPort.on("message", () => {
  clearInterval(timer)
  db.close()
  Atomics.store(flag, 0, 1)
  Atomics.notify(flag, 0)
  parentPort.close()
})
`

/**
 * Copies the WAL back into the database file on a thread of its own. SQLite's own checkpoint
 * runs inside the commit that passes `wal_autocheckpoint`, on the event loop: thousands of pages
 * copied and an fsync, a stall of 100–250 ms in a store of a million jobs, whose index pages a
 * batch of writes scatters. The thread copies all but the last moment's pages, so the engine's
 * connection keeps its own automatic checkpoint and finds it nearly done: what it copies is what
 * was written since the thread's last pass.
 *
 * The engine's checkpoint is still needed. The WAL starts over from its beginning only when a
 * writer finds every frame copied back, and under steady writes the thread never finds that:
 * new frames arrive while it copies. Left to the thread alone, the WAL grew by some 25 KB a job
 * (250 MB over a drain of 10,000 jobs) until the store closed.
 */
export class Checkpointer {
  private readonly worker: Worker
  private readonly stopped = new SharedArrayBuffer(4)
  private stopping = false
  private exited = false

  constructor(file: string, onError: (error: Error) => void) {
    this.worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        module: createRequire(import.meta.url).resolve("better-sqlite3"),
        file,
        everyMs: CHECKPOINT_EVERY_MS,
        stopped: this.stopped,
      },
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    })
    this.worker.unref()
    this.worker.on("error", onError)
    this.worker.on("exit", () => {
      this.exited = true
    })
  }

  /**
   * Closes the thread's connection and waits (briefly, blocking) until it is closed, so that
   * the engine's connection, closed next, is the last one: it checkpoints and deletes the WAL.
   */
  stop(): void {
    if (this.stopping) return
    this.stopping = true
    if (this.exited) return
    this.worker.postMessage("stop")
    Atomics.wait(new Int32Array(this.stopped), 0, 0, STOP_WAIT_MS)
  }
}
