import { assign, fromCallback, sendTo, setup, type ActorRefFrom, type SnapshotFrom } from "xstate"
import type { StoredError } from "../jobs/errors.js"
import { jobStatuses, type JobStatus } from "../jobs/JobStatus.js"

/**
 * Who asked for a pause: a user (stays paused across restarts), `close()` (resumes on open), or
 * the job's parent being paused (resumes with its parent).
 */
export type PausedBy = "user" | "shutdown" | "parent"

export interface JobLifecycleContext {
  readonly jobId: string
  /** How many times the job has been started; the worker passes it to `ctx.attempt`. */
  readonly attempt: number
  readonly pausedBy: PausedBy | null
  /** The error the job failed with for good (set only in `failed`). */
  readonly error: StoredError | null
  /** Failed attempts since dispatch or the last `retry`: what the retry policy counts. */
  readonly failures: number
  /** The error of the last failed attempt, kept while the job waits to be retried and after. */
  readonly lastError: StoredError | null
  /** Epoch ms: a queued job waits until then (a dispatch delay or a retry's backoff). */
  readonly runAt: number | null
  /**
   * The job's run ended in `awaitChildren` with children still running: it waits, queued and
   * holding no slot, until the last of them ends; then it runs again from its checkpoint.
   */
  readonly awaitingChildren: boolean
  /**
   * A machine job rests: its run ended waiting only for events, timers or child jobs. It waits,
   * queued and holding no slot, until an event is sent to it, a child of it ends, or `runAt`
   * (its next timer) comes; then it runs again from its checkpoint.
   */
  readonly awaitingEvents: boolean
}

export interface JobLifecycleInput {
  readonly jobId: string
  /** A delayed dispatch: the job waits in `queued.waiting` until then. */
  readonly runAt?: number | null
}

export type JobLifecycleEvent =
  | { readonly type: "START" }
  | { readonly type: "PAUSE"; readonly by: PausedBy }
  | { readonly type: "RESUME" }
  | { readonly type: "CANCEL" }
  /**
   * Back in line to resume from its checkpoint: a crashed process left the job running, or the
   * store failed under its attempt (then it waits until `retryAt`, with no retry spent).
   */
  | { readonly type: "REQUEUE"; readonly retryAt?: number }
  /** The engine failed the job from outside its run (not resumable, undecodable row, ...). */
  | { readonly type: "FAIL"; readonly error: StoredError }
  /** A user puts a failed or cancelled job back in line, with a fresh retry budget. */
  | { readonly type: "RETRY" }
  | { readonly type: "WORKER.DONE" }
  /**
   * The attempt failed. `retryAt` is set when the job's retry policy retries this error: the
   * job waits in `queued.waiting` until then; without it the job has failed for good.
   */
  | { readonly type: "WORKER.FAILED"; readonly error: StoredError; readonly retryAt?: number }
  | { readonly type: "WORKER.PAUSED" }
  | { readonly type: "WORKER.CANCELLED" }
  /** The run awaits children that have not all ended: the attempt ends, the job waits for them. */
  | { readonly type: "WORKER.AWAITING" }
  /** A machine job rests until an event, a child's end, or `until` (epoch ms, its next timer). */
  | { readonly type: "WORKER.WAITING"; readonly until: number | null }

/** What the machine tells its worker. */
export type WorkerCommand =
  | { readonly type: "INTERRUPT"; readonly reason: "pause" | "cancel" }
  | { readonly type: "FORCE_INTERRUPT" }

export interface WorkerInput {
  readonly jobId: string
  readonly attempt: number
}

/**
 * The job lifecycle: the single authority on a job's status. Pure: the worker that runs the
 * job is referenced by name (`runJob`) and provided by `src/actors`; the grace period after
 * which an interrupt is forced is the `interruptGrace` delay.
 *
 * queued → running → completed | failed | cancelled | paused; paused → queued (resume);
 * pause and cancel of a running job go through `running.pausing` / `running.cancelling`,
 * where the job is told to stop at its next `checkInterrupt`. A queued job with a `runAt` (a
 * delayed dispatch, a retry's backoff) is in `queued.waiting`; the claim starts it once its
 * time has come. A failed attempt that the retry policy retries goes back to `queued.waiting`;
 * `retry` puts a failed or cancelled job back in line. A run that awaits children still
 * running ends its attempt: the job waits in `queued.children` until they have ended. A machine
 * job that rests (waits only for events, timers or child jobs) waits in `queued.events`.
 */
export const jobLifecycleMachine = setup({
  types: {
    context: {} as JobLifecycleContext,
    input: {} as JobLifecycleInput,
    events: {} as JobLifecycleEvent,
  },
  actors: {
    // Replaced by the real worker in src/actors; this one never finishes.
    runJob: fromCallback<WorkerCommand, WorkerInput>(() => {}),
  },
  delays: {
    interruptGrace: 10_000,
  },
  actions: {
    requestPause: sendTo("worker", { type: "INTERRUPT", reason: "pause" } satisfies WorkerCommand),
    requestCancel: sendTo("worker", { type: "INTERRUPT", reason: "cancel" } satisfies WorkerCommand),
    forceInterrupt: sendTo("worker", { type: "FORCE_INTERRUPT" } satisfies WorkerCommand),
    countAttempt: assign({
      attempt: ({ context }) => context.attempt + 1,
      pausedBy: null,
      runAt: null,
      awaitingChildren: false,
      awaitingEvents: false,
    }),
    awaitChildren: assign({ awaitingChildren: true }),
    awaitEvents: assign({
      awaitingEvents: true,
      runAt: ({ event }) => (event.type === "WORKER.WAITING" ? event.until : null),
    }),
    // A resumed machine job runs again to read what was sent while it was paused.
    resumed: assign({
      pausedBy: null,
      runAt: ({ context }) => (context.awaitingEvents ? null : context.runAt),
      awaitingEvents: false,
    }),
    rememberPauser: assign({
      pausedBy: ({ event }) => (event.type === "PAUSE" ? event.by : null),
    }),
    rememberError: assign({
      error: ({ event }) => (event.type === "FAIL" || event.type === "WORKER.FAILED" ? event.error : null),
    }),
    countFailure: assign({
      failures: ({ context }) => context.failures + 1,
      lastError: ({ event, context }) => (event.type === "WORKER.FAILED" ? event.error : context.lastError),
    }),
    waitForRetry: assign({ runAt: ({ event }) => (event.type === "WORKER.FAILED" ? (event.retryAt ?? null) : null) }),
    waitAfterRequeue: assign({ runAt: ({ event }) => (event.type === "REQUEUE" ? (event.retryAt ?? null) : null) }),
    freshBudget: assign({
      failures: 0,
      error: null,
      runAt: null,
      pausedBy: null,
      awaitingChildren: false,
      awaitingEvents: false,
    }),
  },
  guards: {
    hasRunAt: ({ context }) => context.runAt !== null,
    awaitsChildren: ({ context }) => context.awaitingChildren,
    awaitsEvents: ({ context }) => context.awaitingEvents,
    retries: ({ event }) => event.type === "WORKER.FAILED" && event.retryAt !== undefined,
  },
}).createMachine({
  id: "job",
  context: ({ input }) => ({
    jobId: input.jobId,
    attempt: 0,
    pausedBy: null,
    error: null,
    failures: 0,
    lastError: null,
    runAt: input.runAt ?? null,
    awaitingChildren: false,
    awaitingEvents: false,
  }),
  initial: "queued",
  states: {
    queued: {
      initial: "ready",
      states: {
        // In line: the claim starts it when a slot is free.
        ready: {
          always: [
            { guard: "awaitsEvents", target: "events" },
            { guard: "hasRunAt", target: "waiting" },
            { guard: "awaitsChildren", target: "children" },
          ],
        },
        // Waiting for `runAt` (a delay or a retry's backoff); holds no slot. The claim starts
        // it only once its time has come; the engine keeps one timer for the earliest.
        waiting: {},
        // Waiting for its children to end; holds no slot. The store lets the claim have it
        // once none of them is queued, running or paused (the write that ends the last one
        // says so), and it runs again from its checkpoint, where `awaitChildren` returns.
        children: {},
        // A machine job at rest: waiting for an event, a child's end, or its next timer
        // (`runAt`); holds no slot. Sending it an event or ending a child of it lets the claim
        // have it (the store ends the wait in the same write), as does the timer's time.
        events: {},
      },
      on: {
        START: { target: "running", actions: "countAttempt" },
        PAUSE: { target: "paused", actions: "rememberPauser" },
        CANCEL: "cancelled",
        FAIL: { target: "failed", actions: "rememberError" },
      },
    },
    running: {
      invoke: {
        id: "worker",
        src: "runJob",
        // Only the id: a restored snapshot re-invokes the worker with this input, and the
        // worker reads the last checkpoint from the store, so nothing starts over.
        input: ({ context }) => ({ jobId: context.jobId, attempt: context.attempt }),
      },
      initial: "active",
      states: {
        active: {
          on: {
            PAUSE: { target: "pausing", actions: ["rememberPauser", "requestPause"] },
            CANCEL: { target: "cancelling", actions: "requestCancel" },
            "WORKER.AWAITING": { target: "#job.queued.children", actions: "awaitChildren" },
            "WORKER.WAITING": { target: "#job.queued.events", actions: "awaitEvents" },
          },
        },
        // The worker reports PAUSED or CANCELLED only when asked, so only in these substates.
        pausing: {
          after: { interruptGrace: { actions: "forceInterrupt" } },
          on: {
            CANCEL: { target: "cancelling", actions: "requestCancel" },
            "WORKER.PAUSED": "#job.paused",
            // It began to wait for its children as the pause came: paused; resumed, it waits on.
            "WORKER.AWAITING": { target: "#job.paused", actions: "awaitChildren" },
            // It came to rest as the pause came: paused; resumed, it runs and rests again.
            "WORKER.WAITING": "#job.paused",
            // A failure to be retried is paused instead, as asked; resumed, it waits out its backoff.
            "WORKER.FAILED": [
              { guard: "retries", target: "#job.paused", actions: ["countFailure", "waitForRetry"] },
              { target: "#job.failed", actions: ["countFailure", "rememberError"] },
            ],
          },
        },
        cancelling: {
          after: { interruptGrace: { actions: "forceInterrupt" } },
          on: {
            "WORKER.CANCELLED": "#job.cancelled",
            // A job being cancelled is not retried: its failure is final.
            "WORKER.FAILED": { target: "#job.failed", actions: ["countFailure", "rememberError"] },
          },
        },
      },
      on: {
        // A job may still finish or fail on its own while a pause or cancel is pending.
        "WORKER.DONE": "completed",
        "WORKER.FAILED": [
          { guard: "retries", target: "queued.waiting", actions: ["countFailure", "waitForRetry"] },
          { target: "failed", actions: ["countFailure", "rememberError"] },
        ],
        REQUEUE: { target: "queued", actions: "waitAfterRequeue" },
        FAIL: { target: "failed", actions: "rememberError" },
      },
    },
    paused: {
      on: {
        // Back in line; a job paused while it waited for its time waits on.
        RESUME: { target: "queued", actions: "resumed" },
        CANCEL: "cancelled",
      },
    },
    completed: { type: "final" },
    // At rest, not final: `retry` puts the job back in line, from its last checkpoint.
    failed: { on: { RETRY: { target: "queued", actions: "freshBudget" } } },
    cancelled: { on: { RETRY: { target: "queued", actions: "freshBudget" } } },
  },
})

export type JobLifecycleMachine = typeof jobLifecycleMachine
export type JobLifecycleSnapshot = SnapshotFrom<JobLifecycleMachine>
export type JobLifecycleActor = ActorRefFrom<JobLifecycleMachine>

/** What a user may ask of a job (`manager.pause(id)` and the others; the CLI's and the dashboard's actions). */
export const jobCommands = ["pause", "resume", "cancel", "retry"] as const
export type JobCommand = (typeof jobCommands)[number]

/** A command as left on a row for the manager that runs the job; `pause-by-parent` is its parent's pause, undone by the parent's resume. */
export type RemoteCommand = JobCommand | "pause-by-parent"

/** The events a command is. */
export type CommandEvent = Extract<JobLifecycleEvent, { type: "PAUSE" | "RESUME" | "CANCEL" | "RETRY" }>

/** Each command as the event the machine takes. */
export const commandEvents: Readonly<Record<RemoteCommand, CommandEvent>> = {
  pause: { type: "PAUSE", by: "user" },
  "pause-by-parent": { type: "PAUSE", by: "parent" },
  resume: { type: "RESUME" },
  cancel: { type: "CANCEL" },
  retry: { type: "RETRY" },
}

/** The event of a command as stored (`undefined` for a string that is none). */
export const commandEvent = (command: string): CommandEvent | undefined =>
  Object.hasOwn(commandEvents, command) ? commandEvents[command as RemoteCommand] : undefined

/** The command an event is, as stored. */
export const commandOf = (event: CommandEvent): RemoteCommand =>
  event.type === "PAUSE" && event.by === "parent" ? "pause-by-parent" : (event.type.toLowerCase() as RemoteCommand)

/**
 * The commands the machine accepts in each status, for a job at rest in it (running: in
 * `running.active`), asked of the machine once. Wherever a rule needs to know whether a command
 * applies to a job it knows only by its status (a cascade to children, a stored row, a page's
 * buttons), it reads this; a live job's actor is asked directly.
 */
export const commandsAccepted: Readonly<Record<JobStatus, ReadonlyArray<JobCommand>>> = (() => {
  const context: JobLifecycleContext = {
    jobId: "",
    attempt: 1,
    pausedBy: null,
    error: null,
    failures: 0,
    lastError: null,
    runAt: null,
    awaitingChildren: false,
    awaitingEvents: false,
  }
  const table = {} as Record<JobStatus, JobCommand[]>
  for (const status of jobStatuses) {
    const snapshot = jobLifecycleMachine.resolveState({ value: status as never, context })
    table[status] = jobCommands.filter((c) => snapshot.can(commandEvents[c]))
  }
  return table
})()

/** Whether the machine accepts `command` of a job at rest in `status`. */
export const accepts = (status: JobStatus, command: JobCommand): boolean => commandsAccepted[status].includes(command)
