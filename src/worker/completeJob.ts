// Finishing a job: the guarded, idempotent CompleteProvisionerJob plus the handler's own writes,
// in one transaction (issue #12).
import type pg from "pg";
import { completeProvisionerJob } from "../db/sql/queue_sql.ts";
import type { FinalStatus, JobResult } from "./job.ts";

/**
 * Completes `jobId` for `workerId` with `error` (null: success) and runs `onComplete` in the same
 * transaction. Returns the status it finished with, or null when the job was not this worker's to
 * finish (someone else completed it, e.g. hung-job recovery): then nothing is written. A job that
 * was canceled finishes as canceled whatever `error` says (the message goes to cancel_detail); a
 * job already failed by an error stays failed.
 */
export async function completeJob(
  pool: pg.Pool,
  args: {
    readonly jobId: string;
    readonly workerId: string;
    readonly error: string | null;
    readonly onComplete?: JobResult["onComplete"] | undefined;
  },
): Promise<FinalStatus | null> {
  if (!args.onComplete) {
    // Nothing else to commit with it: one statement, its own transaction.
    const done = await completeProvisionerJob(pool, {
      jobId: args.jobId,
      workerId: args.workerId,
      error: args.error,
    });
    return (done?.jobStatus ?? null) as FinalStatus | null;
  }
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const done = await completeProvisionerJob(client, {
      jobId: args.jobId,
      workerId: args.workerId,
      error: args.error,
    });
    const status = (done?.jobStatus ?? null) as FinalStatus | null;
    if (status !== null) await args.onComplete(client, status);
    await client.query("COMMIT");
    return status;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
