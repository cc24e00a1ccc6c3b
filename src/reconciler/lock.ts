// Only one replica reconciles at a time: a transaction-scoped advisory lock, tried without waiting
// (losing the race is a quiet no-op) and released by the end of the holding transaction.
import type { SqlClient } from "../db/pool.ts";

/** The reference's LockIDReconcilePrebuilds. */
const RECONCILIATION_LOCK_ID = 7;

/** Tries the lock inside the caller's transaction; true when this transaction now holds it. */
export async function tryAcquireReconciliationLock(client: SqlClient): Promise<boolean> {
  const result = await client.query({
    text: "SELECT pg_try_advisory_xact_lock($1::bigint)",
    values: [RECONCILIATION_LOCK_ID],
    rowMode: "array",
  });
  return result.rows[0]?.[0] === true;
}
