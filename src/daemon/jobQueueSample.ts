// The provisioner queue's depth for the metrics (issue #14), read by the state sampler on its own
// schedule, never by a scrape.
import { autocommit, type Database } from "../db/pool.ts";
import { countProvisionerJobsByTemplate } from "../db/sql/cancellation_sql.ts";
import { getProvisionerJobQueue } from "../db/sql/metrics_sql.ts";
import type { JobQueueSample } from "../observe/metrics.ts";

/**
 * Counts pending and running provisioner jobs by initiator (the prebuilds user or anyone else)
 * and the age of the oldest pending job of each, by the database clock (queries/metrics.sql
 * GetProvisionerJobQueue), and the same per template (issue #13: CountProvisionerJobsByTemplate).
 * Two statements; throws what pg throws.
 */
export async function sampleJobQueue(db: Database): Promise<JobQueueSample> {
  const row = await getProvisionerJobQueue(autocommit(db));
  if (row === null) throw new Error("GetProvisionerJobQueue returned no row");
  const byTemplate = await countProvisionerJobsByTemplate(autocommit(db));
  return {
    byTemplate: byTemplate.flatMap((r) =>
      r.status === "pending" || r.status === "running"
        ? [
            {
              templateName: r.templateName,
              status: r.status,
              initiator: r.prebuilds ? ("prebuilds" as const) : ("user" as const),
              jobs: r.jobs,
              oldestSeconds: r.oldestSeconds,
            },
          ]
        : [],
    ),
    jobs: {
      pending: { prebuilds: row.pendingPrebuilds, user: row.pendingUser },
      running: { prebuilds: row.runningPrebuilds, user: row.runningUser },
    },
    oldestPendingAgeSeconds: {
      prebuilds: row.oldestPendingPrebuildsSeconds,
      user: row.oldestPendingUserSeconds,
    },
  };
}
