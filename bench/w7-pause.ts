/**
 * W7 pause/resume: one job that calls `checkInterrupt` every millisecond. Per cycle: let it run
 * 5 ms; `pause()` resolves once the paused state is stored (checked by reading the row back);
 * then from `resume()` until its `run` starts again. Medians over the cycles of one process.
 */
import {
  childMain,
  figure,
  measured,
  percentile,
  repeat,
  runChild,
  sleep,
  sortNumbers,
  tempDir,
  type Bench,
  type Figure,
} from "./lib.js"

interface Args {
  readonly dir: string
  readonly cycles: number
}

interface Result {
  readonly pauseMs: number
  readonly resumeMs: number
  readonly pauseMax: number
  readonly resumeMax: number
}

const child = async ({ dir, cycles }: Args): Promise<Result> => {
  const { Effect, Schema } = await import("effect")
  const { defineJob, JobManager } = await import("jobstate")
  let started: (() => void) | undefined
  const Ticker = defineJob({
    name: "ticker",
    params: Schema.Struct({}),
    run: (ctx) =>
      Effect.gen(function* () {
        started?.()
        for (;;) {
          yield* ctx.checkInterrupt
          yield* Effect.sleep(1)
        }
      }),
  })
  const manager = await JobManager.open({ dataDir: dir, jobs: [Ticker], concurrency: 1 })
  const running = () => new Promise<number>((r) => (started = () => r(performance.now())))
  let next = running()
  const handle = await manager.dispatch(Ticker, {})
  await next
  const pauses: number[] = []
  const resumes: number[] = []
  measured.start()
  for (let i = 0; i < cycles; i++) {
    await sleep(5)
    const t0 = performance.now()
    const status = await manager.pause(handle.id)
    pauses.push(performance.now() - t0)
    const stored = (await manager.getJobInfo(handle.id)).status
    if (status !== "paused" || stored !== "paused") throw new Error(`W7: pause gave ${status}, row says ${stored}`)
    next = running()
    const t1 = performance.now()
    await manager.resume(handle.id)
    resumes.push((await next) - t1)
  }
  measured.stop()
  await manager.cancel(handle.id)
  await manager.close()
  const p = sortNumbers(pauses)
  const r = sortNumbers(resumes)
  return {
    pauseMs: percentile(p, 50),
    resumeMs: percentile(r, 50),
    pauseMax: p[p.length - 1]!,
    resumeMax: r[r.length - 1]!,
  }
}

childMain(import.meta.url, child)

export default async function w7(b: Bench): Promise<Figure[]> {
  const cycles = b.quick ? 10 : 50
  const runs = await repeat(b.runs, () =>
    runChild<Result>("w7-pause.ts", { dir: tempDir(), cycles }, { role: "jobstate" }),
  )
  const w = "W7 pause/resume"
  return [
    figure(
      { workload: w, name: `pause() → paused state stored, median of ${cycles}`, unit: "ms" },
      runs.map((r) => r.pauseMs),
    ),
    figure(
      { workload: w, name: `pause(), worst of ${cycles}`, unit: "ms" },
      runs.map((r) => r.pauseMax),
    ),
    figure(
      { workload: w, name: `resume() → run started again, median of ${cycles}`, unit: "ms" },
      runs.map((r) => r.resumeMs),
    ),
    figure(
      { workload: w, name: `resume(), worst of ${cycles}`, unit: "ms" },
      runs.map((r) => r.resumeMax),
    ),
  ]
}
