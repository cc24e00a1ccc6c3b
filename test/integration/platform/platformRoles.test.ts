// docs/platform-contract.md, "Database roles for the platform": two LOGIN roles get exactly the
// grants the document shows, in a database where PUBLIC has no USAGE on the schema and no EXECUTE
// on the functions involved. As the first, a worker registers, heartbeats, acquires, is canceled,
// and completes start and delete builds with their handler writes; as the second, a user claims
// (with and without the fallback) and jobs are cancelled. Nothing may fail on a permission, and
// each role is refused what it was not given.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  getWorkspaceBuildByJobID,
  insertWorkspaceResourceWithAgents,
  markWorkspaceDeletedByJob,
} from "../../../src/db/sql/queue_sql.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import { reconcileOnce } from "../../../src/reconciler/index.ts";
import { cancelJob } from "../../../src/worker/cancelJob.ts";
import { claimPrebuild } from "../../../src/worker/claimPrebuild.ts";
import type { JobHandler } from "../../../src/worker/job.ts";
import { startWorker, type Worker, type WorkerLogger } from "../../../src/worker/worker.ts";
import { readDocument, sqlBlocks } from "../../fixtures/markdownSql.ts";
import {
  promoteVersion,
  type SeededTemplate,
  seedJob,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
} from "../../fixtures/seed.ts";
import { databaseUrl } from "../../harness/databaseUrl.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { waitFor } from "../../reliability/support.ts";

const suffix = randomBytes(5).toString("hex");
const PROVISIONER = `prebuildsd_t_provisioner_${suffix}`;
const CLAIMER = `prebuildsd_t_claimer_${suffix}`;

let db: TestDatabase;
let provisionerPool: pg.Pool;
let claimerPool: pg.Pool;
let template: SeededTemplate;
let v1Small: string;
let v2Small: string;
let worker: Worker | undefined;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject("adminUrl") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const ROLE_PASSWORD = randomBytes(12).toString("hex");

function poolAs(role: string): pg.Pool {
  const url = new URL(databaseUrl(inject("adminUrl"), db.name));
  url.username = role;
  // The embedded server (the harness's fallback) asks for a password; a trust server ignores it.
  url.password = ROLE_PASSWORD;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 5 });
  pool.on("error", () => {});
  return pool;
}

beforeAll(async () => {
  db = await freshDatabase();
  await db.pool.query(`
    REVOKE USAGE ON SCHEMA public FROM PUBLIC;
    REVOKE EXECUTE ON FUNCTION provisioner_tagset_contains(jsonb, jsonb),
      provisioner_tags_normalized(jsonb),
      prebuild_claim_workspace(uuid, text, timestamptz, text, timestamptz, bigint, boolean, uuid)
      FROM PUBLIC`);
  await admin(`CREATE ROLE ${PROVISIONER} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  await admin(`CREATE ROLE ${CLAIMER} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  const grants = sqlBlocks(
    readDocument("docs/platform-contract.md"),
    "Database roles for the platform",
  );
  expect(grants).toHaveLength(2);
  for (const { sql } of grants) {
    await db.pool.query(
      sql.replaceAll("platform_provisioner", PROVISIONER).replaceAll("platform_claimer", CLAIMER),
    );
  }
  provisionerPool = poolAs(PROVISIONER);
  claimerPool = poolAs(CLAIMER);

  template = await seedTemplate(db.pool, { versions: ["v1", "v2"], activeVersion: 0 });
  const [v1, v2] = template.versionIds as [string, string];
  v1Small = await seedPreset(db.pool, { versionId: v1, name: "small", desiredInstances: 2 });
  v2Small = await seedPreset(db.pool, { versionId: v2, name: "small", desiredInstances: 2 });
});

afterAll(async () => {
  await worker?.stop({ grace: 50 });
  await provisionerPool?.end();
  await claimerPool?.end();
  await db?.drop();
  await admin(`DROP ROLE IF EXISTS ${PROVISIONER}`);
  await admin(`DROP ROLE IF EXISTS ${CLAIMER}`);
});

describe("the platform's roles, granted as docs/platform-contract.md shows", () => {
  it("run a worker as the provisioner role, and claim and cancel as the claiming role", async () => {
    // Work for the worker: two prebuild start builds, a prebuild's delete build, and a job a
    // person will cancel while it runs.
    await reconcileOnce({ pool: db.pool, logger: silentLogger });
    const deleting = await seedPrebuild(db.pool, {
      template,
      presetId: v1Small,
      state: "deleting",
    });
    const toCancel = await seedJob(db.pool, {
      organizationId: template.organizationId,
      initiatorId: (await seedUser(db.pool)).id,
      type: "template_version_import",
    });
    const problems: unknown[] = [];
    const logger: WorkerLogger = {
      info: () => {},
      warn: (fields, message) => problems.push({ ...fields, message }),
      error: (fields, message) => problems.push({ ...fields, message }),
    };
    const handler: JobHandler = async (job, signal) => {
      if (job.id === toCancel) {
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        throw signal.reason;
      }
      const build = await getWorkspaceBuildByJobID(provisionerPool, { jobId: job.id });
      return {
        onComplete: async (client, status) => {
          if (status !== "succeeded") return;
          if (build?.transition === "delete") {
            await markWorkspaceDeletedByJob(client, { jobId: job.id });
          } else {
            await insertWorkspaceResourceWithAgents(client, {
              jobId: job.id,
              resourceName: "vm",
              agentNames: ["main"],
              lifecycleStates: ["ready"],
            });
          }
        },
      };
    };
    worker = await startWorker({
      pool: provisionerPool,
      organizationId: template.organizationId,
      handler,
      concurrency: 2,
      pollInterval: 50,
      heartbeatInterval: 200,
      cancelGrace: 10_000,
      logger,
    });
    const status = async (jobId: string) =>
      (
        await db.pool.query<{ job_status: string; cancel_detail: string | null }>(
          "SELECT job_status, cancel_detail FROM provisioner_jobs WHERE id = $1",
          [jobId],
        )
      ).rows[0];
    await waitFor(
      "the human job to run",
      async () => (await status(toCancel))?.job_status === "running",
    );
    expect(await cancelJob(claimerPool, toCancel)).toBe("cancel_requested_while_running");
    await waitFor("every job of the organization to finish", async () => {
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM provisioner_jobs WHERE organization_id = $1 AND completed_at IS NULL",
        [template.organizationId],
      );
      return rows[0].n === 0;
    });
    // A few heartbeats with nothing held, then stop.
    await new Promise((r) => setTimeout(r, 500));
    const workerId = worker.id;
    await worker.stop({ grace: 1_000 });
    worker = undefined;
    expect(problems).toEqual([]);

    expect(await status(toCancel)).toMatchObject({ job_status: "canceled" });
    const builds = await db.pool.query(
      `SELECT wb.transition, pj.job_status, count(wa.id)::int AS agents
       FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
       LEFT JOIN workspace_resources wr ON wr.job_id = pj.id
       LEFT JOIN workspace_agents wa ON wa.resource_id = wr.id
       WHERE wb.template_version_preset_id = $1 AND pj.worker_id = $2
       GROUP BY wb.id, wb.transition, pj.job_status ORDER BY wb.transition, wb.id`,
      [v1Small, workerId],
    );
    expect(builds.rows).toEqual([
      { transition: "start", job_status: "succeeded", agents: 1 },
      { transition: "start", job_status: "succeeded", agents: 1 },
      { transition: "delete", job_status: "succeeded", agents: 0 },
    ]);
    const deleted = await db.pool.query("SELECT deleted FROM workspaces WHERE id = $1", [
      deleting.workspaceId,
    ]);
    expect(deleted.rows[0]).toEqual({ deleted: true });
    const daemons = await db.pool.query(
      "SELECT id FROM provisioner_daemons WHERE organization_id = $1 AND last_seen_at IS NOT NULL",
      [template.organizationId],
    );
    expect(daemons.rows).toEqual([{ id: workerId }]);

    // Claims: the active version's preset, then (after a promotion) the fallback to v1's.
    const alice = (await seedUser(db.pool)).id;
    const claimed = await claimPrebuild(claimerPool, {
      presetId: v1Small,
      userId: alice,
      workspaceName: "alice-1",
      ttlNanoseconds: 3_600_000_000_000n,
    });
    expect(claimed).toMatchObject({ status: "claimed", workspaceName: "alice-1" });
    await promoteVersion(db.pool, template.templateId, template.versionIds[1] as string);
    expect(
      await claimPrebuild(claimerPool, {
        presetId: v2Small,
        userId: alice,
        workspaceName: "alice-2",
        fallbackToPreviousVersion: true,
      }),
    ).toMatchObject({ status: "claimed", previousVersionPresetId: v1Small });

    // A pending job of an organization no worker serves, cancelled by the claiming role.
    const elsewhere = await seedOrganization(db.pool);
    const pending = await seedJob(db.pool, { organizationId: elsewhere.id });
    expect(await cancelJob(claimerPool, pending)).toBe("canceled_while_pending");
  });

  it.each([
    ["provisioner", "UPDATE workspaces SET owner_id = gen_random_uuid()"],
    ["provisioner", "INSERT INTO workspace_builds (workspace_id) VALUES (gen_random_uuid())"],
    ["provisioner", "UPDATE provisioner_jobs SET canceled_at = now()"],
    ["provisioner", "UPDATE workspace_agents SET lifecycle_state = 'ready'"],
    ["claimer", "UPDATE provisioner_jobs SET started_at = now(), worker_id = gen_random_uuid()"],
    ["claimer", "UPDATE workspaces SET deleted = true"],
    [
      "claimer",
      "INSERT INTO provisioner_daemons (name, organization_id) VALUES ('x', gen_random_uuid())",
    ],
    ["claimer", "SELECT * FROM users"],
  ] as const)("refuses the %s role: %s", async (role, sql) => {
    const pool = role === "provisioner" ? provisionerPool : claimerPool;
    await expect(pool.query(sql)).rejects.toMatchObject({ code: "42501" });
  });
});
