// Hung-job recovery (issue #12): a job whose worker stopped heartbeating is finished by the
// database, one statement per reconciliation cycle (queries/jobs.sql RecoverHungProvisionerJobs).

import { formatDuration } from "../config/duration.ts";
import type { SqlClient } from "../db/pool.ts";
import { recoverHungProvisionerJobs } from "../db/sql/jobs_sql.ts";

/** A job recovery finished: `failed` (it was running) or `canceled` (it was canceling). */
export interface RecoveredJob {
  readonly jobId: string;
  readonly status: "failed" | "canceled";
  readonly workerId: string | null;
  /** null for a job that is not a workspace build. */
  readonly workspaceId: string | null;
  readonly workspaceName: string | null;
  readonly templateName: string | null;
}

/**
 * Finishes every `running` or `canceling` job whose `updated_at` (the worker's heartbeat) is older
 * than `hangTimeoutMs` on the database clock: a running one fails with an error naming the
 * timeout, a canceling one completes as canceled with `cancel_detail` saying so. One statement;
 * the caller logs each job and counts it. The reference's platform uses 5 minutes
 * (PREBUILDS_JOB_HANG_TIMEOUT).
 */
export async function recoverHungJobs(
  db: SqlClient,
  hangTimeoutMs: number,
): Promise<RecoveredJob[]> {
  const timeout = formatDuration(hangTimeoutMs);
  const rows = await recoverHungProvisionerJobs(db, {
    hangTimeoutSeconds: hangTimeoutMs / 1000,
    hungError: `hung: no heartbeat from its worker for ${timeout} (PREBUILDS_JOB_HANG_TIMEOUT); failed by prebuildsd`,
    hungCancelDetail: `hung while canceling: no heartbeat from its worker for ${timeout}; completed as canceled by prebuildsd`,
  });
  return rows.map((r) => ({
    jobId: r.jobId,
    status: r.jobStatus === "canceled" ? "canceled" : "failed",
    workerId: r.workerId,
    workspaceId: r.workspaceId,
    workspaceName: r.workspaceName,
    templateName: r.templateName,
  }));
}
