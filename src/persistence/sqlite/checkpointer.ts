import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import type Database from "better-sqlite3"

/** How often the checkpointer copies the WAL's new pages back into the database file. */
const CHECKPOINT_EVERY_MS = 100
/** WAL pages past which the checkpointer also starts the WAL over (4,000 pages: 16 MB). */
export const RESTART_PAGES = 4_000
/** How long the thread waits for the write lock to start the WAL over (the next tick tries again). */
const RESTART_WAIT_MS = 50
/** How long closing waits for the checkpointer to close its connection. */
const STOP_WAIT_MS = 5_000

/**
 * The checkpointer's thread: its own connection to the file and, every `everyMs`, a PASSIVE
 * checkpoint (it never waits for, nor blocks, the engine's reads and writes). Once the WAL holds
 * `restartPages`, a RESTART too: it takes the write lock between two of the engine's
 * transactions, copies what was written since the PASSIVE one (little) and sees that the next
 * writer starts the WAL from its beginning; not while a reader holds an older snapshot (the WAL
 * grew and the PASSIVE one copied nothing more). On "stop" it closes the connection and says so
 * through the shared flag.
 */
const workerSource = /* js */ `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.module)
const { file, everyMs, restartPages, restartWaitMs, stopped } = workerData
const flag = new Int32Array(stopped)
const db = new Database(file, { fileMustExist: true })
// PASSIVE never waits; this is how long a RESTART waits for the write lock and for readers.
db.pragma("busy_timeout = " + restartWaitMs)
let before = { log: 0, checkpointed: 0 }
const timer = setInterval(() => {
  try {
    const [passive] = db.pragma("wal_checkpoint(PASSIVE)")
    // The WAL grew and not one more frame could be copied: a reader holds an older snapshot. A
    // RESTART would wait for it holding the write lock, and could not start the WAL over anyway.
    const held = passive.log > before.log && passive.checkpointed === before.checkpointed
    before = passive
    if (passive.log >= restartPages && !held) db.pragma("wal_checkpoint(RESTART)")
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
 * batch of writes scatters. The engine's connection checkpoints no more (`wal_autocheckpoint =
 * 0`) while the thread lives; should the thread end, it does again (`fallbackPages`).
 *
 * The thread also starts the WAL over. SQLite does that only when a writer finds every frame
 * copied back, and under steady writes a PASSIVE checkpoint never leaves it so: new frames
 * arrive while it copies. With PASSIVE checkpoints alone the WAL grew by some 25 KB a job
 * (250 MB over a drain of 10,000 jobs) until the store closed. A RESTART holds the write lock
 * while it copies the last few frames: a write meanwhile waits for it (on this thread at most
 * `SYNC_BUSY_MS`, then asynchronously; connection.ts).
 */
export class Checkpointer {
  private readonly worker: Worker
  private readonly stopped = new SharedArrayBuffer(4)
  private stopping = false
  private exited = false

  constructor(
    private readonly db: Database.Database,
    file: string,
    fallbackPages: number,
    onError: (error: Error) => void,
  ) {
    db.pragma("wal_autocheckpoint = 0")
    this.worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        module: createRequire(import.meta.url).resolve("better-sqlite3"),
        file,
        everyMs: CHECKPOINT_EVERY_MS,
        restartPages: RESTART_PAGES,
        restartWaitMs: RESTART_WAIT_MS,
        stopped: this.stopped,
      },
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    })
    this.worker.unref()
    this.worker.on("error", onError)
    this.worker.on("exit", () => {
      this.exited = true
      if (!this.stopping && this.db.open) this.db.pragma(`wal_autocheckpoint = ${fallbackPages}`)
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
