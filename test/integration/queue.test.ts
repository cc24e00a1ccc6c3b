// The provisioner side of the job queue (queries/queue.sql) against a real PostgreSQL: which job
// AcquireProvisionerJob hands out, in what order, to whom, and that concurrent acquirers never
// share a job; CompleteProvisionerJob's guards; and the writes a provisioner makes to finish a
// build.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  acquireProvisionerJob,
  acquireProvisionerJobQuery,
  completeProvisionerJob,
  insertWorkspaceResourceWithAgents,
  markWorkspaceDeletedByJob,
  upsertProvisionerDaemon,
} from "../../src/db/sql/queue_sql.ts";
import {
  PREBUILDS_USER,
  seedBuild,
  seedJob,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const UNTAGGED = { scope: "organization" };

describe("job queue", () => {
  let db: TestDatabase;
  let human: string;

  beforeAll(async () => {
    db = await freshDatabase();
    human = (await seedUser(db.pool)).id;
  });
  afterAll(async () => {
    await db.drop();
  });

  function acquire(
    organizationId: string,
    options: { workerId?: string; tags?: Record<string, string>; client?: pg.ClientBase } = {},
  ) {
    return acquireProvisionerJob(options.client ?? db.pool, {
      workerId: options.workerId ?? randomUUID(),
      organizationId,
      types: ["workspace_build"],
      provisionerTags: options.tags ?? UNTAGGED,
    });
  }

  /** Acquires until the queue is empty; the job ids in the order handed out. */
  async function drain(organizationId: string, tags = UNTAGGED): Promise<string[]> {
    const order: string[] = [];
    for (;;) {
      const job = await acquire(organizationId, { tags });
      if (!job) return order;
      order.push(job.id);
    }
  }

  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const dbNow = async (): Promise<Date> =>
    (await db.pool.query("SELECT clock_timestamp() AS now")).rows[0].now;

  describe("AcquireProvisionerJob", () => {
    let org: string;
    beforeEach(async () => {
      org = (await seedOrganization(db.pool)).id;
    });

    it("hands out human-initiated jobs before prebuild jobs, oldest first within each", async () => {
      const prebuildOld = await seedJob(db.pool, {
        organizationId: org,
        createdAt: minutesAgo(50),
      });
      const prebuildNew = await seedJob(db.pool, {
        organizationId: org,
        createdAt: minutesAgo(40),
      });
      const humanOld = await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(30),
      });
      const humanNew = await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(20),
      });
      expect(await drain(org)).toEqual([humanOld, humanNew, prebuildOld, prebuildNew]);
    });

    it("never hands out a started, canceled or completed job, another organization's, or another type", async () => {
      const wanted = await seedJob(db.pool, { organizationId: org, createdAt: minutesAgo(1) });
      // Antagonists, all older than the wanted job and initiated by a human so they would sort first.
      for (const state of ["running", "succeeded", "failed", "canceling", "canceled"] as const) {
        await seedJob(db.pool, {
          organizationId: org,
          state,
          initiatorId: human,
          createdAt: minutesAgo(9),
        });
      }
      await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(8),
        columns: { canceledAt: minutesAgo(7) }, // canceled while pending: the reference's gap
      });
      await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(8),
        columns: { completedAt: minutesAgo(7), error: "never ran" },
      });
      await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(8),
        type: "template_version_import",
      });
      const elsewhere = (await seedOrganization(db.pool)).id;
      await seedJob(db.pool, {
        organizationId: elsewhere,
        initiatorId: human,
        createdAt: minutesAgo(8),
      });

      expect(await drain(org)).toEqual([wanted]);
    });

    it("marks the job started by the acquiring worker, on the database clock", async () => {
      const jobId = await seedJob(db.pool, { organizationId: org });
      const workerId = randomUUID();
      const before = await dbNow();
      const job = await acquire(org, { workerId });
      const after = await dbNow();
      expect(job).toMatchObject({ id: jobId, initiatorId: PREBUILDS_USER, transition: "" });
      const { rows } = await db.pool.query(
        "SELECT started_at, updated_at, worker_id, job_status FROM provisioner_jobs WHERE id = $1",
        [jobId],
      );
      expect(rows[0]).toMatchObject({ worker_id: workerId, job_status: "running" });
      expect(rows[0].started_at).toEqual(job?.startedAt);
      expect(rows[0].updated_at).toEqual(job?.startedAt);
      expect(rows[0].started_at.getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(rows[0].started_at.getTime()).toBeLessThanOrEqual(after.getTime());
    });

    it("never hands out a job whose error alone makes it failed (issue #12)", async () => {
      const failed = await seedJob(db.pool, {
        organizationId: org,
        initiatorId: human,
        createdAt: minutesAgo(9),
        columns: { error: "the platform gave up on it" },
      });
      const blankError = await seedJob(db.pool, {
        organizationId: org,
        createdAt: minutesAgo(8),
        columns: { error: "" },
      });
      const { rows } = await db.pool.query(
        "SELECT job_status FROM provisioner_jobs WHERE id = $1",
        [failed],
      );
      expect(rows[0]?.job_status).toBe("failed");
      expect(await drain(org)).toEqual([blankError]); // an empty error is no error: still pending
    });

    it("tells a workspace build's transition", async () => {
      const template = await seedTemplate(db.pool);
      const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
      const prebuild = await seedPrebuild(db.pool, {
        template,
        presetId: preset,
        state: "pending",
      });
      const job = await acquire(template.organizationId);
      expect(job).toMatchObject({ id: prebuild.builds[0]?.jobId, transition: "start" });
    });

    it("matches tags: untagged jobs only to untagged provisioners, tagged jobs to provisioners with all their tags", async () => {
      const untagged = await seedJob(db.pool, { organizationId: org, createdAt: minutesAgo(3) });
      const prod = await seedJob(db.pool, {
        organizationId: org,
        createdAt: minutesAgo(2),
        tags: { scope: "organization", env: "prod" },
      });
      const tagged = { scope: "organization", env: "prod", region: "eu" };
      expect(await acquire(org, { tags: { scope: "organization", env: "dev" } })).toBeNull();
      expect((await acquire(org, { tags: tagged }))?.id).toBe(prod);
      expect(await acquire(org, { tags: tagged })).toBeNull(); // the untagged job is not for it
      expect((await acquire(org, { tags: { ...UNTAGGED, owner: "" } }))?.id).toBe(untagged);
    });

    it("gives each of 50 jobs to exactly one of 4 concurrent acquirers", async () => {
      const jobs = new Set<string>();
      for (let i = 0; i < 50; i++) {
        jobs.add(
          await seedJob(db.pool, {
            organizationId: org,
            createdAt: minutesAgo(60 - i),
            ...(i % 3 === 0 && { initiatorId: human }),
          }),
        );
      }
      const acquirers = Array.from({ length: 4 }, async () => {
        const client = await db.pool.connect();
        const mine: string[] = [];
        try {
          for (;;) {
            const job = await acquire(org, { client });
            if (!job) return mine;
            mine.push(job.id);
          }
        } finally {
          client.release();
        }
      });
      const results = await Promise.all(acquirers);
      const all = results.flat();
      expect(all).toHaveLength(50);
      expect(new Set(all)).toEqual(jobs);
      const workers = await db.pool.query(
        "SELECT count(*)::int AS n FROM provisioner_jobs WHERE organization_id = $1 AND started_at IS NULL",
        [org],
      );
      expect(workers.rows[0]?.n).toBe(0);
    });

    it("reads the queue from the partial index provisioner_jobs_pending_idx, in its fair order (people first, rank, age), without sorting it", async () => {
      const busy = (await seedOrganization(db.pool)).id;
      await db.pool.query(
        `INSERT INTO provisioner_jobs (organization_id, initiator_id, type, started_at, completed_at, created_at)
         SELECT $1, $2, 'workspace_build', now(), now(), now() - make_interval(secs => g)
         FROM generate_series(1, 5000) g`,
        [busy, PREBUILDS_USER],
      );
      // A long pending queue too, ranked across 30 templates as migration 0046's trigger ranks
      // them (and some unranked, as jobs without a build stay): the index is in the acquire's
      // order (people first, fair_rank, created_at, id), so no sort of the queue (issue #13).
      await db.pool.query(
        `INSERT INTO provisioner_jobs (organization_id, initiator_id, type, created_at, fair_key, fair_rank)
         SELECT $1, $2, 'workspace_build', now() - make_interval(secs => g),
           CASE WHEN g % 10 = 0 THEN NULL ELSE ('00000000-0000-4000-8000-' || lpad((g % 30)::text, 12, '0'))::uuid END,
           CASE WHEN g % 10 = 0 THEN NULL ELSE g / 30 + 1 END
         FROM generate_series(1, 3000) g`,
        [busy, PREBUILDS_USER],
      );
      await seedJob(db.pool, { organizationId: busy });
      await db.pool.query("ANALYZE provisioner_jobs");
      const client = await db.pool.connect();
      try {
        await client.query("BEGIN");
        const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${acquireProvisionerJobQuery}`, [
          randomUUID(),
          busy,
          ["workspace_build"],
          UNTAGGED,
        ]);
        const plan = JSON.stringify(rows[0]["QUERY PLAN"]);
        expect(plan).toContain("provisioner_jobs_pending_idx");
        expect(plan).not.toMatch(/"Node Type":"(Incremental )?Sort"/);
      } finally {
        await client.query("ROLLBACK");
        client.release();
      }
    });
  });

  describe("CompleteProvisionerJob", () => {
    let org: string;
    let worker: string;
    let jobId: string;
    beforeEach(async () => {
      org = (await seedOrganization(db.pool)).id;
      worker = randomUUID();
      jobId = await seedJob(db.pool, { organizationId: org });
      await acquire(org, { workerId: worker });
    });
    const complete = (workerId: string, error: string | null = null) =>
      completeProvisionerJob(db.pool, { jobId, workerId, error });

    it("finishes a job as succeeded, once", async () => {
      expect(await complete(worker)).toEqual({ id: jobId, jobStatus: "succeeded" });
      expect(await complete(worker)).toBeNull();
    });

    it("finishes a job as failed with its error", async () => {
      expect(await complete(worker, "terraform apply failed")).toEqual({
        id: jobId,
        jobStatus: "failed",
      });
    });

    it("refuses a worker that does not hold the job", async () => {
      expect(await complete(randomUUID())).toBeNull();
      const { rows } = await db.pool.query(
        "SELECT job_status FROM provisioner_jobs WHERE id = $1",
        [jobId],
      );
      expect(rows[0]?.job_status).toBe("running");
    });

    it("finishes a job canceled while it ran as canceled, never succeeded", async () => {
      await db.pool.query("UPDATE provisioner_jobs SET canceled_at = now() WHERE id = $1", [jobId]);
      expect(await complete(worker)).toEqual({ id: jobId, jobStatus: "canceled" });
    });

    it("finishes a canceled job that reports an error as canceled, keeping the error in cancel_detail", async () => {
      await db.pool.query("UPDATE provisioner_jobs SET canceled_at = now() WHERE id = $1", [jobId]);
      expect(await complete(worker, "terraform interrupted")).toEqual({
        id: jobId,
        jobStatus: "canceled",
      });
      const { rows } = await db.pool.query(
        "SELECT error, cancel_detail FROM provisioner_jobs WHERE id = $1",
        [jobId],
      );
      expect(rows[0]).toEqual({ error: null, cancel_detail: "terraform interrupted" });
    });

    it("keeps a running job whose error was already set failed, whatever the worker reports", async () => {
      await db.pool.query("UPDATE provisioner_jobs SET error = 'out of quota' WHERE id = $1", [
        jobId,
      ]);
      expect(await complete(worker)).toEqual({ id: jobId, jobStatus: "failed" });
      const { rows } = await db.pool.query("SELECT error FROM provisioner_jobs WHERE id = $1", [
        jobId,
      ]);
      expect(rows[0]?.error).toBe("out of quota");
    });
  });

  describe("finishing builds", () => {
    it("inserts a resource with its top-level agents", async () => {
      const org = (await seedOrganization(db.pool)).id;
      const jobId = await seedJob(db.pool, { organizationId: org, state: "running" });
      await insertWorkspaceResourceWithAgents(db.pool, {
        jobId,
        resourceName: "vm",
        agentNames: ["main", "sidecar"],
        lifecycleStates: ["ready", "starting"],
      });
      const { rows } = await db.pool.query(
        `SELECT wa.name, wa.lifecycle_state, wa.parent_id FROM workspace_agents wa
         JOIN workspace_resources wr ON wr.id = wa.resource_id WHERE wr.job_id = $1 ORDER BY wa.name`,
        [jobId],
      );
      expect(rows).toEqual([
        { name: "main", lifecycle_state: "ready", parent_id: null },
        { name: "sidecar", lifecycle_state: "starting", parent_id: null },
      ]);
    });

    it("marks a workspace deleted when its delete build's job is done, and nothing else", async () => {
      const template = await seedTemplate(db.pool);
      const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
      const deleting = await seedPrebuild(db.pool, {
        template,
        presetId: preset,
        state: "deleting",
      });
      const running = await seedPrebuild(db.pool, { template, presetId: preset, state: "running" });
      // A stale delete: a later build exists, so the delete must not win.
      const stale = await seedPrebuild(db.pool, { template, presetId: preset, state: "deleting" });
      await seedBuild(db.pool, {
        template,
        workspaceId: stale.workspaceId,
        versionId: template.activeVersionId,
        buildNumber: 3,
      });
      const user = (await seedUser(db.pool)).id;
      const mine = await seedWorkspace(db.pool, { template, ownerId: user });

      // The provisioner reports each workspace's build 2 (the delete) or, for the running one,
      // its only build (a start): only the up-to-date delete may delete.
      const before = (await db.pool.query("SELECT now() AS now")).rows[0].now as Date;
      for (const p of [deleting, running, stale]) {
        const reported = (p.builds[1] ?? p.builds[0])?.jobId as string;
        await markWorkspaceDeletedByJob(db.pool, { jobId: reported });
      }
      const after = (await db.pool.query("SELECT now() AS now")).rows[0].now as Date;
      const { rows } = await db.pool.query(
        "SELECT id, updated_at FROM workspaces WHERE deleted AND id = ANY($1::uuid[])",
        [[deleting.workspaceId, running.workspaceId, stale.workspaceId, mine]],
      );
      expect(rows.map((r) => r.id)).toEqual([deleting.workspaceId]);
      // One clock: stamped by the database, not by the handler's host.
      expect(rows[0]?.updated_at.getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(rows[0]?.updated_at.getTime()).toBeLessThanOrEqual(after.getTime());
    });

    it("registers a provisioner daemon and records its heartbeat", async () => {
      const org = (await seedOrganization(db.pool)).id;
      const id = randomUUID();
      const first = new Date("2026-03-01T12:00:00Z");
      const later = new Date("2026-03-01T12:00:10Z");
      await upsertProvisionerDaemon(db.pool, {
        id,
        name: "sim-1",
        organizationId: org,
        tags: UNTAGGED,
        now: first,
      });
      await upsertProvisionerDaemon(db.pool, {
        id,
        name: "sim-1",
        organizationId: org,
        tags: UNTAGGED,
        now: later,
      });
      const { rows } = await db.pool.query(
        "SELECT created_at, last_seen_at FROM provisioner_daemons WHERE id = $1",
        [id],
      );
      expect(rows).toEqual([{ created_at: first, last_seen_at: later }]);
    });
  });
});
