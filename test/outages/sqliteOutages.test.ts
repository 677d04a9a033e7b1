/**
 * The fault suite on SQLite: a full disk (a small tmpfs of the test's own, filled up, then freed)
 * while three worker processes drain jobs; a file locked by another process (`BEGIN EXCLUSIVE`
 * for longer than the busy timeout) while a manager runs, measuring its event loop; a damaged
 * `jobs.db` (truncated, garbage), refused and left as it was. Mounting needs root (CI is).
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { JobManager, PersistenceError } from "../../src/index.js"
import { tempDir } from "../fixtures/tempDir.js"
import { holdLock } from "../fixtures/lockHolder.js"
import { waitUntil } from "../fixtures/waitUntil.js"
import { effectViolations, FaultCountJob, readEffects } from "./faultJobs.js"
import { runUnderFault } from "./harness.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const say = (line: string) => console.log(`[faults] ${line}`)

/** Fills the file system that holds `dir` with one file, to the last byte it takes. */
const fillUp = (file: string) => {
  const fd = openSync(file, "w")
  try {
    for (const size of [1 << 20, 1 << 12, 1 << 9]) {
      const chunk = Buffer.alloc(size, 1)
      for (;;) {
        try {
          writeSync(fd, chunk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break
          throw error
        }
      }
    }
  } finally {
    closeSync(fd)
  }
}

/** The longest time the event loop was kept from running a 10 ms timer, in ms, from now until `stop()`. */
const stallMeter = () => {
  let last = performance.now()
  let max = 0
  const timer = setInterval(() => {
    const now = performance.now()
    max = Math.max(max, now - last - 10)
    last = now
  }, 10)
  return {
    stop: () => {
      clearInterval(timer)
      return Math.max(max, performance.now() - last - 10)
    },
  }
}

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("SQLite faults", () => {
  it("drains through a full disk with three worker processes: the writes wait, every job completes once, integrity ok", async () => {
    const mount = tempDir()
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mount])
    try {
      const dataDir = join(mount, "data")
      mkdirSync(dataDir)
      const filler = join(mount, "filler")
      const result = await runUnderFault({
        dataDir,
        n: 60,
        inject: async (drain) => {
          fillUp(filler)
          const full = Date.now()
          await waitUntil(
            () => drain.reported().some((l) => /full/i.test(l)),
            60_000,
            "a worker to report the full disk",
          )
          say(`disk full: first reported ${Date.now() - full} ms after it filled up`)
          // Full for longer than a commit's first three tries (1.3 s), and short enough that the
          // store answers again within the next write's: before, the attempt failed and its
          // failure was recorded, the job failed for good.
          await sleep(1_500)
          const from = drain.effects()
          rmSync(filler)
          const freed = Date.now()
          const resumed = await drain.progressAfter(from)
          if (resumed === undefined) throw new Error("the drain ended while the disk was full: make it longer")
          say(`disk full: work resumed ${Math.max(0, resumed - freed)} ms after space was freed`)
          return 1
        },
      })
      expect(result.violations).toEqual([])
      const lines = result.reported.flat()
      expect(lines.some((l) => /PersistenceError: .*full/i.test(l))).toBe(true)
      expect(lines.some((l) => l.startsWith("StoreRecovered: "))).toBe(true)
      const db = new Database(join(dataDir, "jobs.db"), { readonly: true })
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok")
      } finally {
        db.close()
      }
    } finally {
      execFileSync("umount", ["-l", mount])
    }
  }, 240_000)

  it("waits for a file another process holds locked without stalling its event loop, then reports it, losing nothing", async () => {
    const dataDir = tempDir()
    const effectsFile = join(tempDir(), "effects.log")
    const errors: unknown[] = []
    const manager = await JobManager.open({
      dataDir,
      jobs: [FaultCountJob],
      concurrency: 2,
      onError: (e) => errors.push(e),
    })
    try {
      const first = await manager.dispatch(FaultCountJob, { n: 40, delayMs: 20, effectsFile })
      await waitUntil(() => readEffects(effectsFile).length >= 5, 20_000, "the job to get going")
      // Held for longer than busyTimeoutMs (5 s): calls wait, then fail with a PersistenceError.
      const { released } = await holdLock(join(dataDir, "jobs.db"), "EXCLUSIVE", 6_500)
      const meter = stallMeter()
      // A dispatch while the file is locked: waits (the event loop free), and fails only past busyTimeoutMs.
      const second = manager.dispatch(FaultCountJob, { n: 10, delayMs: 5, effectsFile }).catch((e) => e)
      await released
      await sleep(300)
      const stallMs = meter.stop()
      say(`a file locked for 6.5 s: the longest event-loop stall was ${stallMs.toFixed(0)} ms`)
      // Before: better-sqlite3 waited out busy_timeout on this thread, 5 000 ms at a time.
      expect(stallMs).toBeLessThan(1_000)
      const dispatched = await second
      expect(dispatched).toBeInstanceOf(PersistenceError)
      expect((dispatched as PersistenceError).detail).toMatch(/locked by another connection; waited 5000 ms/)
      // The job's writes waited through it: it completes, each item once.
      expect(await first.result()).toEqual({ counted: 40 })
      expect(effectViolations(readEffects(effectsFile), [first.id], 40, 0)).toEqual([])
      expect(errors.some((e) => e instanceof PersistenceError && /locked/.test(e.detail))).toBe(true)
      await waitUntil(
        () => errors.some((e) => (e as { _tag?: string })._tag === "StoreRecovered"),
        20_000,
        "StoreRecovered",
      )
      expect((await manager.getJobInfo(first.id)).failures).toBe(0)
    } finally {
      await manager.close()
    }
  }, 120_000)

  it("refuses a truncated or garbage jobs.db with one clear error, and leaves it byte for byte as it was", async () => {
    const source = tempDir()
    const manager = await JobManager.open({ dataDir: source, jobs: [FaultCountJob], concurrency: 0 })
    for (let i = 0; i < 200; i++)
      await manager.dispatch(FaultCountJob, { n: 1, delayMs: 0, effectsFile: join(source, "effects.log") })
    await manager.close()
    const whole = readFileSync(join(source, "jobs.db"))
    expect(whole.length).toBeGreaterThan(16_384)

    for (const [what, bytes] of [
      ["truncated", whole.subarray(0, Math.floor(whole.length / 2))],
      ["garbage", Buffer.alloc(whole.length, 0x5a)],
    ] as const) {
      const dataDir = tempDir()
      writeFileSync(join(dataDir, "jobs.db"), bytes)
      const before = sha(join(dataDir, "jobs.db"))
      const error = await JobManager.open({ dataDir, jobs: [FaultCountJob] }).catch((e) => e)
      expect(error, what).toBeInstanceOf(PersistenceError)
      expect(error.reason).toBe("Open")
      expect(error.message).toContain(join(dataDir, "jobs.db"))
      expect(error.message).toMatch(/malformed|not a database/)
      expect(sha(join(dataDir, "jobs.db")), what).toBe(before)
    }
  })
})
