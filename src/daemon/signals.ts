// Shutdown signals: the first SIGTERM, SIGINT or SIGHUP starts a graceful stop; a second one, or
// a stop that overruns its deadline, exits at once (a supervisor's patience is finite).
import { Effect } from "effect";
import type { Logger } from "../observe/logger.ts";
import { takeEarlyShutdownSignal } from "./earlyShutdown.ts";

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
export type ShutdownSignal = (typeof SIGNALS)[number];
const DUPLICATE_WINDOW_MS = 1000;

// Signals are process-wide, and so is whether one arrived.
let requested = false;

/** True once a shutdown signal has arrived (from the very start of `run`: earlyShutdown.ts). */
export function shutdownRequested(): boolean {
  return requested;
}

/**
 * Installs the handlers now (so a signal during start-up is not lost and does not kill the process
 * with the embedded server still running) and returns an Effect completing on the first signal.
 */
export function listenForShutdown(
  logger: Logger,
  forceAfterMs: number,
): Effect.Effect<ShutdownSignal> {
  let received: ShutdownSignal | null = null;
  let receivedAt = 0;
  let notify: ((signal: ShutdownSignal) => void) | null = null;
  const onSignal = (signal: ShutdownSignal) => {
    if (received !== null) {
      // Ctrl-C under `npm start` arrives twice at once (from the terminal and forwarded by npm):
      // only a signal sent deliberately later forces the exit.
      if (Date.now() - receivedAt < DUPLICATE_WINDOW_MS) return;
      logger.warn({ signal }, "second signal: exiting without waiting");
      process.exit(130);
    }
    received = signal;
    requested = true;
    receivedAt = Date.now();
    logger.info({ signal }, "stopping: finishing or abandoning the current cycle");
    setTimeout(() => {
      logger.error({ forceAfterMs }, "graceful stop overran its deadline: exiting");
      process.exit(1);
    }, forceAfterMs).unref();
    notify?.(signal);
  };
  // Listeners stay installed until exit so that a second signal still forces the exit.
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const early = takeEarlyShutdownSignal();
  if (early !== null) onSignal(early);
  return Effect.callback<ShutdownSignal>((resume) => {
    if (received !== null) resume(Effect.succeed(received));
    else notify = (signal) => resume(Effect.succeed(signal));
  });
}
