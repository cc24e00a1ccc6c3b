// cancelJob: the idempotent cancel API a platform (and `prebuildsd cancel`) calls (issue #12).

import type { SqlClient } from "../db/pool.ts";
import { cancelProvisionerJob } from "../db/sql/jobs_sql.ts";
import { type CancelResult, isCancelResult } from "./cancelResult.ts";
import { InvalidJobIdError, isJobId } from "./jobId.ts";
import type { WorkerMetrics } from "./metrics.ts";

/**
 * Cancels one provisioner job in one statement (queries/jobs.sql CancelProvisionerJob), race-free
 * against acquire and complete, and returns which of the five `CancelResult`s happened. A pending
 * job is canceled at once and no worker is told (none holds it); a running job gets `canceled_at`
 * and the trigger of migration 0041 notifies `provisioner_job_canceled` with its id when this
 * statement commits; repeating the call returns `already_canceled` and notifies no one.
 *
 * `db` is a pool or a client outside an explicit transaction (or in READ COMMITTED): the statement
 * commits on its own. Timestamps come from the database clock.
 *
 * @throws InvalidJobIdError when `jobId` is not a UUID (nothing is sent).
 */
export async function cancelJob(
  db: SqlClient,
  jobId: string,
  options: { readonly metrics?: WorkerMetrics } = {},
): Promise<CancelResult> {
  if (!isJobId(jobId)) throw new InvalidJobIdError(jobId);
  const row = await cancelProvisionerJob(db, { jobId });
  const result = row?.result ?? "";
  if (!isCancelResult(result)) {
    throw new Error(`CancelProvisionerJob returned an unknown result ${JSON.stringify(result)}`);
  }
  options.metrics?.cancelRequests.inc({ result });
  return result;
}
