import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JobManager, type JobManagerOptions } from "../../src/index.js"
import { managerDefaults, resolveOptions } from "../../src/actors/managerOptions.js"
import { allTestJobs, NoopJob } from "../fixtures/jobs.js"
import { storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"

describe("JobManager.open's options", () => {
  it("refuses each bad option with InvalidOptions naming it, before anything is created", async () => {
    const cases: Array<[Partial<JobManagerOptions>, string, string]> = [
      [{ concurrency: -1 }, "concurrency", "expected an integer ≥ 0, got -1"],
      [{ concurrency: 1.5 }, "concurrency", "expected an integer ≥ 0, got 1.5"],
      [{ leaseMs: 10 }, "leaseMs", "expected an integer ≥ 50, got 10"],
      [{ leaseMs: Number.NaN }, "leaseMs", "expected an integer ≥ 50, got NaN"],
      [{ pollIntervalMs: 0 }, "pollIntervalMs", "expected an integer ≥ 1, got 0"],
      [{ pollIntervalMs: "100" as never }, "pollIntervalMs", 'expected an integer ≥ 1, got "100"'],
      [{ progressThrottleMs: -5 }, "progressThrottleMs", "expected an integer ≥ 0, got -5"],
      [{ interruptGraceMs: Number.POSITIVE_INFINITY }, "interruptGraceMs", "expected an integer ≥ 0, got Infinity"],
      // It was interpolated into a pragma.
      [
        { busyTimeoutMs: "5000; DROP TABLE jobs" as never },
        "busyTimeoutMs",
        'expected an integer ≥ 0, got "5000; DROP TABLE jobs"',
      ],
      [{ eventBufferSize: 0 }, "eventBufferSize", "expected an integer ≥ 1, got 0"],
      [{ generateId: "uuid" as never }, "generateId", "expected a function, got string"],
      [{ onError: 1 as never }, "onError", "expected a function, got number"],
      [{ types: ["nope"] }, "types", '"nope" is not one of the registered job types'],
      [{ types: "noop" as never }, "types", "expected an array of job type names"],
      // From JavaScript a misspelled option would otherwise be ignored.
      [{ concurency: 2 } as never, "concurency", "JobManager.open has no such option (did you mean concurrency?)"],
      [{ leaseTime: 2 } as never, "leaseTime", "JobManager.open has no such option"],
    ]
    for (const [given, option, detail] of cases) {
      const dataDir = join(tempDir(), "data")
      const refused = await JobManager.open({ ...storeFor(dataDir), jobs: allTestJobs, ...given }).then(
        async (m) => {
          await m.close()
          return undefined
        },
        (e: unknown) => e,
      )
      expect([option, refused]).toMatchObject([option, { _tag: "InvalidOptions", option, detail }])
      // Nothing made: no data dir, no jobs.db.
      expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([])
    }
  })

  it("refuses a data dir that is a file (or inside one) as InvalidOptions naming dataDir, leaving the file as it was", async () => {
    const file = join(tempDir(), "notes.txt")
    writeFileSync(file, "keep me")
    for (const dataDir of [file, join(file, "sub")]) {
      const refused = await JobManager.open({ dataDir, jobs: [NoopJob] }).catch((e: unknown) => e)
      expect(refused).toMatchObject({
        _tag: "InvalidOptions",
        option: "dataDir",
        detail: expect.stringContaining("not a directory"),
      })
    }
    expect(readFileSync(file, "utf8")).toBe("keep me")
  })

  it("fills every default in one place", () => {
    const resolved = resolveOptions({ dataDir: "/x", jobs: [NoopJob] })
    expect(resolved).toMatchObject(managerDefaults)
    expect(resolved).toMatchObject({ runOnlyOwn: false, concurrency: 4, leaseMs: 5_000, busyTimeoutMs: 5_000 })
    expect(typeof resolved.now).toBe("function")
    expect(typeof resolved.generateId).toBe("function")
  })
})
