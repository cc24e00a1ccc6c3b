// The daemon's one bridge between its Effect program (scope, loops, interruption) and the
// reconciler's Promises with an AbortSignal (docs/architecture.md).
import { Effect } from "effect";

/**
 * `run` as an Effect. Interrupting the fiber aborts `run`'s signal and then waits for its promise
 * to settle — so its transactions have rolled back and its lock is released before the
 * interruption completes — but at most `settleTimeoutMs` (a shutdown never hangs on it). `run`
 * must handle its own failures: a rejection is a defect.
 */
export function abortable(
  run: (signal: AbortSignal) => Promise<void>,
  settleTimeoutMs: number,
): Effect.Effect<void> {
  return Effect.callback<void>((resume) => {
    const controller = new AbortController();
    const settled = run(controller.signal).then(
      () => resume(Effect.void),
      (error: unknown) => resume(Effect.die(error)),
    );
    return Effect.promise(() => {
      controller.abort(new Error("stopping"));
      return Promise.race([
        settled,
        new Promise<void>((resolve) => setTimeout(resolve, settleTimeoutMs).unref()),
      ]);
    });
  });
}
