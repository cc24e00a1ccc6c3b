// Hung-job recovery (issue #12): running and canceling jobs whose worker stopped heartbeating are
// finished in one statement, named by workspace and template; fresh, pending and finished jobs are
// left alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reconcilerObserver } from "../../../src/daemon/reconcilerObserver.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import { PrebuildMetrics } from "../../../src/observe/metrics.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import { type RecoveredJob, recoverHungJobs } from "../../../src/worker/recoverHungJobs.ts";
import {
  type JobState,
  seedJob,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
} from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { makeDeps } from "../reconciler/reconcilerHarness.ts";

describe("recoverHungJobs", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  const FIVE_MINUTES = 300_000;

  async function heartbeatAgo(jobId: string, seconds: number) {
    await db.pool.query(
      "UPDATE provisioner_jobs SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
      [jobId, seconds],
    );
  }
  async function job(id: string) {
    const { rows } = await db.pool.query(
      "SELECT job_status, error, cancel_detail, completed_at IS NOT NULL AS completed FROM provisioner_jobs WHERE id = $1",
      [id],
    );
    return rows[0];
  }

  it("fails a hung running job and completes a hung canceling one as canceled, naming workspace and template", async () => {
    const template = await seedTemplate(db.pool, { name: "hung-tpl" });
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const running = await seedPrebuild(db.pool, { template, presetId: preset, state: "building" });
    const runningJob = running.builds[0]?.jobId as string;
    const canceling = await seedJob(db.pool, {
      organizationId: template.organizationId,
      state: "canceling",
    });
    await heartbeatAgo(runningJob, 301);
    await heartbeatAgo(canceling, 3600);
    // Antagonists: alive (heartbeat 4 minutes ago), pending for hours, finished long ago.
    const alive = await seedJob(db.pool, {
      organizationId: template.organizationId,
      state: "running",
    });
    await heartbeatAgo(alive, 240);
    const antagonists: Record<string, string> = { alive };
    for (const state of ["pending", "succeeded", "failed", "canceled"] as JobState[]) {
      antagonists[state] = await seedJob(db.pool, {
        organizationId: template.organizationId,
        state,
      });
      await heartbeatAgo(antagonists[state] as string, 7200);
    }
    const before = await Promise.all(Object.values(antagonists).map(job));

    const recovered = await recoverHungJobs(db.pool, FIVE_MINUTES);

    expect(recovered).toHaveLength(2);
    expect(recovered).toContainEqual(
      expect.objectContaining({
        jobId: runningJob,
        status: "failed",
        workspaceId: running.workspaceId,
        templateName: "hung-tpl",
      }),
    );
    expect(recovered.find((r) => r.jobId === runningJob)?.workspaceName).toBeTruthy();
    expect(recovered).toContainEqual(
      expect.objectContaining({ jobId: canceling, status: "canceled", workspaceId: null }),
    );
    expect(await job(runningJob)).toEqual({
      job_status: "failed",
      error:
        "hung: no heartbeat from its worker for 5m (PREBUILDS_JOB_HANG_TIMEOUT); failed by prebuildsd",
      cancel_detail: null,
      completed: true,
    });
    expect(await job(canceling)).toEqual({
      job_status: "canceled",
      error: null,
      cancel_detail:
        "hung while canceling: no heartbeat from its worker for 5m; completed as canceled by prebuildsd",
      completed: true,
    });
    expect(await Promise.all(Object.values(antagonists).map(job))).toEqual(before);
    expect(await recoverHungJobs(db.pool, FIVE_MINUTES)).toEqual([]); // once only
  });

  it("leaves every job alone under a longer timeout", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org, state: "running" });
    await heartbeatAgo(id, 600);
    const recovered = await recoverHungJobs(db.pool, 3_600_000);
    expect(recovered.map((r) => r.jobId)).not.toContain(id);
    expect((await job(id)).job_status).toBe("running");
  });

  it("runs in every reconciliation cycle, logged and counted in prebuildsd_hung_jobs_recovered_total", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const hung = await seedJob(db.pool, { organizationId: org, state: "running" });
    await heartbeatAgo(hung, 90);
    const metrics = new PrebuildMetrics({ processMetrics: false });
    const seen: RecoveredJob[] = [];
    const warnings: string[] = [];
    const metricsObserver = reconcilerObserver(metrics);
    const deps = makeDeps(db.pool, {
      options: { jobHangTimeout: 60_000 },
      observer: {
        ...metricsObserver,
        onHungJobRecovered: (job) => {
          metricsObserver.onHungJobRecovered?.(job);
          seen.push(job);
        },
      },
      logger: {
        ...silentLogger,
        warn: (_fields: object, message: string) => warnings.push(message),
      } as unknown as typeof silentLogger,
    });
    await reconcileOnce(deps);
    expect(seen.map((j) => j.jobId)).toContain(hung);
    expect((await job(hung)).job_status).toBe("failed");
    expect(
      warnings.some((w) => w.startsWith(`hung job ${hung} (workspace none, template none)`)),
    ).toBe(true);
    const text = await metrics.text();
    expect(text).toMatch(/prebuildsd_hung_jobs_recovered_total\{status="failed"\} [1-9]/);
    expect(text).toContain('prebuildsd_hung_jobs_recovered_total{status="canceled"} 0');
  });
});
