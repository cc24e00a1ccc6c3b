// Which failures leave a connection (and its siblings) unfit for reuse, and a checkout that never
// hands out a connection opened before such a failure. Issue #11: after the database turned
// read-only and back, connections opened while it was read-only kept failing with 25006 for up
// to a minute because the pool reused them.
import type pg from "pg";
import { sqlState } from "./sqlState.ts";

// Node's socket errors: the server or the network went away under the connection.
const SOCKET_ERRORS = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

// pg's own messages for a connection that ended or stopped answering (no SQLSTATE).
const DRIVER_MESSAGES = [
  "Connection terminated",
  "not queryable",
  "Query read timeout",
  "timeout exceeded when trying to connect",
  "Connection ended",
];

/**
 * True when `error` says the server changed state or the session is gone, so that connections
 * opened before it must not be reused: read-only transaction (25006: the database or the server
 * turned read-only, e.g. a failover or `default_transaction_read_only`), the session's end by the
 * server (57P01 admin shutdown, 57P02 crash, 57P03 cannot connect now, 25P03 idle-in-transaction
 * timeout), any connection exception (class 08), a socket error, or pg's own "connection
 * terminated" / "Query read timeout" (its `query_timeout`: the statement may still be running).
 */
export function invalidatesConnections(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined) {
    return code === "25006" || code === "25P03" || code.startsWith("57P") || code.startsWith("08");
  }
  if (!(error instanceof Error)) return false;
  const nodeCode = (error as { code?: unknown }).code;
  if (typeof nodeCode === "string" && SOCKET_ERRORS.has(nodeCode)) return true;
  return DRIVER_MESSAGES.some((m) => error.message.includes(m));
}

interface PoolGeneration {
  current: number;
}

const generations = new WeakMap<pg.Pool, PoolGeneration>();
const bornIn = new WeakMap<pg.ClientBase, number>();

function generationOf(pool: pg.Pool): PoolGeneration {
  let generation = generations.get(pool);
  if (generation === undefined) {
    const created: PoolGeneration = { current: 1 };
    generation = created;
    generations.set(pool, created);
    // Connections opened from now on carry the generation they were opened in; older ones
    // (opened before the first checkout through here) count as generation 0.
    pool.on("connect", (client) => bornIn.set(client, created.current));
  }
  return generation;
}

/**
 * Marks every connection `pool` has open now as unfit: each is closed instead of reused the next
 * time it is checked out. Call it after an error for which `invalidatesConnections` is true.
 */
function invalidatePool(pool: pg.Pool): void {
  generationOf(pool).current++;
}

/**
 * A connection from `pool` opened after the last `invalidatePool`: older idle ones are closed on
 * the way (at most the pool's size of them). Release it with `release(error)` when it failed.
 */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const generation = generationOf(pool);
  for (;;) {
    const client = await pool.connect();
    if ((bornIn.get(client) ?? 0) >= generation.current) return client;
    client.release(new Error("opened before the database changed state; reconnecting"));
  }
}

/**
 * Returns `client` to `pool`, or closes it when `error` (the failure it saw, if any) leaves it
 * unfit; an error that `invalidatesConnections` also retires its siblings.
 */
export function release(pool: pg.Pool, client: pg.PoolClient, error?: Error): void {
  if (error !== undefined && invalidatesConnections(error)) invalidatePool(pool);
  client.release(error);
}
