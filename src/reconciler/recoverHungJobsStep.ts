// The cycle's hung-job step (issue #12): one statement finishes the jobs whose worker stopped
// heartbeating for the hang timeout, each logged by job, workspace and template and reported to
// the observer (the daemon counts them). A failure is logged and never fails the cycle.
import { autocommit, type Database } from "../db/pool.ts";
import type { Logger } from "../observe/logger.ts";
import { type RecoveredJob, recoverHungJobs } from "../worker/recoverHungJobs.ts";

export async function recoverHungJobsStep(
  db: Database,
  hangTimeoutMs: number,
  logger: Logger,
  onRecovered: (job: RecoveredJob) => void,
): Promise<readonly RecoveredJob[]> {
  let recovered: RecoveredJob[];
  try {
    recovered = await recoverHungJobs(autocommit(db), hangTimeoutMs);
  } catch (error) {
    logger.error({ err: error }, "recovering hung provisioner jobs failed; the next cycle retries");
    return [];
  }
  for (const job of recovered) {
    logger.warn(
      {
        jobId: job.jobId,
        workerId: job.workerId,
        workspaceId: job.workspaceId,
        workspace: job.workspaceName,
        template: job.templateName,
        status: job.status,
      },
      `hung job ${job.jobId} (workspace ${job.workspaceName ?? "none"}, template ${job.templateName ?? "none"}) had no heartbeat for the hang timeout: ${job.status === "failed" ? "failed it" : "completed it as canceled"}`,
    );
    onRecovered(job);
  }
  return recovered;
}
