// Telling provisioners that jobs were queued. Sent only after the commit that made the jobs real,
// and advisory: provisioners also poll, so a lost notification delays a job, never loses it.
import { autocommit, type Database } from "../db/pool.ts";
import { notifyProvisionerJobsPosted } from "../db/sql/prebuilds_sql.ts";
import { JOB_POSTED_CHANNEL } from "../worker/channels.ts";

export interface PostedJob {
  readonly organizationId: string;
  readonly jobId: string;
}

/** Injectable so tests (and the reliability suite) can use one that always fails. */
export interface JobNotifier {
  notifyJobsPosted(jobs: readonly PostedJob[]): Promise<void>;
}

/** pg_notify on `provisioner_job_posted`, payload {"organization_id", "job_id"}, one per job,
 *  all in one statement. */
export function pgJobNotifier(db: Database): JobNotifier {
  return {
    async notifyJobsPosted(jobs) {
      if (jobs.length === 0) return;
      await notifyProvisionerJobsPosted(autocommit(db), {
        channel: JOB_POSTED_CHANNEL,
        payloads: jobs.map((j) =>
          JSON.stringify({ organization_id: j.organizationId, job_id: j.jobId }),
        ),
      });
    },
  };
}

/** Collects a cycle's posted jobs; `flush` sends them all at once (one statement with pg). */
export interface BufferedNotifier extends JobNotifier {
  /** Sends everything collected since the last flush; rejects when the target notifier does. */
  flush(): Promise<number>;
}

/**
 * One round trip per cycle instead of one per write: every write has committed before its jobs
 * are collected, so notifying at the end of the cycle is still "after the commit". Provisioners
 * poll as well, so the delay (at most one cycle's execution) only matters to an idle one.
 */
export function bufferedNotifier(target: JobNotifier): BufferedNotifier {
  let pending: PostedJob[] = [];
  return {
    async notifyJobsPosted(jobs) {
      pending.push(...jobs);
    },
    async flush() {
      const jobs = pending;
      pending = [];
      if (jobs.length > 0) await target.notifyJobsPosted(jobs);
      return jobs.length;
    },
  };
}
