import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager } from "../../src/index.js"
import { pack, unpack } from "../../src/persistence/codec.js"
import { allTestJobs, CountJob, NoopJob } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { rawSql, readRow, readRows, storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}

const itemsOf = (file: string, id: string) =>
  lines(file)
    .filter((l) => l.startsWith(`${id} `))
    .map((l) => Number(l.split(" ")[1]))

describe("recovery on open", () => {
  it("keeps a user-paused job paused and resumes a job that close() paused", async () => {
    const dataDir = tempDir()
    const effectsFile = join(dataDir, "effects.txt")
    const first = await JobManager.open({ ...storeFor(dataDir), jobs: allTestJobs })
    const userPaused = await first.dispatch(CountJob, { n: 30, effectsFile, delayMs: 3 })
    const closePaused = await first.dispatch(CountJob, { n: 30, effectsFile, delayMs: 3 })
    await waitUntil(
      () => itemsOf(effectsFile, userPaused.id).length >= 3 && itemsOf(effectsFile, closePaused.id).length >= 3,
    )
    await first.pause(userPaused.id)
    await first.close()
    const atClose = itemsOf(effectsFile, closePaused.id).length

    const rows = (await readRows(dataDir)).map(({ id, status, paused_by }) => ({ id, status, paused_by }))
    expect(rows).toEqual(
      expect.arrayContaining([
        { id: userPaused.id, status: "paused", paused_by: "user" },
        { id: closePaused.id, status: "paused", paused_by: "shutdown" },
      ]),
    )

    const second = await openManager({ dataDir })
    expect(await (await second.handle(closePaused.id)).result()).toMatchObject({ counted: 30, attempt: 2 })
    expect(itemsOf(effectsFile, closePaused.id)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    expect(atClose).toBeLessThan(30)
    expect(await (await second.handle(userPaused.id)).status()).toBe("paused")
  })

  it("fails, with a message naming the row and the cause, each row of its types it cannot understand, and runs the rest", async () => {
    const dataDir = tempDir()
    // A producer: it stores the jobs and runs none of them.
    const first = await JobManager.open({ ...storeFor(dataDir), jobs: allTestJobs, concurrency: 0 })
    const ids: string[] = []
    for (let i = 0; i < 6; i++) ids.push((await first.dispatch(NoopJob, { tag: `n${i}` })).id)
    await first.close()

    const set = (id: string, column: string, value: unknown) =>
      rawSql(dataDir, `UPDATE jobs SET ${column} = $1 WHERE id = $2`, [value, id])
    await set(ids[0]!, "data", Buffer.from([0xc1, 0xff, 0x00]))
    await set(ids[1]!, "snapshot", Buffer.from("garbage"))
    await set(ids[2]!, "status", "exploded")
    await set(ids[3]!, "name", "retired_job_type")
    // A snapshot from a machine version that had a state this one has not.
    const snap = (await readRow(dataDir, ids[4]!))!.snapshot
    await set(ids[4]!, "snapshot", pack({ ...(unpack(snap, "t") as object), value: "warming_up" }))

    const second = await openManager({ dataDir })
    const healthy = await second.handle(ids[5]!)
    expect(await healthy.result()).toEqual({ tag: "n5" })
    for (const [i, cause] of [
      [0, "MessagePack"],
      [1, "snapshot"],
      [2, "exploded"],
      [4, "warming_up"],
    ] as const) {
      await waitUntil(async () => (await second.getJobInfo(ids[i]!)).status === "failed", 20_000, `row ${i} failed`)
      const info = await second.getJobInfo(ids[i]!)
      expect(info.error?.message).toContain(ids[i]!)
      expect(info.error?.message).toContain(cause)
    }
    // A type this manager does not run is not its to judge: the row waits for a worker of its type.
    const retired = await second.getJobInfo(ids[3]!)
    expect(retired).toMatchObject({ status: "queued", waitingForWorker: true, error: null })
  })

  it("resumes from the last checkpoint after the process is killed with SIGKILL, redoing nothing before it", async () => {
    const dataDir = tempDir()
    const effectsFile = join(dataDir, "effects.txt")
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/fixtures/crashWorker.ts", dataDir, "--dispatch", "60", effectsFile, "10"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    )
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    const id = await waitUntil(() => /dispatched (\S+)/.exec(out)?.[1], 30_000, "the child to dispatch")
    await waitUntil(() => itemsOf(effectsFile, id).length >= 10, 30_000, "ten items")
    const exited = new Promise((r) => child.on("exit", r))
    child.kill("SIGKILL")
    await exited

    const row = (await readRow(dataDir, id))!
    expect(row.status).toBe("running")
    const checkpointed = row.state_version
    // Ten side effects were seen; the tenth may not have reached its checkpoint before the kill.
    expect(checkpointed).toBeGreaterThanOrEqual(9)

    const manager = await openManager({ dataDir })
    expect(await (await manager.handle(id)).result()).toMatchObject({ counted: 60, attempt: 2 })
    const items = itemsOf(effectsFile, id)
    const counts = new Map<number, number>()
    for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1)
    for (let i = 0; i < 60; i++) {
      // Items before the last committed checkpoint are never redone; only the one in flight may be.
      expect(counts.get(i), `item ${i}`).toBe(i === checkpointed ? counts.get(i) : 1)
    }
    expect(counts.get(checkpointed) ?? 0).toBeLessThanOrEqual(2)
    const info = await manager.getJobInfo(id)
    expect(info.status).toBe("completed")
    expect(info.attempts).toBe(2)
  })
})
