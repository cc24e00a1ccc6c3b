// Change tracking (issue #16): every kind of write marks the presets it affects, and nothing else.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  acquireProvisionerJob,
  completeProvisionerJob,
  insertWorkspaceResourceWithAgents,
} from "../../src/db/sql/queue_sql.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../../src/prebuildsUser.ts";
import {
  promoteVersion,
  type SeededTemplate,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedSchedule,
  seedTemplate,
  seedTemplateParameter,
  seedUser,
  setReconciliationPaused,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function clearMarks(): Promise<void> {
  await db.pool.query("DELETE FROM prebuild_dirty_presets; DELETE FROM prebuild_dirty_rows");
}

/** The distinct presets marked since the last clearMarks ("*" for a NULL mark: everything). */
async function marks(): Promise<string[]> {
  const { rows } = await db.pool.query<{ p: string }>(
    "SELECT DISTINCT coalesce(preset_id::text, '*') AS p FROM prebuild_marked_presets ORDER BY 1",
  );
  return rows.map((r) => r.p);
}

describe("change tracking triggers", () => {
  let t: SeededTemplate;
  let preset: string;
  let other: string;
  let workspaceId: string;
  let jobId: string;

  beforeAll(async () => {
    t = await seedTemplate(db.pool, { versions: 2 });
    preset = await seedPreset(db.pool, { versionId: t.activeVersionId });
    other = await seedPreset(db.pool, { versionId: t.versionIds[0] ?? "" });
    const p = await seedPrebuild(db.pool, { template: t, presetId: preset, state: "pending" });
    workspaceId = p.workspaceId;
    jobId = p.builds[0]?.jobId ?? "";
  });

  const cases: { name: string; write: () => Promise<unknown>; marked: () => string[] }[] = [
    {
      name: "a provisioner acquiring a job",
      write: () =>
        acquireProvisionerJob(db.pool, {
          workerId: "00000000-0000-4000-8000-000000000001",
          organizationId: t.organizationId,
          types: ["workspace_build"],
          provisionerTags: { scope: "organization" },
        }),
      marked: () => [preset],
    },
    {
      name: "a provisioner inserting the build's agents",
      write: () =>
        insertWorkspaceResourceWithAgents(db.pool, {
          jobId,
          resourceName: "main",
          agentNames: ["main"],
          lifecycleStates: ["ready"],
        }),
      marked: () => [preset],
    },
    {
      name: "a provisioner completing a job",
      write: () =>
        completeProvisionerJob(db.pool, {
          error: null,
          jobId,
          workerId: "00000000-0000-4000-8000-000000000001",
        }),
      marked: () => [preset],
    },
    {
      name: "an agent becoming not ready",
      write: () =>
        db.pool.query(
          `UPDATE workspace_agents SET lifecycle_state = 'starting'
           WHERE resource_id IN (SELECT id FROM workspace_resources WHERE job_id = $1)`,
          [jobId],
        ),
      marked: () => [preset],
    },
    {
      name: "a claim (the owner changes)",
      write: async () =>
        db.pool.query("UPDATE workspaces SET owner_id = $2 WHERE id = $1", [
          workspaceId,
          (await seedUser(db.pool)).id,
        ]),
      marked: () => [preset],
    },
    {
      name: "a delete build (it names no preset: the workspace's is used)",
      write: () =>
        db.pool.query(
          `WITH j AS (INSERT INTO provisioner_jobs (organization_id, initiator_id, type)
                      VALUES ($2, $3, 'workspace_build') RETURNING id)
           INSERT INTO workspace_builds (workspace_id, template_version_id, build_number, transition, initiator_id, job_id)
           SELECT $1, $4, 2, 'delete', $3, j.id FROM j`,
          [
            workspaceId,
            t.organizationId,
            "c42fdf75-3097-471c-8c33-fb52454d81c0",
            t.activeVersionId,
          ],
        ),
      marked: () => [preset],
    },
    {
      name: "a delete build's job completing (its build names no preset: the workspace's are used)",
      write: () =>
        db.pool.query(
          `UPDATE provisioner_jobs SET started_at = now(), completed_at = now(), worker_id = gen_random_uuid()
           WHERE id = (SELECT job_id FROM workspace_builds WHERE workspace_id = $1 AND build_number = 2)`,
          [workspaceId],
        ),
      marked: () => [preset],
    },
    {
      name: "an agent deleted",
      write: () =>
        db.pool.query(
          "DELETE FROM workspace_agents WHERE resource_id IN (SELECT id FROM workspace_resources WHERE job_id = $1)",
          [jobId],
        ),
      marked: () => [preset],
    },
    {
      name: "a promotion (every preset of the template)",
      write: () => promoteVersion(db.pool, t.templateId, t.versionIds[0] ?? ""),
      marked: () => [preset, other].sort(),
    },
    {
      name: "a preset's own row (invalidate)",
      write: () =>
        db.pool.query(
          "UPDATE template_version_presets SET last_invalidated_at = now() WHERE id = $1",
          [other],
        ),
      marked: () => [other],
    },
    {
      name: "a schedule",
      write: () =>
        seedSchedule(db.pool, { presetId: other, cron: "* 9-17 * * *", desiredInstances: 2 }),
      marked: () => [other],
    },
    {
      name: "a preset parameter",
      write: () =>
        db.pool.query(
          "INSERT INTO template_version_preset_parameters (template_version_preset_id, name, value) VALUES ($1, 'region', 'eu')",
          [other],
        ),
      marked: () => [other],
    },
    {
      name: "a template version parameter (every preset of the version)",
      write: () => seedTemplateParameter(db.pool, { versionId: t.activeVersionId, name: "size" }),
      marked: () => [preset],
    },
    {
      name: "the prebuilds settings (everything)",
      write: () => setReconciliationPaused(db.pool, false),
      marked: () => ["*"],
    },
  ];

  for (const c of cases) {
    it(`marks what ${c.name} affects, and nothing else`, async () => {
      await clearMarks();
      await c.write();
      expect(await marks()).toEqual(c.marked());
    });
  }

  it("does not mark a job's heartbeat (updated_at alone), then marks its completion", async () => {
    const p = await seedPrebuild(db.pool, { template: t, presetId: preset, state: "pending" });
    const job = p.builds[0]?.jobId ?? "";
    await db.pool.query(
      "UPDATE provisioner_jobs SET started_at = now(), worker_id = gen_random_uuid() WHERE id = $1",
      [job],
    );
    await clearMarks();
    await db.pool.query("UPDATE provisioner_jobs SET updated_at = now() WHERE id = $1", [job]);
    expect(await marks()).toEqual([]);
    await db.pool.query("UPDATE provisioner_jobs SET completed_at = now() WHERE id = $1", [job]);
    expect(await marks()).toEqual([preset]);
  });

  it("does not mark an agent's change the planner cannot see (its name), then marks its readiness", async () => {
    const p = await seedPrebuild(db.pool, { template: t, presetId: preset, ready: false });
    await clearMarks();
    const agentsOf = "resource_id IN (SELECT id FROM workspace_resources WHERE job_id = $1)";
    const job = p.builds[0]?.jobId ?? "";
    await db.pool.query(`UPDATE workspace_agents SET name = 'renamed' WHERE ${agentsOf}`, [job]);
    expect(await marks()).toEqual([]);
    await db.pool.query(`UPDATE workspace_agents SET lifecycle_state = 'ready' WHERE ${agentsOf}`, [
      job,
    ]);
    expect(await marks()).toEqual([preset]);
  });

  it("an agent moved to another build's resource marks both builds' presets", async () => {
    const from = await seedPrebuild(db.pool, { template: t, presetId: preset });
    const to = await seedPrebuild(db.pool, { template: t, presetId: other });
    const resourceOf = "SELECT id FROM workspace_resources WHERE job_id = $1";
    await clearMarks();
    await db.pool.query(
      `UPDATE workspace_agents SET resource_id = (${resourceOf.replace("$1", "$2")})
       WHERE resource_id IN (${resourceOf})`,
      [from.builds[0]?.jobId, to.builds[0]?.jobId],
    );
    expect(await marks()).toEqual([preset, other].sort());
  });

  it("a workspace resource deleted, its agents with it, marks its build's preset", async () => {
    const p = await seedPrebuild(db.pool, { template: t, presetId: preset });
    await clearMarks();
    await db.pool.query("DELETE FROM workspace_resources WHERE job_id = $1", [p.builds[0]?.jobId]);
    expect(await marks()).toEqual([preset]);
  });

  it("a build that names no preset, deleted after its job changed, still marks the workspace's preset", async () => {
    // A job mark is resolved when a cycle reads it: by then this build is gone, so its deletion
    // must mark the workspace itself.
    const p = await seedPrebuild(db.pool, { template: t, presetId: preset });
    const stop = await db.pool.query<{ job_id: string }>(
      `WITH j AS (INSERT INTO provisioner_jobs (organization_id, initiator_id, type)
                  VALUES ($2, $3, 'workspace_build') RETURNING id)
       INSERT INTO workspace_builds (workspace_id, template_version_id, build_number, transition, initiator_id, job_id)
       SELECT $1, $4, 2, 'stop', $3, j.id FROM j RETURNING job_id`,
      [p.workspaceId, t.organizationId, PREBUILDS_SYSTEM_USER_ID, t.activeVersionId],
    );
    await clearMarks();
    await db.pool.query(
      "UPDATE provisioner_jobs SET started_at = now(), worker_id = gen_random_uuid() WHERE id = $1",
      [stop.rows[0]?.job_id],
    );
    await db.pool.query("DELETE FROM workspace_builds WHERE job_id = $1", [stop.rows[0]?.job_id]);
    expect(await marks()).toEqual([preset]);
  });

  it("a job whose build names a preset marks that preset only, once, not the workspace's other builds' presets", async () => {
    const p = await seedPrebuild(db.pool, { template: t, presetId: other });
    const job = await db.pool.query<{ id: string }>(
      `WITH j AS (INSERT INTO provisioner_jobs (organization_id, initiator_id, type)
                  VALUES ($2, $3, 'workspace_build') RETURNING id)
       INSERT INTO workspace_builds (workspace_id, template_version_id, build_number, transition,
                                     initiator_id, job_id, template_version_preset_id)
       SELECT $1, $4, 2, 'start', $3, j.id, $5 FROM j RETURNING job_id AS id`,
      [
        p.workspaceId,
        t.organizationId,
        "c42fdf75-3097-471c-8c33-fb52454d81c0",
        t.activeVersionId,
        preset,
      ],
    );
    await clearMarks();
    await db.pool.query(
      "UPDATE provisioner_jobs SET started_at = now(), worker_id = gen_random_uuid() WHERE id = $1",
      [job.rows[0]?.id],
    );
    expect(await marks()).toEqual([preset]);
    // One mark row per write: the workspace's other builds are not even looked up.
    const rows = await db.pool.query("SELECT 1 FROM prebuild_marked_presets");
    expect(rows.rowCount).toBe(1);
  });

  it("a job whose build and workspace name no preset marks nothing (never a NULL mark, which would ask for a full resync)", async () => {
    const p = await seedPrebuild(db.pool, { template: t, presetId: null, state: "pending" });
    await clearMarks();
    await db.pool.query(
      "UPDATE provisioner_jobs SET started_at = now(), completed_at = now(), worker_id = gen_random_uuid() WHERE id = $1",
      [p.builds[0]?.jobId],
    );
    expect(await marks()).toEqual([]);
  });

  it("does not mark a workspace's activity (last_used_at) nor another organization's writes", async () => {
    await clearMarks();
    await db.pool.query("UPDATE workspaces SET last_used_at = now(), updated_at = now()");
    await seedOrganization(db.pool);
    expect(await marks()).toEqual([]);
  });
});
