// ClaimPrebuiltWorkspace (reference §7): a user gets a ready prebuild of the preset on the active
// version, never one that is not ready, of another preset, of an old version, of a deleted
// template, already owned by someone, or whose latest build is not a succeeded start; and two
// concurrent claims never get the same workspace.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimPrebuiltWorkspace } from "../../src/db/sql/queue_sql.ts";
import {
  type SeededTemplate,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

describe("ClaimPrebuiltWorkspace", () => {
  let db: TestDatabase;
  let user: string;

  beforeAll(async () => {
    db = await freshDatabase();
    user = (await seedUser(db.pool)).id;
  });
  afterAll(async () => {
    await db.drop();
  });

  function claim(presetId: string, newUserId = user, now = new Date()) {
    return claimPrebuiltWorkspace(db.pool, {
      allowPreviousVersion: false,
      newUserId,
      newName: `mine-${randomUUID().slice(0, 8)}`,
      now,
      autostartSchedule: "CRON_TZ=UTC 0 9 * * 1-5",
      nextStartAt: null,
      ttl: "3600000000000",
      presetId,
    });
  }

  /** A template (v1 old, v2 active) with a preset on each version. */
  async function scenario(options: { deleted?: boolean } = {}) {
    const template = await seedTemplate(db.pool, { versions: 2, ...options });
    const [oldVersion, activeVersion] = template.versionIds as [string, string];
    const preset = await seedPreset(db.pool, { versionId: activeVersion });
    const otherPreset = await seedPreset(db.pool, { versionId: activeVersion });
    const oldPreset = await seedPreset(db.pool, { versionId: oldVersion });
    return { template, oldVersion, preset, otherPreset, oldPreset };
  }

  it("claims the one eligible prebuild among antagonists, and nothing after it", async () => {
    const s = await scenario();
    const t: SeededTemplate = s.template;
    const antagonists = [
      await seedPrebuild(db.pool, { template: t, presetId: s.preset, ready: false }),
      await seedPrebuild(db.pool, { template: t, presetId: s.otherPreset }),
      await seedPrebuild(db.pool, { template: t, presetId: s.oldPreset, versionId: s.oldVersion }),
      await seedPrebuild(db.pool, { template: t, presetId: s.preset, ownerId: user }),
      ...(await Promise.all(
        (
          ["pending", "building", "failed", "canceled", "stopped", "deleting", "deleted"] as const
        ).map((state) => seedPrebuild(db.pool, { template: t, presetId: s.preset, state })),
      )),
    ];
    const eligible = await seedPrebuild(db.pool, { template: t, presetId: s.preset });

    const claimed = await claim(s.preset);
    expect(claimed?.id).toBe(eligible.workspaceId);
    expect(await claim(s.preset)).toBeNull();

    const owners = await db.pool.query(
      "SELECT count(*)::int AS n FROM workspaces WHERE owner_id = $1 AND id = ANY($2::uuid[])",
      [user, antagonists.map((a) => a.workspaceId)],
    );
    expect(owners.rows[0]?.n).toBe(1); // only the antagonist that was the user's to begin with
  });

  it("does not claim a prebuild of the preset's version once another version is active", async () => {
    const s = await scenario();
    // The preset lives on v1; its prebuild is ready, but v2 is the active version.
    await seedPrebuild(db.pool, {
      template: s.template,
      presetId: s.oldPreset,
      versionId: s.oldVersion,
    });
    expect(await claim(s.oldPreset)).toBeNull();
  });

  it("does not claim from a deleted template", async () => {
    const s = await scenario({ deleted: true });
    await seedPrebuild(db.pool, { template: s.template, presetId: s.preset });
    expect(await claim(s.preset)).toBeNull();
  });

  it("does not claim a prebuild the reconciler has stamped for deletion", async () => {
    // DeletePrebuilds stamps deleting_at with the delete build; a claim whose snapshot
    // still shows the succeeded start must notice the stamp on the row it locks.
    const s = await scenario();
    const p = await seedPrebuild(db.pool, { template: s.template, presetId: s.preset });
    await db.pool.query("UPDATE workspaces SET deleting_at = now() WHERE id = $1", [p.workspaceId]);
    expect(await claim(s.preset)).toBeNull();
  });

  it("claims from its own schema's tables whatever the caller's search_path names first (migration 0053)", async () => {
    const s = await scenario();
    const p = await seedPrebuild(db.pool, { template: s.template, presetId: s.preset });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // A schema with an empty workspaces table ahead of ours: an unpinned function body would
      // read it and find nothing to claim.
      await client.query("CREATE SCHEMA IF NOT EXISTS decoy");
      await client.query("CREATE TABLE IF NOT EXISTS decoy.workspaces (LIKE public.workspaces)");
      await client.query("SET search_path = decoy, public");
      const claimed = await claimPrebuiltWorkspace(client, {
        allowPreviousVersion: false,
        newUserId: user,
        newName: `mine-${randomUUID().slice(0, 8)}`,
        now: null,
        autostartSchedule: null,
        nextStartAt: null,
        ttl: null,
        presetId: s.preset,
      });
      expect(claimed?.id).toBe(p.workspaceId);
    } finally {
      await client.query("DROP SCHEMA IF EXISTS decoy CASCADE");
      await client.end();
    }
  });

  it("hands the workspace over: owner, name, schedule, last use; dormancy cleared", async () => {
    const s = await scenario();
    const p = await seedPrebuild(db.pool, { template: s.template, presetId: s.preset });
    await db.pool.query("UPDATE workspaces SET dormant_at = now() WHERE id = $1", [p.workspaceId]);
    const now = new Date("2026-03-02T09:00:00Z");
    const claimed = await claimPrebuiltWorkspace(db.pool, {
      allowPreviousVersion: false,
      newUserId: user,
      newName: "my-workspace",
      now,
      autostartSchedule: "CRON_TZ=UTC 0 9 * * 1-5",
      nextStartAt: new Date("2026-03-03T09:00:00Z"),
      ttl: "3600000000000",
      presetId: s.preset,
    });
    expect(claimed).toEqual({ id: p.workspaceId, name: "my-workspace" });
    const { rows } = await db.pool.query(
      `SELECT owner_id, name, updated_at, last_used_at, autostart_schedule, next_start_at, ttl,
              dormant_at, deleting_at FROM workspaces WHERE id = $1`,
      [p.workspaceId],
    );
    expect(rows[0]).toEqual({
      owner_id: user,
      name: "my-workspace",
      updated_at: now,
      last_used_at: now,
      autostart_schedule: "CRON_TZ=UTC 0 9 * * 1-5",
      next_start_at: new Date("2026-03-03T09:00:00Z"),
      ttl: "3600000000000",
      dormant_at: null,
      deleting_at: null,
    });
  });

  it("never gives one workspace to two concurrent claims", async () => {
    for (let round = 0; round < 5; round++) {
      const s = await scenario();
      const ready = await Promise.all(
        Array.from({ length: 3 }, () =>
          seedPrebuild(db.pool, { template: s.template, presetId: s.preset }),
        ),
      );
      const claimants = await Promise.all(
        Array.from({ length: 8 }, async () => (await seedUser(db.pool)).id),
      );
      const results = await Promise.all(claimants.map((u) => claim(s.preset, u)));
      const won = results.filter((r) => r !== null).map((r) => r.id);
      expect(won.sort()).toEqual(ready.map((r) => r.workspaceId).sort());
      const owners = await db.pool.query(
        "SELECT count(DISTINCT owner_id)::int AS n FROM workspaces WHERE id = ANY($1::uuid[])",
        [won],
      );
      expect(owners.rows[0]?.n).toBe(3);
    }
  });
  it("finds its candidate through the template's unclaimed prebuilds, not every prebuild", async () => {
    // Issue #16: 40 other templates' pools around the preset's own; the claim must read the
    // preset's template pool from workspaces_unclaimed_prebuilds_idx and lock a handful of rows.
    const s = await scenario();
    for (let i = 0; i < 40; i++) {
      const other = await seedTemplate(db.pool, { versions: 1 });
      const otherPreset = await seedPreset(db.pool, { versionId: other.activeVersionId });
      for (let k = 0; k < 3; k++)
        await seedPrebuild(db.pool, { template: other, presetId: otherPreset });
    }
    const mine = await seedPrebuild(db.pool, { template: s.template, presetId: s.preset });
    await db.pool.query("ANALYZE");
    // A new session: its plan cache is empty, so the statement is planned under the settings below.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("BEGIN");
      // At this size (121 prebuilds) a sequential scan is the planner's cheapest path; what is
      // asked here is which access path the query's shape allows, as at fleet scale.
      await client.query("SET LOCAL enable_seqscan = off");
      // The claim runs inside prebuild_claim_workspace (migration 0051): auto_explain reports the
      // plan of the function's statement, sent to this client as a LOG message.
      for (const setting of [
        "LOAD 'auto_explain'",
        "SET LOCAL auto_explain.log_min_duration = 0",
        "SET LOCAL auto_explain.log_nested_statements = on",
        "SET LOCAL auto_explain.log_analyze = on",
        "SET LOCAL auto_explain.log_format = 'json'",
        "SET LOCAL client_min_messages = log",
      ])
        await client.query(setting);
      const logged: string[] = [];
      client.on("notice", (notice) => logged.push(notice.message ?? ""));
      const explained = await claimPrebuiltWorkspace(client, {
        allowPreviousVersion: false,
        newUserId: user,
        newName: "explained",
        now: new Date(),
        autostartSchedule: null,
        nextStartAt: null,
        ttl: null,
        presetId: s.preset,
      });
      client.removeAllListeners("notice");
      expect(explained?.id).toBe(mine.workspaceId);
      const plans = logged
        .map((message) => JSON.parse(message.slice(message.indexOf("{"))))
        .filter((plan: { "Query Text": string }) => plan["Query Text"].includes("claimable"));
      expect(plans).toHaveLength(1);
      // Generic from the first call (migration 0054): the plan names the preset as a parameter;
      // a plan made for this call's values would carry its id as a constant.
      expect(JSON.stringify(plans[0].Plan)).not.toContain(s.preset);
      const nodes: { "Index Name"?: string; "Actual Rows"?: number; "Actual Loops"?: number }[] =
        [];
      const walk = (node: Record<string, unknown>) => {
        nodes.push(node);
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? [])
          walk(child);
      };
      walk(plans[0].Plan);
      const byIndex = nodes.filter((n) => n["Index Name"] === "workspaces_unclaimed_prebuilds_idx");
      expect(byIndex.length).toBe(1);
      // 121 unclaimed prebuilds exist; the claim reads its own template's (one here).
      expect((byIndex[0]?.["Actual Rows"] ?? 0) * (byIndex[0]?.["Actual Loops"] ?? 0)).toBe(1);
      await client.query("ROLLBACK");
      expect((await claim(s.preset))?.id).toBe(mine.workspaceId);
    } finally {
      await client.end();
    }
  });
});
