// The connection pool and the thin handle every query goes through. A `Database` can observe each
// statement it sends, which is how a cycle counts its round trips (they must not grow with presets).

import type { QueryArrayConfig, QueryArrayResult } from "pg";
import pg from "pg";

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

export const DEFAULT_POOL_SIZE = 10;
// A database that stops answering without closing sockets must fail a cycle, not hang it.
const CONNECT_TIMEOUT_MS = 10_000;

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? DEFAULT_POOL_SIZE,
    application_name: options.applicationName ?? "prebuildsd",
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    // JIT compiles the snapshot's large plans on every cycle (160–600 ms per query at fleet L on
    // PostgreSQL 15) to save less than that: every statement here is planned for index lookups.
    options: withJitOff(options.connectionString),
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
  });
  pool.on("error", (error) => options.onIdleError?.(error));
  return pool;
}

/** `-c jit=off`, after any `options` the connection string already sets (pg would drop those). */
function withJitOff(connectionString: string): string {
  let fromUrl: string | null = null;
  try {
    fromUrl = new URL(connectionString).searchParams.get("options");
  } catch {
    // Not a URL (a socket path, say): it carries no options.
  }
  return fromUrl ? `${fromUrl} -c jit=off` : "-c jit=off";
}

/** The pool's configured maximum number of connections. */
export function poolMaxSize(pool: pg.Pool): number {
  const max = (pool as unknown as { options?: { max?: number } }).options?.max;
  return typeof max === "number" && max > 0 ? max : DEFAULT_POOL_SIZE;
}

/** A statement outside any explicit transaction (it is its own transaction), on a pooled connection. */
export function autocommit(db: Database): SqlClient {
  return {
    query: (config) => {
      db.onStatement?.(config.text);
      return db.pool.query(config);
    },
  };
}
