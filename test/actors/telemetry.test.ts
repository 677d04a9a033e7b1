import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { SpanStatusCode, trace } from "@opentelemetry/api"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
  type MetricData,
} from "@opentelemetry/sdk-metrics"
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base"
import { Context, Data, Effect, Layer, ManagedRuntime, Metric, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { defineJob, InvalidOptions, JobManager, TelemetryNames as N, type JobDefinition } from "../../src/index.js"
import { openManager } from "../fixtures/openManager.js"
import { storeFor } from "../fixtures/store.js"
import { tempDir } from "../fixtures/tempDir.js"
import { waitUntil } from "../fixtures/waitUntil.js"

class Flaky extends Data.TaggedError("Flaky")<{ readonly message: string }> {}

/**
 * A job of its own type per test (metrics are per type): `steps` steps, each a checkpoint, the
 * work of each in a span of the job's own (`otel.user_work`); the first attempt fails with
 * `Flaky` after its first checkpoint when `failFirstAttempt`.
 */
const stepsJob = (name: string) =>
  defineJob({
    name,
    params: Schema.Struct({
      steps: Schema.Number,
      delayMs: Schema.optional(Schema.Number),
      failFirstAttempt: Schema.optional(Schema.Boolean),
    }),
    state: Schema.Struct({ next: Schema.Number }),
    initialState: () => ({ next: 0 }),
    output: Schema.Struct({ done: Schema.Number }),
    run: (ctx) =>
      Effect.gen(function* () {
        yield* Effect.annotateCurrentSpan("otel.steps", ctx.params.steps)
        for (let i = ctx.state.next; i < ctx.params.steps; i++) {
          yield* ctx.checkInterrupt
          yield* Effect.sleep(ctx.params.delayMs ?? 0).pipe(
            Effect.withSpan("otel.user_work", { attributes: { step: i } }),
          )
          yield* ctx.checkpoint({ next: i + 1 })
          if (ctx.params.failFirstAttempt && ctx.attempt === 1)
            return yield* new Flaky({ message: "first attempt fails" })
        }
        return { done: ctx.params.steps }
      }),
  })

/** The in-memory OpenTelemetry setup of a test, passed as the manager's `telemetry`. */
const inMemoryOtel = () => {
  const spans = new InMemorySpanExporter()
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "jobstate-test" },
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader,
  }))
  /** Every metric point the reader collects now, by metric name. */
  const metrics = async (): Promise<Map<string, MetricData>> => {
    await reader.forceFlush()
    const all =
      metricExporter
        .getMetrics()
        .at(-1)
        ?.scopeMetrics.flatMap((s) => s.metrics) ?? []
    return new Map(all.map((m) => [m.descriptor.name, m]))
  }
  return { layer, spans, metrics }
}

const open = (
  definition: JobDefinition,
  telemetry: ReturnType<typeof inMemoryOtel>["layer"] | undefined,
  options: { interruptGraceMs?: number } = {},
) => openManager({ jobs: [definition], ...(telemetry === undefined ? {} : { telemetry }), ...options })

const attemptSpans = (exporter: InMemorySpanExporter, type: string): ReadableSpan[] =>
  exporter
    .getFinishedSpans()
    .filter((s) => s.name === N.span(type))
    .sort((a, b) => Number(a.attributes[N.attempt]) - Number(b.attributes[N.attempt]))

const waitForSpans = (exporter: InMemorySpanExporter, type: string, count: number) =>
  waitUntil(
    () => (attemptSpans(exporter, type).length >= count ? attemptSpans(exporter, type) : undefined),
    20_000,
    `${count} attempt span(s) of ${type}`,
  )

/** Data points of a metric for one job type. */
const pointsOf = (metric: MetricData | undefined, type: string) =>
  (metric?.dataPoints ?? []).filter((p) => p.attributes[N.jobType] === type) as MetricData["dataPoints"]

describe("OpenTelemetry", () => {
  it("gives a job that completes one attempt span with its id, type, attempt and outcome", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_complete")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 2 })
    expect(await handle.result()).toEqual({ done: 2 })
    const [span, ...more] = await waitForSpans(otel.spans, "otel_complete", 1)
    expect(more).toEqual([])
    expect(span!.attributes).toMatchObject({
      [N.jobId]: handle.id,
      [N.jobType]: "otel_complete",
      [N.attempt]: 1,
      [N.outcome]: "completed",
      [N.checkpoint]: 0,
    })
    expect(span!.attributes[N.errorTag]).toBeUndefined()
    expect(span!.status.code).toBe(SpanStatusCode.OK)
    expect(span!.parentSpanContext).toBeUndefined()
  })

  it("gives a job retried once two attempt spans: retrying with the error's tag, then completed", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_retry")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 3, failFirstAttempt: true }, { retry: { maxRetries: 1 } })
    expect(await handle.result()).toEqual({ done: 3 })
    const [first, second, ...more] = await waitForSpans(otel.spans, "otel_retry", 2)
    expect(more).toEqual([])
    expect(first!.attributes).toMatchObject({
      [N.jobId]: handle.id,
      [N.attempt]: 1,
      [N.outcome]: "retrying",
      [N.errorTag]: "Flaky",
    })
    expect(first!.status.code).toBe(SpanStatusCode.ERROR)
    // The second attempt resumed from the first one's checkpoint.
    expect(second!.attributes).toMatchObject({
      [N.jobId]: handle.id,
      [N.attempt]: 2,
      [N.outcome]: "completed",
      [N.checkpoint]: 1,
    })
    expect(second!.events.map((e) => e.name)).toContain("jobstate.resume")
    expect(second!.spanContext().traceId).not.toBe(first!.spanContext().traceId)
  })

  it("ends the attempt span of a job that fails for good with outcome failed and the error's tag", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_fail")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 3, failFirstAttempt: true })
    await expect(handle.result()).rejects.toMatchObject({ _tag: "JobFailed" })
    const [span] = await waitForSpans(otel.spans, "otel_fail", 1)
    expect(span!.attributes).toMatchObject({ [N.outcome]: "failed", [N.errorTag]: "Flaky", "error.type": "Flaky" })
    expect(span!.status.code).toBe(SpanStatusCode.ERROR)
  })

  it("ends the span of an attempt that timed out as failed with JobTimeout, in error", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_timeout")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 1, delayMs: 60_000 }, { timeoutMs: 50 })
    await expect(handle.result()).rejects.toMatchObject({ _tag: "JobFailed" })
    const [span] = await waitForSpans(otel.spans, "otel_timeout", 1)
    expect(span!.attributes).toMatchObject({ [N.outcome]: "failed", [N.errorTag]: "JobTimeout" })
    expect(span!.status.code).toBe(SpanStatusCode.ERROR)
  })

  it("records each checkpoint as a span event with its number", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_checkpoints")
    const manager = await open(Job, otel.layer)
    await (await manager.dispatch(Job, { steps: 3 })).result()
    const [span] = await waitForSpans(otel.spans, "otel_checkpoints", 1)
    const checkpoints = span!.events
      .filter((e) => e.name === "jobstate.checkpoint")
      .map((e) => e.attributes?.[N.checkpoint])
    expect(checkpoints).toEqual([1, 2, 3])
  })

  it("runs the job's own Effect inside the attempt span: a span the job makes is its child", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_child")
    const manager = await open(Job, otel.layer)
    await (await manager.dispatch(Job, { steps: 2 })).result()
    const [attempt] = await waitForSpans(otel.spans, "otel_child", 1)
    const children = otel.spans
      .getFinishedSpans()
      .filter((s) => s.name === "otel.user_work" && s.spanContext().traceId === attempt!.spanContext().traceId)
    expect(children.map((s) => s.attributes.step)).toEqual([0, 1])
    for (const child of children) expect(child.parentSpanContext?.spanId).toBe(attempt!.spanContext().spanId)
    // Effect.annotateCurrentSpan in the job's run annotates the attempt's span.
    expect(attempt!.attributes["otel.steps"]).toBe(2)
  })

  it("ends a paused job's attempt span with outcome paused and a pause event; the resumed attempt is a new span", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_pause")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 40, delayMs: 20 })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).checkpoints >= 1, 20_000, "a first checkpoint")
    expect(await manager.pause(handle.id)).toBe("paused")
    const [paused] = await waitForSpans(otel.spans, "otel_pause", 1)
    expect(paused!.attributes).toMatchObject({ [N.attempt]: 1, [N.outcome]: "paused" })
    expect(paused!.attributes[N.errorTag]).toBeUndefined()
    expect(paused!.status.code).not.toBe(SpanStatusCode.ERROR)
    expect(paused!.events.map((e) => e.name)).toContain("jobstate.pause_requested")
    await manager.resume(handle.id)
    expect(await handle.result()).toEqual({ done: 40 })
    const [, resumed] = await waitForSpans(otel.spans, "otel_pause", 2)
    expect(resumed!.attributes).toMatchObject({ [N.attempt]: 2, [N.outcome]: "completed" })
    expect(resumed!.events[0]).toMatchObject({ name: "jobstate.resume", attributes: { [N.attempt]: 2 } })
  })

  it("ends a cancelled job's attempt span with outcome cancelled and a cancel event", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_cancel")
    const manager = await open(Job, otel.layer)
    const handle = await manager.dispatch(Job, { steps: 40, delayMs: 20 })
    await waitUntil(async () => (await manager.getJobInfo(handle.id)).checkpoints >= 1, 20_000, "a first checkpoint")
    expect(await manager.cancel(handle.id)).toBe("cancelled")
    const [span] = await waitForSpans(otel.spans, "otel_cancel", 1)
    expect(span!.attributes[N.outcome]).toBe("cancelled")
    expect(span!.events.map((e) => e.name)).toContain("jobstate.cancel_requested")
  })

  it("records attempt durations, queue wait and status changes as metrics", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_metrics")
    const manager = await open(Job, otel.layer)
    await (await manager.dispatch(Job, { steps: 2, failFirstAttempt: true }, { retry: { maxRetries: 1 } })).result()
    await (await manager.dispatch(Job, { steps: 1, delayMs: 20 })).result()
    await waitForSpans(otel.spans, "otel_metrics", 3)
    const metrics = await otel.metrics()

    const durations = pointsOf(metrics.get(N.attemptDuration), "otel_metrics") as HistogramMetricData["dataPoints"]
    const byOutcome = Object.fromEntries(durations.map((p) => [p.attributes[N.outcome], p.value.count]))
    expect(byOutcome).toEqual({ retrying: 1, completed: 2 })
    // The attempt that slept 20 ms took a good part of that (no tight bound: clocks are coarse).
    expect(durations.find((p) => p.attributes[N.outcome] === "completed")!.value.sum).toBeGreaterThanOrEqual(0.01)

    const waits = pointsOf(metrics.get(N.queueWait), "otel_metrics") as HistogramMetricData["dataPoints"]
    expect(waits.reduce((n, p) => n + p.value.count, 0)).toBe(3)

    const changes = Object.fromEntries(
      pointsOf(metrics.get(N.statusChanges), "otel_metrics").map((p) => [p.attributes[N.status], p.value]),
    )
    expect(changes).toMatchObject({ queued: 3, running: 3, completed: 2 })

    const active = pointsOf(metrics.get(N.activeAttempts), "otel_metrics")
    expect(active.map((p) => p.value)).toEqual([0])
  })

  it("reports the store's jobs by type and status as a gauge: jobs another process dispatched count, and a count goes down as jobs move on", async () => {
    const otel = inMemoryOtel()
    const Job = stepsJob("otel_gauge")
    const dataDir = tempDir()
    // Another process (no telemetry, runs nothing) dispatched two jobs before this manager opened.
    const other = await openManager({ dataDir, jobs: [Job], concurrency: 0 })
    const first = await other.dispatch(Job, { steps: 1 })
    const second = await other.dispatch(Job, { steps: 1 })
    const gauge = async () =>
      Object.fromEntries(
        pointsOf((await otel.metrics()).get(N.jobs), "otel_gauge").map((p) => [p.attributes[N.status], p.value]),
      )

    const manager = await openManager({ dataDir, jobs: [Job], telemetry: otel.layer, concurrency: 0 })
    await waitUntil(async () => (await gauge()).queued === 2, 20_000, "two queued jobs on the gauge")
    // Another manager, without telemetry, runs them; this one dispatches a delayed job (its own
    // change, which has the counts read again): the gauge tells the store, whoever changed it.
    const worker = await openManager({ dataDir, jobs: [Job], concurrency: 2 })
    await first.result()
    await second.result()
    await manager.dispatch(Job, { steps: 1 }, { delayMs: 60_000 })
    await waitUntil(
      async () => {
        const now = await gauge()
        return now.completed === 2 && now.queued === 1
      },
      20_000,
      "two completed and one queued on the gauge",
    )
    await worker.close()
  })

  it("exports nothing and records no metric with telemetry off", async () => {
    // A global OpenTelemetry tracer provider, as an app may have: jobstate must not pick it up by itself.
    const global = new InMemorySpanExporter()
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(global)] }))
    try {
      const Job = stepsJob("otel_off")
      const manager = await open(Job, undefined)
      await (await manager.dispatch(Job, { steps: 2, failFirstAttempt: true }, { retry: { maxRetries: 1 } })).result()
      expect(global.getFinishedSpans()).toEqual([])
      // Effect's default metric registry, which @effect/opentelemetry reads: nothing of this type.
      const recorded = Metric.snapshotUnsafe(Context.empty()).filter((m) => m.attributes?.[N.jobType] === "otel_off")
      expect(recorded).toEqual([])
    } finally {
      trace.disable()
    }
  })

  it("flushes a batching span processor on close(), and refuses a telemetry option that is not a Layer", async () => {
    const spans = new InMemorySpanExporter()
    const exported: ReadableSpan[] = []
    const original = spans.export.bind(spans)
    spans.export = (batch, done) => {
      exported.push(...batch)
      original(batch, done)
    }
    const layer = NodeSdk.layer(() => ({
      spanProcessor: new BatchSpanProcessor(spans, { scheduledDelayMillis: 3_600_000 }),
    }))
    const Job = stepsJob("otel_flush")
    const manager = await JobManager.open({ ...storeFor(tempDir()), jobs: [Job], telemetry: layer })
    await (await manager.dispatch(Job, { steps: 1 })).result()
    expect(exported).toEqual([])
    await manager.close()
    expect(exported.map((s) => s.name)).toContain(N.span("otel_flush"))

    await expect(
      JobManager.open({ ...storeFor(tempDir()), jobs: [Job], telemetry: {} as never }),
    ).rejects.toBeInstanceOf(InvalidOptions)
  })

  it("shares an app's own runtime through Layer.succeedContext, and leaves it running on close()", async () => {
    const otel = inMemoryOtel()
    const runtime = ManagedRuntime.make(otel.layer)
    try {
      const Job = stepsJob("otel_shared")
      const manager = await JobManager.open({
        ...storeFor(tempDir()),
        jobs: [Job],
        telemetry: Layer.succeedContext(await runtime.context()),
      })
      await (await manager.dispatch(Job, { steps: 1 })).result()
      await manager.close()
      await waitForSpans(otel.spans, "otel_shared", 1)
      // The app's tracer provider was not shut down with the manager.
      await runtime.runPromise(Effect.void.pipe(Effect.withSpan("app.after_close")))
      expect(otel.spans.getFinishedSpans().map((s) => s.name)).toContain("app.after_close")
    } finally {
      await runtime.dispose()
    }
  })

  it("exports spans and metrics to an OTLP collector over HTTP, as the README shows", async () => {
    const received: Array<{ path: string; body: string }> = []
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r))
    const base = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`
    try {
      // The README's setup, with the collector's URL spelled out instead of OTEL_EXPORTER_OTLP_ENDPOINT.
      const telemetry = NodeSdk.layer(() => ({
        resource: { serviceName: "jobstate-otlp-test" },
        spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })),
        metricReader: new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
          exportIntervalMillis: 60_000,
        }),
      }))
      const Job = stepsJob("otel_otlp")
      const manager = await JobManager.open({ ...storeFor(tempDir()), jobs: [Job], telemetry })
      await (await manager.dispatch(Job, { steps: 2 })).result()
      await manager.close()
      const traces = received
        .filter((r) => r.path === "/v1/traces")
        .map((r) => r.body)
        .join("\n")
      const metrics = received
        .filter((r) => r.path === "/v1/metrics")
        .map((r) => r.body)
        .join("\n")
      expect(traces).toContain(N.span("otel_otlp"))
      expect(traces).toContain("jobstate-otlp-test")
      expect(metrics).toContain(N.attemptDuration)
    } finally {
      await new Promise((r) => collector.close(r))
    }
  })
})

afterEach(() => trace.disable())
