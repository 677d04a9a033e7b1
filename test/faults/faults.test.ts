import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { defineJob, JobFailed, JobManager, PersistenceError } from "../../src/index.js"
import { allTestJobs } from "../fixtures/jobs.js"
import { openManager } from "../fixtures/openManager.js"
import { rawSql, storeFor, storeKind } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

const SyncThrowJob = defineJob({
  name: "sync_throw",
  params: Schema.Struct({}),
  run: () => {
    throw new TypeError("thrown before any Effect")
  },
})

const release = (() => {
  let go = () => {}
  const gate = new Promise<void>((r) => (go = r))
  return { gate, go: () => go() }
})()

/** Checkpoints once, waits for the test, then completes (and says whether it was resumed). */
const GatedJob = defineJob({
  name: "gated",
  params: Schema.Struct({}),
  state: Schema.Struct({ checkpointed: Schema.Boolean }),
  initialState: () => ({ checkpointed: false }),
  output: Schema.Struct({ resumed: Schema.Boolean }),
  run: (ctx) =>
    Effect.gen(function* () {
      const resumed = ctx.state.checkpointed
      if (!resumed) {
        yield* ctx.checkpoint({ checkpointed: true })
        yield* Effect.promise(() => release.gate)
      }
      return { resumed }
    }),
})

/** Makes the store refuse every write that would complete a job (as a full disk or a lost server would). */
const refuseCompletions = (dataDir: string) =>
  storeKind === "sqlite"
    ? rawSql(
        dataDir,
        `CREATE TRIGGER refuse_completion BEFORE UPDATE ON jobs WHEN NEW.status = 'completed'
         BEGIN SELECT RAISE(ABORT, 'completion refused by the test'); END`,
      )
    : rawSql(
        dataDir,
        `CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.status = 'completed' THEN RAISE EXCEPTION 'completion refused by the test'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_completion BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_completion();`,
      )

const allowCompletions = (dataDir: string) =>
  storeKind === "sqlite"
    ? rawSql(dataDir, "DROP TRIGGER refuse_completion")
    : rawSql(dataDir, "DROP TRIGGER refuse_completion ON jobs; DROP FUNCTION refuse_completion();")

describe("faults", () => {
  const jobs = [...allTestJobs, SyncThrowJob, GatedJob]

  it("fails a job whose run throws synchronously, with the thrown error stored", async () => {
    const manager = await openManager({ jobs })
    const handle = await manager.dispatch(SyncThrowJob, {})
    const error = await handle.result().catch((e) => e)
    expect(error).toBeInstanceOf(JobFailed)
    expect(error.error).toMatchObject({ _tag: "TypeError", message: "thrown before any Effect" })
  })

  it("never claims an end it could not record: the job stays running in the store and resumes on reopen", async () => {
    const dataDir = tempDir()
    const first = await JobManager.open({ ...storeFor(dataDir), jobs, onError: () => {} })
    const handle = await first.dispatch(GatedJob, {})
    await waitUntil(async () => (await first.getJobInfo(handle.id)).checkpoints === 1, 20_000, "the checkpoint")
    await refuseCompletions(dataDir)
    release.go()

    const error = await handle.result().catch((e) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect(error.detail).toContain("completion refused by the test")
    expect((await first.getJobInfo(handle.id)).status).toBe("running")
    await first.close()
    await allowCompletions(dataDir)

    const second = await openManager({ dataDir, jobs })
    expect(await (await second.handle(handle.id)).result()).toEqual({ resumed: true })
    expect((await second.getJobInfo(handle.id)).attempts).toBe(2)
  })
})
