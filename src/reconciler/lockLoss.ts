// The reconciliation lock lives as long as the session of the transaction that took it. When that
// session ends (terminated, idle-in-transaction timeout, server restart, socket lost) another
// replica can take the lock at once, so the cycle that held it must stop writing (issue #11).
import { sqlState } from "../db/sqlState.ts";

/** The lock session ended or errored mid-cycle; `cause` is the error the session reported. */
export class LockLostError extends Error {
  constructor(cause: Error) {
    const code = sqlState(cause);
    super(
      `lost the reconciliation lock: its database session ended (${cause.message}${code ? `, SQLSTATE ${code}` : ""}); the cycle's remaining writes were abandoned and rolled back`,
      { cause },
    );
    this.name = "LockLostError";
  }
}
