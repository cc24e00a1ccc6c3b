// Counts every statement sent on a pool's connections, independently of the reconciler's own count,
// so the round trips per cycle are checked by a second witness (recording the run included).
import type pg from "pg";

export interface StatementCounter {
  /** Statements sent since the last reset. */
  readonly count: () => number;
  readonly reset: () => void;
}

/** Must be attached before the pool opens its first connection. */
export function countStatements(pool: pg.Pool): StatementCounter {
  let sent = 0;
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      sent++;
      return query(...args);
    };
  });
  return {
    count: () => sent,
    reset: () => {
      sent = 0;
    },
  };
}
