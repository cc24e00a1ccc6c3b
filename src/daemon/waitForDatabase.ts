// `run` before the database answers (issue #14: a sidecar started beside its database exited 1 and
// crash-looped): the daemon serves its HTTP port at once (/readyz answers 503 with the reason) and
// retries with exponential backoff until the database answers, a shutdown signal arrives, or the
// failure is not a connection problem (a bad schema, a permission: those still stop it).
import { Effect } from "effect";
import { type ConnectionSource, describeConnectionError } from "../db/connectionError.ts";
import { sqlState } from "../db/transaction.ts";
import type { Logger } from "../observe/logger.ts";

export interface WaitOptions {
  readonly logger: Logger;
  readonly source: ConnectionSource;
  /** First wait after a failed attempt (ms); doubled after each, up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** cannot_connect_now: the server is starting up, shutting down or in recovery. */
const CANNOT_CONNECT_NOW = "57P03";

/** Why the database did not answer, or null when `error` is not a connection problem. */
function notAnswering(error: unknown, source: ConnectionSource): string | null {
  if (sqlState(error) === CANNOT_CONNECT_NOW) {
    return `the database is not accepting connections yet (${error instanceof Error ? error.message : String(error)})`;
  }
  return describeConnectionError(error, source);
}

/**
 * Runs `attempt` until it succeeds. A connection failure is logged (one line naming what to check)
 * and retried after 1 s, 2 s, 4 s … 30 s; any other failure fails the Effect. Interrupting the
 * fiber (shutdown) stops the waiting at once.
 */
export function untilDatabaseAnswers<A>(
  attempt: () => Promise<A>,
  options: WaitOptions,
): Effect.Effect<A, unknown> {
  const initial = options.initialDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  return Effect.callback<A, unknown>((resume) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const tryOnce = (n: number, delay: number) => {
      attempt().then(
        (value) => {
          if (n > 1) options.logger.info({ attempts: n }, "the database answers: starting");
          resume(Effect.succeed(value));
        },
        (error: unknown) => {
          if (stopped) return;
          const why = notAnswering(error, options.source);
          if (why === null) {
            resume(Effect.fail(error));
            return;
          }
          options.logger.warn(
            { attempt: n, retryInMs: delay },
            `waiting for the database: ${why}; /readyz answers 503 until it answers`,
          );
          timer = setTimeout(() => tryOnce(n + 1, Math.min(delay * 2, max)), delay);
        },
      );
    };
    tryOnce(1, initial);
    return Effect.sync(() => {
      stopped = true;
      clearTimeout(timer);
    });
  });
}
