// The daemon's heartbeat: a fiber that runs a cycle at once, then again `interval` after each one
// ends (Schedule.spaced), so cycles never overlap. Interrupting the fiber aborts the running cycle
// through its AbortSignal and waits for it to unwind (its transaction rolls back, the lock is
// released) before the interruption completes.
import { Effect, Schedule } from "effect";
import { abortable } from "./abortable.ts";

/** One cycle. It must handle its own failures (log, count); a rejection is treated as a bug. */
export type Cycle = (signal: AbortSignal) => Promise<void>;

/** How long an interrupted cycle may take to unwind; its writes cancel within about 2 s. */
export const CYCLE_SETTLE_TIMEOUT_MS = 5000;

/** Runs `cycle` now and then every `intervalMs` after the previous one ended, until interrupted. */
export function reconcileLoop(
  cycle: Cycle,
  intervalMs: number,
  settleTimeoutMs = CYCLE_SETTLE_TIMEOUT_MS,
): Effect.Effect<void> {
  return Effect.asVoid(
    Effect.repeat(abortable(cycle, settleTimeoutMs), Schedule.spaced(intervalMs)),
  );
}
