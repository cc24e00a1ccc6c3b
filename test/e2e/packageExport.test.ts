// The package export platforms import (issue #12): `prebuildsd/worker` resolves through
// package.json "exports" to the built runtime, with its type declarations beside it, and carries
// everything a job handler needs: a platform's provisioner written against the package entry
// alone (platform/platformProvisioner.ts) type-checks and finishes start and delete builds.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";
import { claimPrebuild } from "../../src/worker/claimPrebuild.ts";
import { seedJob, seedPrebuild, seedPreset, seedTemplate, seedUser } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const NODE = join(projectRoot, "node_modules", ".bin", "node");
const TSC = join(projectRoot, "node_modules", ".bin", "tsc");
const PLATFORM = join(projectRoot, "test", "e2e", "platform", "platformProvisioner.ts");

describe("prebuildsd/worker", () => {
  it("resolves to the built runtime with its API and type declarations", () => {
    const probe = spawnSync(
      NODE,
      [
        "--input-type=module",
        "-e",
        'const m = await import("prebuildsd/worker"); console.log(JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]))));',
      ],
      { cwd: projectRoot, encoding: "utf8" },
    );
    expect(probe.stderr).toBe("");
    const exported = JSON.parse(probe.stdout) as Record<string, string>;
    expect(exported).toMatchObject({
      startWorker: "function",
      cancelJob: "function",
      claimPrebuild: "function",
      UnknownUserError: "function",
      UnknownOrganizationError: "function",
      workerMetrics: "function",
      tagsSatisfy: "function",
      CANCEL_RESULTS: "object",
      getWorkspaceBuildByJobID: "function",
      insertWorkspaceResourceWithAgents: "function",
      markWorkspaceDeletedByJob: "function",
    });
    expect(existsSync(join(projectRoot, "dist", "src", "worker", "index.d.ts"))).toBe(true);
  });

  describe("a platform's job handler, importing only the package entry", () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await freshDatabase();
    });
    afterAll(async () => {
      await db.drop();
    });

    it("type-checks against the built declarations", () => {
      const check = spawnSync(
        TSC,
        [
          "--ignoreConfig",
          "--noEmit",
          "--strict",
          "--target",
          "es2023",
          "--module",
          "nodenext",
          "--moduleResolution",
          "nodenext",
          "--types",
          "node",
          "--skipLibCheck",
          PLATFORM,
        ],
        { cwd: projectRoot, encoding: "utf8" },
      );
      expect(check.stdout + check.stderr).toBe("");
      expect(check.status).toBe(0);
    });

    it("reads each build, records a start build's agents and deletes a deleted workspace", async () => {
      const template = await seedTemplate(db.pool);
      const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
      const building = await seedPrebuild(db.pool, {
        template,
        presetId: preset,
        state: "pending",
      });
      const deleting = await seedPrebuild(db.pool, {
        template,
        presetId: preset,
        state: "deleting",
      });
      // Antagonists: a ready prebuild of the same preset, and another organization's pending job.
      const ready = await seedPrebuild(db.pool, { template, presetId: preset });
      const elsewhere = await seedJob(db.pool, {
        organizationId: (await seedTemplate(db.pool)).organizationId,
      });
      const startJob = building.builds[0]?.jobId as string;
      const deleteJob = deleting.builds[1]?.jobId as string;

      const run = spawnSync(
        NODE,
        [PLATFORM, db.url, template.organizationId, startJob, deleteJob],
        { cwd: projectRoot, encoding: "utf8", timeout: 30_000 },
      );
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({
        [startJob]: {
          id: building.builds[0]?.buildId,
          workspaceId: building.workspaceId,
          templateVersionId: template.activeVersionId,
          buildNumber: 1,
          transition: "start",
          templateVersionPresetId: preset,
          initiatorId: expect.any(String),
        },
        [deleteJob]: expect.objectContaining({
          id: deleting.builds[1]?.buildId,
          workspaceId: deleting.workspaceId,
          buildNumber: 2,
          transition: "delete",
        }),
      });

      const agents = await db.pool.query(
        `SELECT wr.name AS resource, wa.name, wa.lifecycle_state FROM workspace_agents wa
         JOIN workspace_resources wr ON wr.id = wa.resource_id WHERE wr.job_id = $1 ORDER BY wa.name`,
        [startJob],
      );
      expect(agents.rows).toEqual([
        { resource: "vm", name: "main", lifecycle_state: "ready" },
        { resource: "vm", name: "sidecar", lifecycle_state: "ready" },
      ]);
      const workspaces = await db.pool.query(
        "SELECT id FROM workspaces WHERE deleted AND id = ANY($1::uuid[])",
        [[building.workspaceId, deleting.workspaceId, ready.workspaceId]],
      );
      expect(workspaces.rows).toEqual([{ id: deleting.workspaceId }]);
      const untouched = await db.pool.query(
        "SELECT job_status FROM provisioner_jobs WHERE id = $1",
        [elsewhere],
      );
      expect(untouched.rows).toEqual([{ job_status: "pending" }]);

      // The built prebuild is now claimable alongside the one that was ready.
      const user = (await seedUser(db.pool)).id;
      const claimed = new Set<string>();
      for (const name of ["first", "second"]) {
        const claim = await claimPrebuild(db.pool, {
          presetId: preset,
          userId: user,
          workspaceName: name,
        });
        if (claim.status === "claimed") claimed.add(claim.workspaceId);
      }
      expect(claimed).toEqual(new Set([building.workspaceId, ready.workspaceId]));
    });
  });
});
