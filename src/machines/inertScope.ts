import { createActor, type AnyStateMachine } from "xstate"

/**
 * The one place jobstate reaches into XState's private API. A machine's `transition(snapshot,
 * event, scope)` needs an actor scope; XState's public `transition()` builds a new actor for
 * each call, which dominated recovery (thousands of offline transitions). This takes the scope
 * of one actor that is never started, and makes it run no action: offline, the only actions
 * are stopping a worker that does not exist and scheduling a grace timer, which nobody runs.
 * A machine job's machine is given its own `input` (the actor computes its initial snapshot
 * once, from it) and an `executor` that collects each transition's actions for the engine,
 * which runs them once the transition is stored (src/actors/machineRun.ts).
 *
 * test/machines/inertScope.test.ts pins what this relies on: `_actorScope` exists, has an
 * `actionExecutor` that can be replaced, and transitions through it equal XState's public
 * `transition()` while executing nothing.
 */
export const inertScopeOf = <M extends AnyStateMachine>(
  machine: M,
  input: unknown = { jobId: "" },
  executor: (action: unknown) => void = () => {},
): Parameters<M["transition"]>[2] => {
  type Scope = Parameters<M["transition"]>[2]
  const actor = createActor(machine, { input } as never) as unknown as { _actorScope?: Scope }
  const scope = actor._actorScope
  if (scope === undefined || typeof (scope as { actionExecutor?: unknown }).actionExecutor !== "function") {
    throw new Error(
      "this version of xstate has no actor scope with an actionExecutor: jobstate's offline transitions need one (see src/machines/inertScope.ts)",
    )
  }
  ;(scope as { actionExecutor: (action: unknown) => void }).actionExecutor = executor
  return scope
}
