// The daemon's heartbeat: a fiber that runs a cycle at once, then again `interval` after each one
// ends (Schedule.spaced), so cycles never overlap. Interrupting the fiber aborts the running cycle
// through its AbortSignal and waits for it to unwind (its transaction rolls back, the lock is
// released) before the interruption completes.
import { Effect, Schedule } from "effect";

/** One cycle. It must handle its own failures (log, count); a rejection is treated as a bug. */
export type Cycle = (signal: AbortSignal) => Promise<void>;

/** A cycle as an Effect whose interruption aborts the cycle and waits for it to settle. */
export function abortableCycle(cycle: Cycle, settleTimeoutMs: number): Effect.Effect<void> {
  return Effect.callback<void>((resume) => {
    const controller = new AbortController();
    const settled = cycle(controller.signal).then(
      () => resume(Effect.void),
      (error: unknown) => resume(Effect.die(error)),
    );
    return Effect.promise(() => {
      controller.abort();
      // Never hang shutdown on a cycle that ignores its signal: give up waiting after a while.
      return Promise.race([
        settled,
        new Promise<void>((resolve) => setTimeout(resolve, settleTimeoutMs).unref()),
      ]);
    });
  });
}

/** Runs `cycle` now and then every `intervalMs` after the previous one ended, until interrupted. */
export function reconcileLoop(
  cycle: Cycle,
  intervalMs: number,
  settleTimeoutMs = 8000,
): Effect.Effect<void> {
  return Effect.asVoid(
    Effect.repeat(abortableCycle(cycle, settleTimeoutMs), Schedule.spaced(intervalMs)),
  );
}
