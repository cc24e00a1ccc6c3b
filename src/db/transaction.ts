// Transactions that never leave half-done work: the body's client stops accepting statements the
// moment the transaction is aborted (its AbortSignal), and the transaction ROLLs BACK once the body
// has settled. COMMIT happens only after a body that finished without being aborted. A connection
// that failed in a way that leaves it unfit (connectionHealth.ts) is closed, not reused.
import type pg from "pg";
import type { QueryArrayConfig } from "pg";
import { checkout, invalidatesConnections, release } from "./connectionHealth.ts";
import type { Database, SqlClient } from "./pool.ts";
import { sqlState } from "./sqlState.ts";

export { sqlState } from "./sqlState.ts";

type Isolation = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  readonly isolation: Isolation;
  readonly readOnly?: boolean;
  /** Aborting rolls the transaction back; statements the body sends afterwards are refused. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Called once if the session ends or errors while the transaction is open, even between
   * statements (terminated by the server, idle-in-transaction timeout, socket lost): whatever it
   * held (an advisory lock) is gone. The reconciler aborts its cycle from here (issue #11).
   */
  readonly onSessionLost?: ((error: Error) => void) | undefined;
}

/** A statement was sent after its transaction had ended (it was aborted or already finished). */
class TransactionClosedError extends Error {
  constructor() {
    super("the transaction has ended (aborted or finished); the statement was not sent");
    this.name = "TransactionClosedError";
  }
}

/** The work was abandoned because its AbortSignal fired (shutdown, lock loss, deadline). */
export class AbortedError extends Error {
  constructor(reason?: unknown) {
    super(`aborted${reason instanceof Error ? `: ${reason.message}` : ""}`, { cause: reason });
    this.name = "AbortedError";
  }
}

function beginStatement(options: TransactionOptions): string {
  return `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}${options.readOnly ? " READ ONLY" : ""}`;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A checked-out connection whose running statement can be abandoned: `abandon()` asks the server
 * to cancel it (pg_cancel_backend on another connection) and, if that cannot be confirmed within
 * CANCEL_WAIT_MS (a silent or unreachable server), destroys the socket so the statement's promise
 * settles at once; the server then ends the orphaned statement itself (client_connection_check_interval,
 * set on every connection by createPool). `settle()` resolves to a reason the connection must be
 * closed instead of reused, if any.
 */
interface Session {
  readonly raw: pg.PoolClient;
  send(config: QueryArrayConfig): Promise<pg.QueryArrayResult>;
  abandon(): void;
  settle(): Promise<Error | undefined>;
}

/**
 * A pooled connection, or AbortedError as soon as `signal` aborts while waiting for one (a silent
 * server holds a new connection for the connect timeout, 10 s; shutdown must not wait for it).
 * A connection that arrives after the abort goes straight back to the pool.
 */
async function checkoutAbortably(
  db: Database,
  signal: AbortSignal | undefined,
): Promise<pg.PoolClient> {
  const pending = checkout(db.pool);
  if (signal === undefined) return pending;
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([pending, aborted]);
  } catch (error) {
    pending.then(
      (client) => client.release(),
      () => {},
    );
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

async function openSession(db: Database, signal: AbortSignal | undefined): Promise<Session> {
  const raw = await checkoutAbortably(db, signal);
  let inFlight = 0;
  let unfit: Error | undefined;
  let canceling: Promise<void> = Promise.resolve();
  return {
    raw,
    send: async (config) => {
      db.onStatement?.(config.text);
      inFlight++;
      try {
        return await raw.query(config);
      } catch (error) {
        if (invalidatesConnections(error)) unfit ??= asError(error);
        throw error;
      } finally {
        inFlight--;
      }
    },
    abandon: () => {
      if (inFlight === 0) return;
      canceling = cancelRunningStatement(db, raw).then((sent) => {
        if (sent) return;
        // A cancel still on its way must not hit the connection's next user, and a silent
        // server must not hold the caller: end the connection (the server ends the statement).
        unfit ??= new Error("statement cancel not confirmed; connection closed");
        destroySocket(raw);
      });
    },
    settle: async () => {
      await canceling;
      return unfit;
    },
  };
}

function destroySocket(raw: pg.PoolClient): void {
  (
    raw as unknown as { connection?: { stream?: { destroy(): void } } }
  ).connection?.stream?.destroy();
}

/**
 * Runs `body` in one transaction on its own pooled connection. Commits when the body resolves,
 * rolls back when it rejects or when `signal` aborts (the body's later statements are refused, so
 * an abandoned body cannot write outside the transaction). Waits for the body to settle before
 * ending the transaction, so no statement of it is still running when this returns.
 */
export async function withTransaction<A>(
  db: Database,
  options: TransactionOptions,
  body: (client: SqlClient) => Promise<A>,
): Promise<A> {
  const { signal } = options;
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const session = await openSession(db, signal);
  let open = true;
  let lost: Error | undefined;
  const onLost = (error: Error): void => {
    if (!open || lost !== undefined) return;
    lost = error;
    options.onSessionLost?.(error);
  };
  const onEnd = (): void => onLost(new Error("the database session ended"));
  session.raw.on("error", onLost);
  session.raw.once("end", onEnd);
  const client: SqlClient = {
    query: (config) => (open ? session.send(config) : Promise.reject(new TransactionClosedError())),
  };
  // Issue #8: a statement already sent when the abort comes (a 1000-row INSERT, a write waiting
  // on a row lock for up to lock_timeout) would otherwise run to its end before the rollback, and
  // SIGTERM would wait for it.
  const close = (): void => {
    open = false;
    session.abandon();
  };
  signal?.addEventListener("abort", close, { once: true });
  let unfit: Error | undefined;
  try {
    await session.send({ text: beginStatement(options), rowMode: "array" });
    let result: A;
    try {
      result = await body(client);
    } catch (error) {
      const abandoned =
        error instanceof TransactionClosedError ||
        sqlState(error) === QUERY_CANCELED ||
        invalidatesConnections(error);
      throw signal?.aborted && abandoned ? new AbortedError(signal.reason) : error;
    }
    if (signal?.aborted) throw new AbortedError(signal.reason);
    open = false;
    await session.send({ text: "COMMIT", rowMode: "array" });
    return result;
  } catch (error) {
    open = false;
    // Also after a failed COMMIT (the server already ended the transaction; a no-op then). Not on
    // a connection already known to be gone: the ROLLBACK would queue behind a statement that
    // may never answer.
    if (lost === undefined && !invalidatesConnections(error)) {
      try {
        await session.send({ text: "ROLLBACK", rowMode: "array" });
      } catch (rollbackError) {
        unfit = asError(rollbackError);
      }
    } else {
      unfit = lost ?? asError(error);
    }
    throw error;
  } finally {
    open = false;
    signal?.removeEventListener("abort", close);
    session.raw.removeListener("error", onLost);
    session.raw.removeListener("end", onEnd);
    unfit = (await session.settle()) ?? unfit;
    release(db.pool, session.raw, unfit);
  }
}

/** A second statement was sent through a `withSingleStatement` client. */
class SecondStatementError extends Error {
  constructor() {
    super(
      "withSingleStatement sends exactly one statement (outside a transaction two would not be atomic); use withTransaction",
    );
    this.name = "SecondStatementError";
  }
}

/**
 * Runs `body`, which sends exactly ONE statement, on its own pooled connection outside an explicit
 * transaction: the statement is its own transaction (atomic, and no BEGIN/COMMIT round trips).
 * Aborting `signal` while it runs asks the server to cancel it, so it rolls back as a whole; a
 * statement that already committed stays committed (it is whole either way). Read-committed.
 */
export async function withSingleStatement<A>(
  db: Database,
  options: { readonly signal?: AbortSignal | undefined },
  body: (client: SqlClient) => Promise<A>,
): Promise<A> {
  const { signal } = options;
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const session = await openSession(db, signal);
  let sent = false;
  const client: SqlClient = {
    query: async (config) => {
      if (sent) throw new SecondStatementError();
      if (signal?.aborted) throw new AbortedError(signal.reason);
      sent = true;
      return session.send(config);
    },
  };
  const abandon = (): void => session.abandon();
  signal?.addEventListener("abort", abandon, { once: true });
  try {
    return await body(client);
  } catch (error) {
    const abandoned = sqlState(error) === QUERY_CANCELED || invalidatesConnections(error);
    throw signal?.aborted && abandoned ? new AbortedError(signal.reason) : error;
  } finally {
    signal?.removeEventListener("abort", abandon);
    release(db.pool, session.raw, await session.settle());
  }
}

/** SQLSTATE of a statement canceled by request or by statement_timeout. */
const QUERY_CANCELED = "57014";

const CANCEL_WAIT_MS = 2000;

/**
 * pg_cancel_backend on another pooled connection. Resolves true once the cancel was sent; false if
 * it failed, or is still waiting for a free connection after CANCEL_WAIT_MS (a full pool or a
 * silent server must not hold up shutdown).
 */
function cancelRunningStatement(db: Database, raw: pg.PoolClient): Promise<boolean> {
  // processID is the backend pid pg learned at connect time (not in @types/pg).
  const pid = (raw as unknown as { processID?: unknown }).processID;
  if (typeof pid !== "number") return Promise.resolve(false);
  const sent = db.pool.query({ text: "SELECT pg_cancel_backend($1::int)", values: [pid] }).then(
    () => true,
    // Not sent (server unreachable): the caller closes the connection instead.
    () => false,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CANCEL_WAIT_MS);
  });
  return Promise.race([sent, timeout]).finally(() => clearTimeout(timer));
}
