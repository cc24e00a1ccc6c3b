// The simulated provisioner against a real PostgreSQL: it finishes builds the way the reconciler
// expects to observe them (ready prebuilds, deleted workspaces, failed jobs with an error),
// heartbeats, wakes on notifications, and stops either gracefully or by abandoning its jobs.

import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  JOB_POSTED_CHANNEL,
  SimulatedProvisioner,
  type SimulatedProvisionerOptions,
} from "../../src/provisioner/simulatedProvisioner.ts";
import { cancelJob } from "../../src/worker/cancelJob.ts";
import {
  type SeededTemplate,
  seedJob,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedVersion,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

/** Polls `check` until it returns true; fails after `timeoutMs` (a liveness bound, not a timing assertion). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("SimulatedProvisioner", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  async function pendingJobs(organizationId: string): Promise<number> {
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM provisioner_jobs WHERE organization_id = $1 AND completed_at IS NULL",
      [organizationId],
    );
    return rows[0]?.n ?? 0;
  }

  function provisioner(
    template: SeededTemplate,
    options: Partial<SimulatedProvisionerOptions> = {},
  ) {
    return new SimulatedProvisioner({
      pool: db.pool,
      organizationId: template.organizationId,
      workers: 3,
      jobDurationMs: 5,
      failureRate: 0,
      pollIntervalMs: 20,
      ...options,
    });
  }

  it("builds prebuilds to ready, deletes on delete builds, and counts by template version", async () => {
    const template = await seedTemplate(db.pool, { versions: 2 });
    const [oldVersion, activeVersion] = template.versionIds as [string, string];
    const preset = await seedPreset(db.pool, { versionId: activeVersion });
    const oldPreset = await seedPreset(db.pool, { versionId: oldVersion });
    const starting = await Promise.all(
      [1, 2, 3, 4].map(() =>
        seedPrebuild(db.pool, { template, presetId: preset, state: "pending" }),
      ),
    );
    const oldStarting = await seedPrebuild(db.pool, {
      template,
      presetId: oldPreset,
      versionId: oldVersion,
      state: "pending",
    });
    const deleting = await seedPrebuild(db.pool, { template, presetId: preset, state: "deleting" });
    // Antagonist: another organization's job is not ours to take.
    const elsewhere = await seedTemplate(db.pool);
    await seedJob(db.pool, { organizationId: elsewhere.organizationId });

    const sim = provisioner(template);
    await sim.start();
    await eventually(async () => (await pendingJobs(template.organizationId)) === 0);
    await sim.stop();

    const { rows: ready } = await db.pool.query(
      "SELECT id FROM workspace_prebuilds WHERE ready AND id = ANY($1::uuid[])",
      [[...starting, oldStarting].map((p) => p.workspaceId)],
    );
    expect(ready).toHaveLength(5);
    const { rows: gone } = await db.pool.query("SELECT deleted FROM workspaces WHERE id = $1", [
      deleting.workspaceId,
    ]);
    expect(gone[0]?.deleted).toBe(true);
    expect(await pendingJobs(elsewhere.organizationId)).toBe(1);

    const counters = sim.counters();
    expect(counters.total).toEqual({ started: 6, succeeded: 6, failed: 0, other: 0 });
    expect(counters.byTemplateVersion.get(oldVersion)).toEqual({
      started: 1,
      succeeded: 1,
      failed: 0,
      other: 0,
    });
    expect(counters.byTemplateVersion.get(activeVersion)?.started).toBe(5);

    const { rows: daemons } = await db.pool.query(
      "SELECT count(*)::int AS n FROM provisioner_daemons WHERE organization_id = $1 AND last_seen_at IS NOT NULL",
      [template.organizationId],
    );
    expect(daemons[0]?.n).toBe(3);
  });

  it("fails jobs with an error when the injected randomness says so", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const prebuilds = await Promise.all(
      [1, 2, 3].map(() => seedPrebuild(db.pool, { template, presetId: preset, state: "pending" })),
    );
    const draws = [0.9, 0.1, 0.9]; // failureRate 0.5: only the second draw fails
    const sim = provisioner(template, {
      workers: 1,
      failureRate: 0.5,
      random: () => draws.shift() ?? 0.9,
    });
    await sim.start();
    await eventually(async () => (await pendingJobs(template.organizationId)) === 0);
    await sim.stop();
    const { rows } = await db.pool.query(
      "SELECT job_status, error FROM provisioner_jobs WHERE id = ANY($1::uuid[]) ORDER BY created_at",
      [prebuilds.map((p) => p.builds[0]?.jobId)],
    );
    expect(rows.filter((r) => r.job_status === "failed")).toEqual([
      { job_status: "failed", error: "simulated provisioner failure" },
    ]);
    expect(sim.counters().total).toMatchObject({ started: 3, succeeded: 2, failed: 1 });
  });

  it("wakes on provisioner_job_posted instead of waiting for its next poll", async () => {
    const template = await seedTemplate(db.pool);
    const version = await seedVersion(db.pool, template, { activate: true });
    const preset = await seedPreset(db.pool, { versionId: version });
    // The real pool, watched: resolves once the worker's first acquire has come back empty, so
    // the job below can only be found by a wake-up (the next poll is an hour away).
    let firstPollEmpty: () => void = () => {};
    const polled = new Promise<void>((resolve) => {
      firstPollEmpty = resolve;
    });
    const watched = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop !== "query") return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<typeof target.query>) => {
          const result = await (target.query as (...a: unknown[]) => Promise<pg.QueryResult>)(
            ...args,
          );
          const text = typeof args[0] === "string" ? args[0] : (args[0] as { text?: string }).text;
          if (text?.includes("AcquireProvisionerJob") && result.rowCount === 0) firstPollEmpty();
          return result;
        };
      },
    });
    const sim = provisioner(template, { workers: 1, pollIntervalMs: 3_600_000, pool: watched });
    await sim.start();
    try {
      await polled;
      const p = await seedPrebuild(db.pool, {
        template: { ...template, activeVersionId: version },
        presetId: preset,
        state: "pending",
      });
      await db.pool.query("SELECT pg_notify($1, $2)", [
        JOB_POSTED_CHANNEL,
        JSON.stringify({ organization_id: template.organizationId, job_id: p.builds[0]?.jobId }),
      ]);
      await eventually(async () => (await pendingJobs(template.organizationId)) === 0);
    } finally {
      await sim.stop();
    }
  });

  it("on stop, waits for in-flight jobs, or fails them as abandoned", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const jobOf = async () =>
      (await seedPrebuild(db.pool, { template, presetId: preset, state: "pending" })).builds[0]
        ?.jobId as string;
    const status = async (jobId: string) =>
      (await db.pool.query("SELECT job_status, error FROM provisioner_jobs WHERE id = $1", [jobId]))
        .rows[0];
    const running = async (jobId: string) => (await status(jobId))?.job_status === "running";

    const graceful = await jobOf();
    const sim = provisioner(template, { workers: 1, jobDurationMs: 300 });
    await sim.start();
    await eventually(() => running(graceful));
    await sim.stop();
    expect(await status(graceful)).toEqual({ job_status: "succeeded", error: null });

    const abandoned = await jobOf();
    const slow = provisioner(template, { workers: 1, jobDurationMs: 3_600_000 });
    await slow.start();
    await eventually(() => running(abandoned));
    await slow.stop({ abandon: true });
    expect(await status(abandoned)).toEqual({
      job_status: "failed",
      error:
        "the provisioner worker shut down before the job finished (its shutdown grace ran out)",
    });
    expect(slow.counters().total).toEqual({ started: 1, succeeded: 0, failed: 0, other: 1 });
  });

  it("stops a canceled build at once, or, when stubborn, only when the runtime force-aborts it", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const jobOf = async () =>
      (await seedPrebuild(db.pool, { template, presetId: preset, state: "pending" })).builds[0]
        ?.jobId as string;
    const status = async (jobId: string) =>
      (
        await db.pool.query(
          "SELECT job_status, cancel_detail FROM provisioner_jobs WHERE id = $1",
          [jobId],
        )
      ).rows[0];

    for (const stubborn of [false, true]) {
      const jobId = await jobOf();
      const heard: string[] = [];
      const sim = provisioner(template, {
        workers: 1,
        jobDurationMs: 3_600_000,
        stubborn,
        cancelGraceMs: 200,
        onCanceled: (id) => heard.push(id),
      });
      await sim.start();
      try {
        await eventually(async () => sim.runningBuilds().some((b) => b.jobId === jobId));
        expect(await cancelJob(db.pool, jobId)).toBe("cancel_requested_while_running");
        await eventually(async () => (await status(jobId))?.job_status === "canceled");
        expect(heard).toEqual([jobId]);
        expect((await status(jobId)).cancel_detail).toBe(
          stubborn
            ? "force-aborted: the handler did not stop within 200 ms of the cancellation"
            : `job ${jobId} was canceled`,
        );
        expect(sim.counters().total).toMatchObject({ started: 1, succeeded: 0 });
      } finally {
        await sim.stop({ abandon: true });
      }
    }
  });
});
