// Transactions that never leave half-done work: the body's client stops accepting statements the
// moment the transaction is aborted (AbortSignal, or the interruption of an Effect fiber), and the
// transaction ROLLs BACK once the body has settled. COMMIT happens only after a body that finished
// without being aborted.
import { Data, Effect } from "effect";
import type pg from "pg";
import type { QueryArrayConfig } from "pg";
import type { Database, SqlClient } from "./pool.ts";

export type Isolation = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  readonly isolation: Isolation;
  readonly readOnly?: boolean;
  /** Aborting rolls the transaction back; statements the body sends afterwards are refused. */
  readonly signal?: AbortSignal | undefined;
}

/** A statement was sent after its transaction had ended (it was aborted or already finished). */
export class TransactionClosedError extends Error {
  constructor() {
    super("the transaction has ended (aborted or finished); the statement was not sent");
    this.name = "TransactionClosedError";
  }
}

/** The work was abandoned because its AbortSignal fired (shutdown, or the fiber was interrupted). */
export class AbortedError extends Error {
  constructor(reason?: unknown) {
    super(`aborted${reason instanceof Error ? `: ${reason.message}` : ""}`);
    this.name = "AbortedError";
  }
}

/** A database operation failed; `code` is PostgreSQL's SQLSTATE when the server sent one. */
export class DbError extends Data.TaggedError("DbError")<{
  readonly message: string;
  readonly code: string | undefined;
  readonly cause: unknown;
}> {}

export function toDbError(cause: unknown): DbError {
  return new DbError({
    message: cause instanceof Error ? cause.message : String(cause),
    code: sqlState(cause),
    cause,
  });
}

/** PostgreSQL's SQLSTATE of an error from pg, e.g. "23505" for a unique violation. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

function beginStatement(options: TransactionOptions): string {
  return `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}${options.readOnly ? " READ ONLY" : ""}`;
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
  const raw: pg.PoolClient = await db.pool.connect();
  let open = true;
  let inFlight = 0;
  const send = async (config: QueryArrayConfig) => {
    db.onStatement?.(config.text);
    inFlight++;
    try {
      return await raw.query(config);
    } finally {
      inFlight--;
    }
  };
  const client: SqlClient = {
    query: (config) => (open ? send(config) : Promise.reject(new TransactionClosedError())),
  };
  // Issue #8: a statement already sent when the abort comes (a 1000-row INSERT, a write waiting
  // on a row lock for up to lock_timeout) would otherwise run to its end before the rollback, and
  // SIGTERM would wait for it. Ask the server to cancel it; awaited before the connection goes
  // back to the pool, so the cancel can never hit another caller's statement.
  let canceling: Promise<boolean> = Promise.resolve(true);
  const close = (): void => {
    open = false;
    if (inFlight > 0) canceling = cancelRunningStatement(db, raw);
  };
  signal?.addEventListener("abort", close, { once: true });
  let broken: Error | undefined;
  try {
    await send({ text: beginStatement(options), rowMode: "array" });
    let result: A;
    try {
      result = await body(client);
    } catch (error) {
      const abandoned =
        error instanceof TransactionClosedError || sqlState(error) === QUERY_CANCELED;
      throw signal?.aborted && abandoned ? new AbortedError(signal.reason) : error;
    }
    if (signal?.aborted) throw new AbortedError(signal.reason);
    open = false;
    await send({ text: "COMMIT", rowMode: "array" });
    return result;
  } catch (error) {
    open = false;
    // Also after a failed COMMIT (the server already ended the transaction; this is a no-op then).
    try {
      await send({ text: "ROLLBACK", rowMode: "array" });
    } catch (rollbackError) {
      // The connection is unusable (server gone): it must not go back to the pool.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw error;
  } finally {
    signal?.removeEventListener("abort", close);
    // A cancel that could not be sent in time may still run later: this connection must then
    // not be reused (destroying it also ends whatever it was doing on the server).
    if (!(await canceling)) broken ??= new Error("statement cancel not confirmed");
    raw.release(broken);
  }
}

/** A second statement was sent through a `withSingleStatement` client. */
export class SecondStatementError extends Error {
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
  const raw: pg.PoolClient = await db.pool.connect();
  let sent = false;
  let inFlight = false;
  const client: SqlClient = {
    query: async (config) => {
      if (sent) throw new SecondStatementError();
      if (signal?.aborted) throw new AbortedError(signal.reason);
      sent = true;
      db.onStatement?.(config.text);
      inFlight = true;
      try {
        return await raw.query(config);
      } finally {
        inFlight = false;
      }
    },
  };
  let canceling: Promise<boolean> = Promise.resolve(true);
  const cancel = (): void => {
    if (inFlight) canceling = cancelRunningStatement(db, raw);
  };
  signal?.addEventListener("abort", cancel, { once: true });
  let broken: Error | undefined;
  try {
    return await body(client);
  } catch (error) {
    throw signal?.aborted && sqlState(error) === QUERY_CANCELED
      ? new AbortedError(signal.reason)
      : error;
  } finally {
    signal?.removeEventListener("abort", cancel);
    // As in withTransaction: a cancel still on its way must not hit the connection's next user.
    if (!(await canceling)) broken = new Error("statement cancel not confirmed");
    raw.release(broken);
  }
}

/** SQLSTATE of a statement canceled by request or by statement_timeout. */
const QUERY_CANCELED = "57014";

const CANCEL_WAIT_MS = 2000;

/**
 * pg_cancel_backend on another pooled connection. Resolves true once the cancel was sent (or
 * failed for good: the server is gone), false if it is still waiting for a free connection after
 * CANCEL_WAIT_MS (a full pool must not deadlock shutdown).
 */
function cancelRunningStatement(db: Database, raw: pg.PoolClient): Promise<boolean> {
  // processID is the backend pid pg learned at connect time (not in @types/pg).
  const pid = (raw as unknown as { processID?: unknown }).processID;
  if (typeof pid !== "number") return Promise.resolve(false);
  const sent = db.pool.query({ text: "SELECT pg_cancel_backend($1::int)", values: [pid] }).then(
    () => true,
    // Unreachable server: the statement dies with its connection, or ends at its timeout.
    () => true,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CANCEL_WAIT_MS);
  });
  return Promise.race([sent, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An Effect over a promise-returning function that honours an AbortSignal. Interrupting the fiber
 * aborts the signal and then WAITS for the promise to settle, so cleanup inside it (a ROLLBACK)
 * has finished before the interruption completes: structured concurrency across the boundary.
 */
export function fromAbortable<A, E>(
  run: (signal: AbortSignal) => Promise<A>,
  mapError: (cause: unknown) => E,
): Effect.Effect<A, E> {
  return Effect.callback<A, E>((resume) => {
    const controller = new AbortController();
    let promise: Promise<A>;
    try {
      promise = run(controller.signal);
    } catch (error) {
      resume(Effect.fail(mapError(error)));
      return;
    }
    promise.then(
      (value) => resume(Effect.succeed(value)),
      (error) => resume(Effect.fail(mapError(error))),
    );
    return Effect.promise(() => {
      controller.abort(new AbortedError());
      return promise.then(
        () => undefined,
        () => undefined,
      );
    });
  });
}

/** `withTransaction` as an Effect: interrupting the fiber rolls the transaction back. */
export function transaction<A>(
  db: Database,
  options: Omit<TransactionOptions, "signal">,
  body: (client: SqlClient) => Promise<A>,
): Effect.Effect<A, DbError> {
  return fromAbortable((signal) => withTransaction(db, { ...options, signal }, body), toDbError);
}
