// The three views the reference relies on (§1.5), read as specifications: which workspaces and
// builds each one shows, and what `ready` and `current_preset_id` mean, with antagonist rows
// (a user's workspace, a claimed prebuild, a deleted prebuild, a stop build, a build without a
// preset, another template, a sub-agent, a deleted agent) that must not appear or must not
// change `ready`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentSpec,
  PREBUILDS_USER,
  type SeededBuild,
  type SeededTemplate,
  seedBuild,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

describe("views", () => {
  let db: TestDatabase;
  let template: SeededTemplate;
  let other: SeededTemplate;
  let preset: string;
  let otherPreset: string;
  let user: string;
  /** Workspace id and builds (oldest first) by scenario name. */
  const ws = new Map<string, { id: string; builds: SeededBuild[] }>();

  const id = (name: string) => ws.get(name)?.id as string;
  const builds = (name: string) => ws.get(name)?.builds ?? [];

  /** A prebuild workspace whose build 1 is a succeeded start of `preset` with `agents`. */
  async function prebuildWithAgents(name: string, agents: readonly AgentSpec[]): Promise<void> {
    const workspaceId = await seedWorkspace(db.pool, { template });
    const b1 = await seedBuild(db.pool, {
      template,
      workspaceId,
      versionId: template.activeVersionId,
      buildNumber: 1,
      presetId: preset,
      agents,
    });
    ws.set(name, { id: workspaceId, builds: [b1] });
  }

  beforeAll(async () => {
    db = await freshDatabase();
    const org = await seedOrganization(db.pool);
    template = await seedTemplate(db.pool, { organizationId: org.id, versions: 2 });
    other = await seedTemplate(db.pool, { organizationId: org.id });
    preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    otherPreset = await seedPreset(db.pool, { versionId: other.activeVersionId });
    user = (await seedUser(db.pool)).id;

    await prebuildWithAgents("ready", [{ lifecycle: "ready" }]);
    await prebuildWithAgents("agent not ready", [
      { lifecycle: "ready" },
      { lifecycle: "starting" },
    ]);
    await prebuildWithAgents("sub-agent not ready", [
      { lifecycle: "ready" },
      { lifecycle: "starting", parent: 0 },
    ]);
    await prebuildWithAgents("deleted agent not ready", [
      { lifecycle: "ready" },
      { lifecycle: "start_error", deleted: true },
    ]);
    await prebuildWithAgents("no agents", []);
    for (const [name, state] of [
      ["stopped", "stopped"],
      ["deleted", "deleted"],
    ] as const) {
      const p = await seedPrebuild(db.pool, { template, presetId: preset, state });
      ws.set(name, { id: p.workspaceId, builds: [...p.builds] });
    }
    const otherTemplate = await seedPrebuild(db.pool, { template: other, presetId: otherPreset });
    ws.set("other template", { id: otherTemplate.workspaceId, builds: [...otherTemplate.builds] });

    // Restarted without a preset: the preset comes from the latest build that has one; readiness
    // from the latest build.
    const restarted = await seedPrebuild(db.pool, { template, presetId: preset, ready: false });
    const restart = await seedBuild(db.pool, {
      template,
      workspaceId: restarted.workspaceId,
      versionId: template.activeVersionId,
      buildNumber: 2,
      presetId: null,
    });
    ws.set("restarted without preset", {
      id: restarted.workspaceId,
      builds: [...restarted.builds, restart],
    });

    // Owned by the prebuilds user but never built with a preset: not a prebuild.
    const noPreset = await seedPrebuild(db.pool, { template, presetId: null });
    ws.set("no preset build", { id: noPreset.workspaceId, builds: [...noPreset.builds] });

    // A user's own workspace, built by the user with the preset.
    const mine = await seedWorkspace(db.pool, { template, ownerId: user });
    const mineBuild = await seedBuild(db.pool, {
      template,
      workspaceId: mine,
      versionId: template.activeVersionId,
      buildNumber: 1,
      presetId: preset,
      initiatorId: user,
    });
    ws.set("user workspace", { id: mine, builds: [mineBuild] });

    // A claimed prebuild: build 1 by the prebuilds user, then owned by the user who started build 2.
    const claimed = await seedPrebuild(db.pool, { template, presetId: preset });
    await db.pool.query("UPDATE workspaces SET owner_id = $2 WHERE id = $1", [
      claimed.workspaceId,
      user,
    ]);
    const claimBuild = await seedBuild(db.pool, {
      template,
      workspaceId: claimed.workspaceId,
      versionId: template.activeVersionId,
      buildNumber: 2,
      presetId: preset,
      initiatorId: user,
    });
    ws.set("claimed", { id: claimed.workspaceId, builds: [...claimed.builds, claimBuild] });
  });
  afterAll(async () => {
    await db.drop();
  });

  describe("workspace_latest_builds", () => {
    it("has the highest-numbered build of every non-deleted workspace, prebuild or not", async () => {
      const { rows } = await db.pool.query(
        "SELECT workspace_id, id, transition, job_status FROM workspace_latest_builds",
      );
      const byWorkspace = new Map(rows.map((r) => [r.workspace_id, r]));
      const expected = [...ws.keys()].filter((name) => name !== "deleted");
      expect([...byWorkspace.keys()].sort()).toEqual(expected.map(id).sort());
      for (const name of expected) {
        const latest = builds(name).at(-1) as SeededBuild;
        expect(byWorkspace.get(id(name))?.id, name).toBe(latest.buildId);
      }
      expect(byWorkspace.get(id("stopped"))).toMatchObject({
        transition: "stop",
        job_status: "succeeded",
      });
    });
  });

  describe("workspace_prebuild_builds", () => {
    it("has exactly the builds the prebuilds user initiated, whoever owns the workspace now", async () => {
      const { rows } = await db.pool.query("SELECT id FROM workspace_prebuild_builds");
      const userBuilds = new Set([
        builds("user workspace")[0]?.buildId,
        builds("claimed")[1]?.buildId,
      ]);
      const expected = [...ws.values()]
        .flatMap((w) => w.builds.map((b) => b.buildId))
        .filter((b) => !userBuilds.has(b));
      expect(rows.map((r) => r.id).sort()).toEqual(expected.sort());
    });

    it("carries the columns the snapshot reads", async () => {
      const { rows } = await db.pool.query(
        "SELECT workspace_id, build_number, transition, template_version_preset_id FROM workspace_prebuild_builds WHERE id = $1",
        [builds("stopped")[1]?.buildId],
      );
      expect(rows).toEqual([
        {
          workspace_id: id("stopped"),
          build_number: 2,
          transition: "stop",
          template_version_preset_id: preset,
        },
      ]);
    });
  });

  describe("workspace_prebuilds", () => {
    let rows: { id: string; ready: boolean; current_preset_id: string; template_id: string }[];
    beforeAll(async () => {
      rows = (
        await db.pool.query(
          "SELECT id, ready, current_preset_id, template_id FROM workspace_prebuilds",
        )
      ).rows;
    });
    const row = (name: string) => rows.find((r) => r.id === id(name));

    it("lists non-deleted prebuilds-owned workspaces that have a preset build, nothing else", () => {
      const expected = [
        "ready",
        "agent not ready",
        "sub-agent not ready",
        "deleted agent not ready",
        "no agents",
        "stopped",
        "other template",
        "restarted without preset",
      ];
      expect(rows.map((r) => r.id).sort()).toEqual(expected.map(id).sort());
    });

    it.each([
      ["ready", true],
      ["agent not ready", false],
      ["sub-agent not ready", true],
      ["deleted agent not ready", true],
      ["no agents", false],
      ["stopped", false],
      ["restarted without preset", true],
    ] as const)("%s: ready is %s", (name, ready) => {
      expect(row(name)?.ready).toBe(ready);
    });

    it("takes current_preset_id from the latest build that has a preset", () => {
      expect(row("restarted without preset")?.current_preset_id).toBe(preset);
      expect(row("other template")).toMatchObject({
        current_preset_id: otherPreset,
        template_id: other.templateId,
      });
    });

    it("does not list the prebuilds user's rows for a user's workspace", () => {
      expect(rows.some((r) => r.id === id("claimed") || r.id === id("user workspace"))).toBe(false);
      expect(PREBUILDS_USER).toMatch(/^c42fdf75/);
    });
  });
});
