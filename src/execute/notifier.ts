// Telling provisioners that jobs were queued. Sent only after the commit that made the jobs real,
// and advisory: provisioners also poll, so a lost notification delays a job, never loses it.
import { autocommit, type Database } from "../db/pool.ts";
import { notifyProvisionerJobsPosted } from "../db/sql/prebuilds_sql.ts";

export const PROVISIONER_JOB_POSTED_CHANNEL = "provisioner_job_posted";

export interface PostedJob {
  readonly organizationId: string;
  readonly jobId: string;
}

/** Injectable so tests (and the reliability suite) can use one that always fails. */
export interface JobNotifier {
  notifyJobsPosted(jobs: readonly PostedJob[]): Promise<void>;
}

/** pg_notify on `provisioner_job_posted`, payload {"organization_id", "job_id"}, one per job. */
export function pgJobNotifier(db: Database): JobNotifier {
  return {
    async notifyJobsPosted(jobs) {
      if (jobs.length === 0) return;
      await notifyProvisionerJobsPosted(autocommit(db), {
        payloads: jobs.map((j) =>
          JSON.stringify({ organization_id: j.organizationId, job_id: j.jobId }),
        ),
      });
    },
  };
}
