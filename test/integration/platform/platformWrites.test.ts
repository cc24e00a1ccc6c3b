// docs/platform-contract.md, "What the platform writes", run as written: its SQL blocks in document
// order on a fresh database, with the reconciler and a provisioner doing their part between them,
// and what prebuildsd then sees. A template of another organization with a ready prebuild is the
// antagonist: nothing the walk-through does may touch it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  insertWorkspaceResourceWithAgents,
  markWorkspaceDeletedByJob,
} from "../../../src/db/sql/queue_sql.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle, reconcileOnce } from "../../../src/reconciler/index.ts";
import { claimPrebuild } from "../../../src/worker/claimPrebuild.ts";
import { startWorker, type Worker } from "../../../src/worker/worker.ts";
import {
  bindPsqlVariables,
  blocksUnder,
  readDocument,
  type SqlBlock,
  sqlBlocks,
} from "../../fixtures/markdownSql.ts";
import {
  PREBUILDS_USER,
  type SeededTemplate,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
} from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { waitFor } from "../../reliability/support.ts";

const DOCUMENT = "docs/platform-contract.md";

let db: TestDatabase;
let blocks: SqlBlock[];
let antagonist: { template: SeededTemplate; presetId: string; workspaceId: string };
const workers: Worker[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  blocks = sqlBlocks(readDocument(DOCUMENT), "What the platform writes");
  const org = await seedOrganization(db.pool);
  const template = await seedTemplate(db.pool, { organizationId: org.id, name: "python" });
  const presetId = await seedPreset(db.pool, {
    versionId: template.activeVersionId,
    name: "small",
    desiredInstances: 1,
  });
  const { workspaceId } = await seedPrebuild(db.pool, { template, presetId });
  antagonist = { template, presetId, workspaceId };
});

afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ grace: 50 })));
  await db?.drop();
});

/** Runs every block under `heading`, in order, each as one simple query (several statements). */
async function run(heading: string, values: Record<string, string> = {}): Promise<void> {
  for (const sql of blocksUnder(blocks, heading)) {
    await db.pool.query(bindPsqlVariables(sql, values));
  }
}

async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.pool.query(sql, params);
  if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}: ${sql}`);
  return rows[0] as T;
}

async function idOf(sql: string, params: unknown[]): Promise<string> {
  return (await one<{ id: string }>(sql, params)).id;
}

async function planned(presetId: string, at?: Date): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool: db.pool }, at === undefined ? {} : { at });
  const found = preview.presets.find((p) => p.preset.presetId === presetId);
  if (found === undefined) throw new Error(`preset ${presetId} is not planned`);
  return found;
}

async function openJobs(organizationId: string): Promise<number> {
  return (
    await one<{ n: number }>(
      "SELECT count(*)::int AS n FROM provisioner_jobs WHERE organization_id = $1 AND completed_at IS NULL",
      [organizationId],
    )
  ).n;
}

/**
 * A provisioner for the walk-through's organization: the first start build it completes gets a
 * resource with no agent at all, every later one a top-level agent still `starting` with a
 * dev-container sub-agent under it that is never ready; a delete build marks its workspace deleted.
 */
async function provisionUntilIdle(organizationId: string): Promise<void> {
  let startBuilds = 0;
  const worker = await startWorker({
    pool: db.pool,
    organizationId,
    types: ["workspace_build"],
    pollInterval: 50,
    handler: async (job) => ({
      onComplete: async (client, status) => {
        if (status !== "succeeded") return;
        if (job.transition === "delete") {
          await markWorkspaceDeletedByJob(client, { jobId: job.id });
          return;
        }
        startBuilds++;
        const agents = startBuilds === 1 ? [] : ["main"];
        await insertWorkspaceResourceWithAgents(client, {
          jobId: job.id,
          resourceName: "vm",
          agentNames: agents,
          lifecycleStates: agents.map(() => "starting"),
        });
        if (startBuilds === 1) return;
        await client.query(
          `INSERT INTO workspace_agents (resource_id, parent_id, name, lifecycle_state)
           SELECT wa.resource_id, wa.id, 'devcontainer', 'starting'
           FROM workspace_agents wa JOIN workspace_resources wr ON wr.id = wa.resource_id
           WHERE wr.job_id = $1`,
          [job.id],
        );
      },
    }),
  });
  workers.push(worker);
  await waitFor("the provisioner to finish every job", async () => {
    return (await openJobs(organizationId)) === 0;
  });
  workers.splice(workers.indexOf(worker), 1);
  await worker.stop({ grace: 1_000 });
}

describe("the platform's writes, as docs/platform-contract.md shows them", () => {
  it("set up a template prebuildsd fills, whose prebuilds a user claims and which a promotion replaces", async () => {
    await run("Organizations and users");
    await run("A template and its first version");
    await run("Presets");
    const organizationId = await idOf("SELECT id FROM organizations WHERE name = 'acme'", []);
    const aliceId = await idOf("SELECT id FROM users WHERE username = 'alice'", []);
    const templateId = await idOf(
      "SELECT id FROM templates WHERE organization_id = $1 AND name = 'python'",
      [organizationId],
    );
    const preset = (version: string, name: string) =>
      idOf(
        `SELECT p.id FROM template_version_presets p
         JOIN template_versions v ON v.id = p.template_version_id
         WHERE v.template_id = $1 AND v.name = $2 AND p.name = $3`,
        [templateId, version, name],
      );
    const small = await preset("v1", "small");
    const large = await preset("v1", "large");

    // prebuildsd sees the preset that wants prebuilds, with its schedule, and not the other one.
    const preview = await planNextCycle({ pool: db.pool });
    expect(preview.presets.map((p) => p.preset.presetId)).not.toContain(large);
    const monday10Berlin = new Date("2030-01-07T09:00:00Z");
    const sunday10Berlin = new Date("2030-01-06T09:00:00Z");
    expect((await planned(small, monday10Berlin)).plan.state.desired).toBe(4);
    expect((await planned(small, sunday10Berlin)).plan.state.desired).toBe(2);
    const now = await planned(small);
    const desired = now.plan.state.desired;
    expect(now.plan.actions).toEqual([expect.objectContaining({ _tag: "Create", count: desired })]);
    expect(now.snapshot.preset.prebuildStatus).toBe("healthy");

    const cycle = await reconcileOnce({ pool: db.pool, logger: silentLogger });
    expect(cycle.effects.created).toBe(desired);
    const parameters = await db.pool.query(
      `SELECT DISTINCT p.name, p.value FROM workspace_build_parameters p
       JOIN workspace_builds wb ON wb.id = p.workspace_build_id
       WHERE wb.template_version_preset_id = $1`,
      [small],
    );
    expect(parameters.rows).toEqual([{ name: "region", value: "eu-west" }]);
    await provisionUntilIdle(organizationId);

    // Built, but no top-level agent is ready: running, none eligible, nothing to claim.
    expect((await planned(small)).plan.state).toMatchObject({ actual: desired, eligible: 0 });
    const request = { presetId: small, userId: aliceId, workspaceName: "alice-python" };
    expect(await claimPrebuild(db.pool, request)).toEqual({
      status: "none_available",
      presetId: small,
    });

    // One prebuild's top-level agent reports ready (its dev-container sub-agent does not).
    const withAgent = await one<{ agent_id: string; workspace_id: string }>(
      `SELECT wa.id AS agent_id, wb.workspace_id
       FROM workspace_agents wa
       JOIN workspace_resources wr ON wr.id = wa.resource_id
       JOIN workspace_builds wb ON wb.job_id = wr.job_id
       WHERE wb.template_version_preset_id = $1 AND wa.parent_id IS NULL
       ORDER BY wb.created_at, wa.id LIMIT 1`,
      [small],
    );
    await run("Agents become ready", { agent_id: withAgent.agent_id });
    expect((await planned(small)).plan.state).toMatchObject({ actual: desired, eligible: 1 });

    // The claim and the user's start build, in one transaction.
    const [claimSql, startBuildSql] = blocksUnder(blocks, "A claim and the user's start build");
    const client = await db.pool.connect();
    let claimed: { id: string; name: string };
    try {
      await client.query("BEGIN");
      const rows = (await client.query(bindPsqlVariables(claimSql as string, {}))).rows;
      expect(rows).toHaveLength(1);
      claimed = rows[0];
      await client.query(bindPsqlVariables(startBuildSql as string, { workspace_id: claimed.id }));
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK");
      throw error;
    } finally {
      client.release();
    }
    expect(claimed).toEqual({ id: withAgent.workspace_id, name: "alice-python" });
    const builds = await db.pool.query(
      `SELECT wb.build_number, wb.transition, wb.initiator_id, wb.template_version_preset_id,
              pj.job_status, pj.initiator_id AS job_initiator, pj.input, pj.tags,
              (SELECT json_agg(json_build_object(p.name, p.value)) FROM workspace_build_parameters p
               WHERE p.workspace_build_id = wb.id) AS parameters
       FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
       WHERE wb.workspace_id = $1 ORDER BY wb.build_number`,
      [claimed.id],
    );
    expect(builds.rows).toMatchObject([
      { build_number: 1, transition: "start", initiator_id: PREBUILDS_USER },
      {
        build_number: 2,
        transition: "start",
        initiator_id: aliceId,
        template_version_preset_id: small,
        job_status: "pending",
        job_initiator: aliceId,
        input: { prebuilt_workspace_build_stage: "CLAIM" },
        tags: { scope: "organization" },
        parameters: [{ region: "eu-west" }],
      },
    ]);
    expect(await one("SELECT owner_id, name FROM workspaces WHERE id = $1", [claimed.id])).toEqual({
      owner_id: aliceId,
      name: "alice-python",
    });
    // The pool is one short; the prebuild with no agent at all, built and running, is never
    // eligible: a second claim finds nothing.
    const after = await planned(small);
    expect(after.plan.state).toMatchObject({ actual: desired - 1, eligible: 0 });
    expect(after.plan.actions).toEqual([expect.objectContaining({ _tag: "Create", count: 1 })]);
    expect(await claimPrebuild(db.pool, { ...request, workspaceName: "alice-python-2" })).toEqual({
      status: "none_available",
      presetId: small,
    });

    // Promotion: the record the surge rollout and the claim fallback read is written, and the
    // next cycle fills v2 and retires v1.
    await run("Promoting a version");
    const v2Small = await preset("v2", "small");
    expect(
      await one(
        `SELECT pr.previous_version_id = v1.id AS from_v1, pr.active_version_id = v2.id AS to_v2
         FROM prebuild_template_promotions pr
         JOIN template_versions v1 ON v1.template_id = pr.template_id AND v1.name = 'v1'
         JOIN template_versions v2 ON v2.template_id = pr.template_id AND v2.name = 'v2'
         WHERE pr.template_id = $1`,
        [templateId],
      ),
    ).toEqual({ from_v1: true, to_v2: true });
    expect((await planned(v2Small)).plan.actions).toEqual([
      expect.objectContaining({ _tag: "Create", count: 2 }),
    ]);
    const retired = await planned(small);
    expect(retired.plan.actions).toEqual([expect.objectContaining({ _tag: "Delete" })]);
    expect(
      (retired.plan.actions[0] as { workspaceIds: readonly string[] }).workspaceIds,
    ).toHaveLength(desired - 1);

    // Once v1's prebuilds are gone, `plan` still lists its preset, with nothing to do.
    await reconcileOnce({ pool: db.pool, logger: silentLogger });
    await provisionUntilIdle(organizationId);
    const emptied = await planned(small);
    expect(emptied.plan.actions).toEqual([]);
    expect(emptied.plan.state.actual).toBe(0);

    // The user's workspace and the other organization's prebuild were never touched.
    expect(
      await one("SELECT owner_id, deleted FROM workspaces WHERE id = $1", [claimed.id]),
    ).toEqual({ owner_id: aliceId, deleted: false });
    expect(
      await one("SELECT owner_id, deleted FROM workspaces WHERE id = $1", [antagonist.workspaceId]),
    ).toEqual({ owner_id: PREBUILDS_USER, deleted: false });
  });

  it("documents the claim function's parameters as the database has them, and its two errors", async () => {
    const documented = [...readDocument(DOCUMENT).matchAll(/^\| `(p_\w+)` \| `(\w+)` \|/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const { args } = await one<{ args: string }>(
      `SELECT pg_get_function_identity_arguments('prebuild_claim_workspace'::regproc) AS args`,
    );
    expect(documented.join(", ")).toBe(args.replaceAll("timestamp with time zone", "timestamptz"));

    // A ready prebuild of the antagonist's template; the doc's named-argument call shape.
    const { template, presetId } = antagonist;
    const user = await idOf("INSERT INTO users (username) VALUES ('bob') RETURNING id", []);
    await db.pool.query(
      `INSERT INTO workspaces (owner_id, organization_id, template_id, name)
       VALUES ($1, $2, $3, 'Taken')`,
      [user, template.organizationId, template.templateId],
    );
    const claim = (userId: string, name: string, preset: string) =>
      db.pool.query(
        `SELECT id, name FROM prebuild_claim_workspace(
           p_new_user_id => $1, p_new_name => $2, p_now => NULL, p_autostart_schedule => NULL,
           p_next_start_at => NULL, p_ttl => NULL, p_allow_previous_version => false,
           p_preset_id => $3)`,
        [userId, name, preset],
      );
    await expect(claim(user, "taken", presetId)).rejects.toMatchObject({
      code: "23505",
      constraint: "workspaces_owner_id_lower_idx",
    });
    await expect(
      claim("00000000-0000-4000-8000-00000000dead", "ghost", presetId),
    ).rejects.toMatchObject({ code: "23503", constraint: "workspaces_owner_id_fkey" });
    // Nothing eligible: no row, whatever the name or the user.
    const empty = await seedPreset(db.pool, { versionId: template.activeVersionId, name: "empty" });
    expect((await claim(user, "taken", empty)).rows).toEqual([]);
    expect((await claim("00000000-0000-4000-8000-00000000dead", "x", empty)).rows).toEqual([]);
    // Both errors claimed nothing: the prebuild is still in its pool.
    expect((await claim(user, "bobs-python", presetId)).rows).toEqual([
      { id: antagonist.workspaceId, name: "bobs-python" },
    ]);
  });
});
