import { assign, setup, type SnapshotFrom } from "xstate"

export type ManagerEvent =
  | { readonly type: "RECOVERED"; readonly resumed: number; readonly failed: number }
  | { readonly type: "CLOSE" }
  | { readonly type: "CLOSED" }
  /** Stopped as a killed process would be (`simulateCrash`): nothing more is accepted. */
  | { readonly type: "CRASHED" }
  | { readonly type: "OPEN_FAILED"; readonly message: string }

export interface ManagerContext {
  readonly resumed: number
  readonly failedOnRecovery: number
  readonly openError: string | null
}

/**
 * The manager's own lifecycle. Pure: the manager actor in src/actors sends the events.
 * recovering → ready → closing → closed. It decides whether the manager takes work (dispatch,
 * commands, schedules): only in a state tagged `accepting`, which is `ready`.
 */
export const managerMachine = setup({
  types: { context: {} as ManagerContext, events: {} as ManagerEvent },
}).createMachine({
  id: "jobManager",
  context: { resumed: 0, failedOnRecovery: 0, openError: null },
  initial: "recovering",
  on: { CRASHED: ".closed" },
  states: {
    recovering: {
      on: {
        RECOVERED: {
          target: "ready",
          actions: assign(({ event }) => ({ resumed: event.resumed, failedOnRecovery: event.failed })),
        },
        OPEN_FAILED: { target: "closed", actions: assign({ openError: ({ event }) => event.message }) },
      },
    },
    ready: { tags: ["accepting"], on: { CLOSE: "closing" } },
    closing: { on: { CLOSED: "closed" } },
    closed: { type: "final" },
  },
})

export type ManagerSnapshot = SnapshotFrom<typeof managerMachine>

/** Whether a manager in this state takes work: the one rule, asked by the manager before each call. */
export const acceptsWork = (snapshot: ManagerSnapshot): boolean => snapshot.hasTag("accepting")
