// The connection pool and the thin handle every query goes through. A `Database` can observe each
// statement it sends, which is how a cycle counts its round trips (they must not grow with presets).

import type { QueryArrayConfig, QueryArrayResult } from "pg";
import pg from "pg";
import { checkout, invalidatesConnections, release } from "./connectionHealth.ts";

/** What the generated query functions (src/db/sql) need: one array-mode query method. */
export interface SqlClient {
  query(config: QueryArrayConfig): Promise<QueryArrayResult>;
}

export interface Database {
  readonly pool: pg.Pool;
  /** Called once per statement sent through this handle, BEGIN and COMMIT included. */
  readonly onStatement?: ((text: string) => void) | undefined;
}

export interface PoolOptions {
  readonly connectionString: string;
  /** Maximum connections; the reconciler's default concurrency is derived from it. Default 10. */
  readonly max?: number;
  readonly applicationName?: string;
  /** Server-side statement_timeout for every connection, in ms (0 or absent: none). */
  readonly statementTimeoutMs?: number;
  /** Server-side lock_timeout for every connection, in ms (0 or absent: none). */
  readonly lockTimeoutMs?: number;
  /** Errors on idle connections (a server restart); without a listener pg would crash the process. */
  readonly onIdleError?: (error: Error) => void;
}

const DEFAULT_POOL_SIZE = 10;
// A database that stops answering without closing sockets must fail a cycle, not hang it.
const CONNECT_TIMEOUT_MS = 10_000;
/** Client-side deadline beyond the server's statement_timeout: long enough that a statement the
 *  server times out reports the server's error (57014), short enough that a silent server (process
 *  stopped, network partition) fails the statement instead of hanging the cycle (issue #11). */
const QUERY_TIMEOUT_MARGIN_MS = 2_000;
/** TCP keepalive probes start after this much silence (Linux default: 2 h). */
const KEEPALIVE_IDLE_MS = 10_000;
/** How often the server checks, while a statement runs, that its client is still connected
 *  (client_connection_check_interval, PostgreSQL ≥ 14): a statement whose client died (SIGKILL,
 *  lost host) is canceled instead of committing later (issue #11). */
const CLIENT_CONNECTION_CHECK_INTERVAL_MS = 1_000;

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? DEFAULT_POOL_SIZE,
    application_name: options.applicationName ?? "prebuildsd",
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    // No statement_timeout (the operator disabled it): no client-side deadline either.
    ...(options.statementTimeoutMs
      ? { query_timeout: options.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS }
      : {}),
    options: withSessionSettings(options.connectionString),
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
  });
  pool.on("error", (error) => options.onIdleError?.(error));
  return pool;
}

/**
 * The session settings every connection starts with, after any `options` the connection string
 * already sets (pg would drop those). JIT compiles the snapshot's large plans on every cycle
 * (160–600 ms per query at fleet L on PostgreSQL 15) to save less than that: every statement here
 * is planned for index lookups. client_connection_check_interval: see its constant.
 */
function withSessionSettings(connectionString: string): string {
  let fromUrl: string | null = null;
  try {
    fromUrl = new URL(connectionString).searchParams.get("options");
  } catch {
    // Not a URL (a socket path, say): it carries no options.
  }
  const ours = `-c jit=off -c client_connection_check_interval=${CLIENT_CONNECTION_CHECK_INTERVAL_MS}`;
  return fromUrl ? `${fromUrl} ${ours}` : ours;
}

/** The pool's configured maximum number of connections. */
export function poolMaxSize(pool: pg.Pool): number {
  const max = (pool as unknown as { options?: { max?: number } }).options?.max;
  return typeof max === "number" && max > 0 ? max : DEFAULT_POOL_SIZE;
}

/** A statement outside any explicit transaction (it is its own transaction), on a pooled connection. */
export function autocommit(db: Database): SqlClient {
  return {
    query: async (config) => {
      db.onStatement?.(config.text);
      const client = await checkout(db.pool);
      let failure: Error | undefined;
      try {
        return await client.query(config);
      } catch (error) {
        if (invalidatesConnections(error)) failure = error as Error;
        throw error;
      } finally {
        release(db.pool, client, failure);
      }
    },
  };
}
