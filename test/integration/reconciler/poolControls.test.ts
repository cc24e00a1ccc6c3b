// Pool controls against real cycles (issue #15): scoped pause, runtime scale, hard-limit reset and
// self-recovery, each with antagonists (another preset, another template, a person's workspace)
// and across a promotion.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/configError.ts";
import { resetHardLimit } from "../../../src/controls/resetHardLimit.ts";
import { scale } from "../../../src/controls/scale.ts";
import { setPause } from "../../../src/controls/scopedPause.ts";
import {
  recoverPresetFromHardLimit,
  resetPresetFailures,
  upsertDesiredOverrides,
} from "../../../src/db/sql/controls_sql.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import {
  createdFor,
  type Seed,
  seedAntagonists,
  type TemplateIds,
  workspacesOf,
} from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles, runCyclesSettled } from "./reconcilerHarness.ts";

const fresh = databasePerTest();

async function plan(seed: Seed, failureHardLimit = 3): Promise<readonly PlannedPreset[]> {
  const preview = await planNextCycle({
    pool: seed.pool,
    options: { failureHardLimit, backoffInterval: 0 },
  });
  return preview.presets;
}

function planOf(planned: readonly PlannedPreset[], presetId: string): PlannedPreset {
  const p = planned.find((x) => x.preset.presetId === presetId);
  if (p === undefined) throw new Error(`preset ${presetId} not planned`);
  return p;
}

/** Live unclaimed prebuilds of the preset whose latest build is a start (pending or done). */
async function poolSize(seed: Seed, t: TemplateIds, presetId: string): Promise<number> {
  const ws = await workspacesOf(seed.pool, t.templateId);
  return ws.filter((w) => {
    const last = w.builds[w.builds.length - 1];
    return (
      !w.deleted &&
      w.builds.some((b) => b.presetId === presetId) &&
      last?.transition === "start" &&
      w.ownerId === "c42fdf75-3097-471c-8c33-fb52454d81c0"
    );
  }).length;
}

/** What a provisioner does: the pending jobs of the prebuilds the cycles created succeed (with a
 *  ready agent); the antagonists' are left alone. */
async function finishPendingJobs(seed: Seed, keep: ReadonlySet<string>): Promise<void> {
  const r = await seed.sql(
    `SELECT pj.id FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
     WHERE pj.job_status = 'pending' AND NOT (wb.workspace_id = ANY($1::uuid[]))`,
    [[...keep]],
  );
  await seed.finishJobs(
    r.rows.map((row: { id: string }) => row.id),
    "succeeded",
  );
}

async function twoTemplates(seed: Seed) {
  const t = await seed.template({ name: "alpha" });
  const small = await seed.preset(t.versionId, { name: "small", desired: 2 });
  const large = await seed.preset(t.versionId, { name: "large", desired: 1 });
  const other = await seed.template({ name: "beta" });
  const otherPreset = await seed.preset(other.versionId, { name: "small", desired: 1 });
  const antagonists = await seedAntagonists(seed, t, t.versionId, small);
  return { t, small, large, other, otherPreset, antagonists };
}

describe("scoped pause", () => {
  it("a paused template plans and executes nothing; its neighbours and a person's workspace are untouched", async () => {
    const { db, seed } = await fresh();
    const s = await twoTemplates(seed);
    const result = await setPause(db.pool, { template: "alpha" }, true);
    expect(result).toMatchObject({ scope: "template", changed: true, templateName: "alpha" });
    const planned = await plan(seed);
    for (const id of [s.small, s.large]) {
      expect(planOf(planned, id).plan.actions).toEqual([]);
      expect(planOf(planned, id).plan.paused).toMatch(/template "alpha" is paused/);
    }
    expect(planOf(planned, s.otherPreset).plan.paused).toBeNull();
    await runCycles(makeDeps(db.pool), 2);
    expect(createdFor(await workspacesOf(db.pool, s.t.templateId), s.small)).toHaveLength(0);
    expect(createdFor(await workspacesOf(db.pool, s.other.templateId), s.otherPreset)).toHaveLength(
      1,
    );
    await s.antagonists.verify();

    expect(await setPause(db.pool, { template: "alpha" }, true)).toMatchObject({ changed: false });
    expect(await setPause(db.pool, { template: "alpha" }, false)).toMatchObject({ changed: true });
    await runCycles(makeDeps(db.pool), 1);
    expect(createdFor(await workspacesOf(db.pool, s.t.templateId), s.small)).toHaveLength(2);
    await s.antagonists.verify();
  });

  it("a paused preset leaves the template's other preset and the same-named preset of another template acting", async () => {
    const { db, seed } = await fresh();
    const s = await twoTemplates(seed);
    await setPause(db.pool, { template: "alpha", preset: "small" }, true);
    await runCycles(makeDeps(db.pool), 1);
    const ws = await workspacesOf(db.pool, s.t.templateId);
    expect(createdFor(ws, s.small)).toHaveLength(0);
    expect(createdFor(ws, s.large)).toHaveLength(1);
    expect(createdFor(await workspacesOf(db.pool, s.other.templateId), s.otherPreset)).toHaveLength(
      1,
    );
    // Resuming the preset while the whole template is paused says so.
    await setPause(db.pool, { template: "alpha" }, true);
    expect(await setPause(db.pool, { template: "alpha", preset: "small" }, false)).toMatchObject({
      changed: true,
      templateStillPaused: true,
    });
  });

  it("outlasts a promotion: the new version's same-named preset waits and the old one's prebuilds stay", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1 = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const old = await seed.prebuild(t, { versionId: t.versionId, presetId: v1 });
    await setPause(db.pool, { template: "alpha", preset: "small" }, true);
    const v2Version = await seed.version(t, { activate: true });
    const v2 = await seed.preset(v2Version, { name: "small", desired: 1 });
    const planned = await plan(seed);
    expect(planOf(planned, v1).plan.actions).toEqual([]);
    expect(planOf(planned, v2).plan.actions).toEqual([]);
    await runCycles(makeDeps(db.pool), 1);
    const ws = await workspacesOf(db.pool, t.templateId);
    expect(ws.find((w) => w.id === old.workspaceId)?.builds).toHaveLength(1);
    expect(createdFor(ws, v2)).toHaveLength(0);
  });

  it("global pause and resume report whether anything changed", async () => {
    const { db } = await fresh();
    expect(await setPause(db.pool, {}, true)).toMatchObject({ scope: "all", changed: true });
    expect(await setPause(db.pool, {}, true)).toMatchObject({ scope: "all", changed: false });
    expect(await setPause(db.pool, {}, false)).toMatchObject({ scope: "all", changed: true });
  });
});

describe("runtime scale", () => {
  it("overrides the active version's desired count; 0 drains; --clear restores the configured count", async () => {
    const { db, seed } = await fresh();
    const s = await twoTemplates(seed);
    const result = await scale(db.pool, "alpha", 3, "small");
    expect(result.presets).toEqual([
      { presetName: "small", configured: 2, before: null, after: 3 },
    ]);
    const planned = planOf(await plan(seed), s.small).plan;
    expect(planned.state.desired).toBe(3);
    expect(planned.desiredOverride).toBe(3);
    expect(planned.actions[0]?.reason).toMatch(/desired 3 \(scale override, configured 2\)/);
    await runCyclesSettled(makeDeps(db.pool), 2);
    await finishPendingJobs(seed, s.antagonists.workspaceIds);
    expect(await poolSize(seed, s.t, s.small)).toBe(3);
    expect(await poolSize(seed, s.t, s.large)).toBe(1);
    expect(await poolSize(seed, s.other, s.otherPreset)).toBe(1);

    await scale(db.pool, "alpha", 0, undefined);
    await runCycles(makeDeps(db.pool), 1);
    expect(await poolSize(seed, s.t, s.small)).toBe(0);
    expect(await poolSize(seed, s.t, s.large)).toBe(0);
    expect(await poolSize(seed, s.other, s.otherPreset)).toBe(1);
    await s.antagonists.verify();

    const cleared = await scale(db.pool, "alpha", "clear", undefined);
    expect(cleared.presets.map((p) => [p.presetName, p.before, p.after])).toEqual([
      ["large", 0, null],
      ["small", 0, null],
    ]);
    expect(planOf(await plan(seed), s.small).plan.state.desired).toBe(2);
  });

  it("is keyed to the preset: a newly promoted version starts from its own configured count", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1 = await seed.preset(t.versionId, { name: "small", desired: 1 });
    await scale(db.pool, "alpha", 4, undefined);
    expect(planOf(await plan(seed), v1).plan.state.desired).toBe(4);
    const v2Version = await seed.version(t, { activate: true });
    const v2 = await seed.preset(v2Version, { name: "small", desired: 2 });
    const planned = planOf(await plan(seed), v2).plan;
    expect(planned.state.desired).toBe(2);
    expect(planned.desiredOverride).toBeNull();
  });

  it("a schedule covering the instant still wins over the override", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const preset = await seed.preset(t.versionId, { name: "small", desired: 1, timezone: "UTC" });
    await seed.schedule(preset, "* * * * *", 5);
    await scale(db.pool, "alpha", 2, "small");
    const planned = planOf(await plan(seed), preset).plan;
    expect(planned.state.desired).toBe(5);
    expect(planned.desired.source).toBe("schedule");
    expect(planned.desiredOverride).toBe(2);
  });
});

describe("hard limit: reset and self-recovery", () => {
  async function hardLimited(seed: Seed) {
    const t = await seed.template({ name: "alpha" });
    const preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const sibling = await seed.preset(t.versionId, { name: "large", desired: 1 });
    const failed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "failed",
        createdAt: new Date(Date.now() - (10 - i) * 60_000),
      });
      failed.push(p.workspaceId);
    }
    return { t, preset, sibling, failed };
  }

  async function statusOf(seed: Seed, presetId: string): Promise<string> {
    const r = await seed.sql("SELECT prebuild_status FROM template_version_presets WHERE id = $1", [
      presetId,
    ]);
    return r.rows[0].prebuild_status;
  }

  it("`reset` returns a hard-limited preset to healthy and earlier failures stop counting", async () => {
    const { db, seed } = await fresh();
    const h = await hardLimited(seed);
    const deps = makeDeps(db.pool, { options: { failureHardLimit: 3, backoffInterval: 0 } });
    await runCycles(deps, 1);
    expect(await statusOf(seed, h.preset)).toBe("hard_limited");
    expect(planOf(await plan(seed), h.preset).snapshot.isHardLimited).toBe(true);

    const result = await resetHardLimit(db.pool, "alpha", "small");
    expect(result.presets).toEqual([{ presetName: "small", previousStatus: "hard_limited" }]);
    expect(await statusOf(seed, h.preset)).toBe("healthy");
    const after = planOf(await plan(seed), h.preset);
    expect(after.snapshot.isHardLimited).toBe(false);
    expect(after.snapshot.backoff).toBeNull();
    await runCycles(deps, 1);
    const ws = await workspacesOf(db.pool, h.t.templateId);
    expect(createdFor(ws, h.preset, new Set(h.failed))).toHaveLength(1);
    expect(await statusOf(seed, h.sibling)).toBe("healthy");
  });

  it("the stored status returns to healthy by itself once the limit no longer holds", async () => {
    const { db, seed } = await fresh();
    const h = await hardLimited(seed);
    const deps = makeDeps(db.pool, { options: { failureHardLimit: 3, backoffInterval: 0 } });
    await runCycles(deps, 1);
    expect(await statusOf(seed, h.preset)).toBe("hard_limited");
    // An operator deletes one failed prebuild: the 3 most recent builds no longer all failed.
    await seed.sql("UPDATE workspaces SET deleted = true WHERE id = $1", [h.failed[2]]);
    await runCycles(deps, 1);
    expect(await statusOf(seed, h.preset)).toBe("healthy");
  });

  it("recovers a preset that has nothing else to do (a later build succeeded, the pool is full)", async () => {
    const { db, seed } = await fresh();
    const h = await hardLimited(seed);
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'hard_limited' WHERE id = $1",
      [h.preset],
    );
    await seed.prebuild(h.t, { versionId: h.t.versionId, presetId: h.preset });
    await seed.prebuild(h.t, { versionId: h.t.versionId, presetId: h.sibling });
    const planned = planOf(await plan(seed), h.preset);
    expect(planned.plan.actions).toEqual([]);
    expect(planned.snapshot.isHardLimited).toBe(false);
    await runCycles(makeDeps(db.pool, { options: { failureHardLimit: 3 } }), 1);
    expect(await statusOf(seed, h.preset)).toBe("healthy");
  });

  it("never turns validation_failed into healthy, nor recovers a paused preset", async () => {
    const { db, seed } = await fresh();
    const h = await hardLimited(seed);
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'validation_failed' WHERE id = $1",
      [h.sibling],
    );
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'hard_limited' WHERE id = $1",
      [h.preset],
    );
    await seed.sql("UPDATE workspaces SET deleted = true WHERE id = ANY($1::uuid[])", [h.failed]);
    await setPause(db.pool, { template: "alpha", preset: "small" }, true);
    const deps = makeDeps(db.pool, { options: { failureHardLimit: 3 } });
    await runCycles(deps, 1);
    expect(await statusOf(seed, h.preset)).toBe("hard_limited");
    expect(await statusOf(seed, h.sibling)).toBe("validation_failed");
    await setPause(db.pool, { template: "alpha", preset: "small" }, false);
    await runCycles(deps, 1);
    expect(await statusOf(seed, h.preset)).toBe("healthy");
    expect(await statusOf(seed, h.sibling)).toBe("validation_failed");
  });
});

describe("write-time re-checks", () => {
  it("scale and reset write nothing for a preset no longer on the active version (promoted since it was resolved)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const old = await seed.preset(t.versionId, { name: "small", desired: 1 });
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'hard_limited' WHERE id = $1",
      [old],
    );
    const v2 = await seed.version(t, { activate: true });
    await seed.preset(v2, { name: "small", desired: 1 });
    const args = { templateId: t.templateId, presetIds: [old] };
    expect(await upsertDesiredOverrides(db.pool, { ...args, desiredInstances: 3 })).toEqual([]);
    expect(await resetPresetFailures(db.pool, args)).toEqual([]);
    const r = await seed.sql(
      `SELECT
      (SELECT count(*) FROM prebuild_desired_overrides)::int AS overrides,
      (SELECT count(*) FROM prebuild_failure_resets)::int AS resets,
      (SELECT prebuild_status FROM template_version_presets WHERE id = $1) AS status`,
      [old],
    );
    expect(r.rows[0]).toEqual({ overrides: 0, resets: 0, status: "hard_limited" });
  });

  it("reset heals only hard_limited presets, never validation_failed ones", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const failed = await seed.preset(t.versionId, { name: "small", desired: 1 });
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'validation_failed' WHERE id = $1",
      [failed],
    );
    const result = await resetHardLimit(db.pool, "alpha", undefined);
    expect(result.presets).toEqual([{ presetName: "small", previousStatus: "validation_failed" }]);
    const r = await seed.sql("SELECT prebuild_status FROM template_version_presets WHERE id = $1", [
      failed,
    ]);
    expect(r.rows[0].prebuild_status).toBe("validation_failed");
  });

  it("recovery only ever turns hard_limited into healthy", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    await seed.sql(
      "UPDATE template_version_presets SET prebuild_status = 'validation_failed' WHERE id = $1",
      [preset],
    );
    expect(await recoverPresetFromHardLimit(db.pool, { presetId: preset })).toBeNull();
    const r = await seed.sql("SELECT prebuild_status FROM template_version_presets WHERE id = $1", [
      preset,
    ]);
    expect(r.rows[0].prebuild_status).toBe("validation_failed");
  });
});

describe("bad input changes nothing", () => {
  async function controlRows(seed: Seed): Promise<string> {
    const r = await seed.sql(`SELECT
      (SELECT count(*) FROM prebuild_pauses) AS pauses,
      (SELECT count(*) FROM prebuild_desired_overrides) AS overrides,
      (SELECT count(*) FROM prebuild_failure_resets) AS resets,
      (SELECT count(*) FROM prebuild_marked_presets) AS dirty,
      (SELECT count(*) FROM site_configs) AS settings`);
    return JSON.stringify(r.rows[0]);
  }

  it.each([
    [
      "pause of an unknown template",
      (p: import("pg").Pool) => setPause(p, { template: "nope" }, true),
      /no template is named or has the id "nope"/,
    ],
    [
      "pause of an unknown preset",
      (p: import("pg").Pool) => setPause(p, { template: "alpha", preset: "huge" }, true),
      /no preset with prebuilds named or with the id "huge" \(its presets with prebuilds: "small"\)/,
    ],
    [
      "pause of a preset without --template",
      (p: import("pg").Pool) => setPause(p, { preset: "small" }, true),
      /--preset needs --template/,
    ],
    [
      "scale of an unknown preset",
      (p: import("pg").Pool) => scale(p, "alpha", 2, "huge"),
      /no preset with prebuilds named/,
    ],
    [
      "scale of an unknown template",
      (p: import("pg").Pool) => scale(p, "nope", 2, undefined),
      /no template is named/,
    ],
    [
      "reset of an unknown template",
      (p: import("pg").Pool) => resetHardLimit(p, "nope", undefined),
      /no template is named/,
    ],
  ] as const)("%s", async (_name, run, message) => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    await seed.preset(t.versionId, { name: "small", desired: 1 });
    await seed.preset(t.versionId, { name: "nothing", desired: null });
    const before = await controlRows(seed);
    const error = await run(db.pool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
    expect(await controlRows(seed)).toBe(before);
  });
});

describe("change tracking", () => {
  it("every control write marks a full resync, and a promotion marks only its template", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const fullResyncMarks = async (): Promise<number> =>
      Number(
        (await seed.sql("SELECT count(*) AS n FROM prebuild_dirty_presets WHERE preset_id IS NULL"))
          .rows[0].n,
      );
    const writes: readonly (readonly [string, () => Promise<unknown>])[] = [
      ["pause", () => setPause(db.pool, { template: "alpha" }, true)],
      ["resume", () => setPause(db.pool, { template: "alpha" }, false)],
      ["scale", () => scale(db.pool, "alpha", 3, undefined)],
      ["scale --clear", () => scale(db.pool, "alpha", "clear", undefined)],
      ["reset", () => resetHardLimit(db.pool, "alpha", undefined)],
    ];
    for (const [name, write] of writes) {
      await seed.sql("DELETE FROM prebuild_dirty_presets; DELETE FROM prebuild_dirty_rows");
      await write();
      // An upsert fires both the INSERT and the UPDATE statement triggers: one or two marks.
      expect({ name, marked: (await fullResyncMarks()) >= 1 }).toEqual({ name, marked: true });
    }
    await seed.sql("DELETE FROM prebuild_dirty_presets; DELETE FROM prebuild_dirty_rows");
    const v2 = await seed.version(t);
    const v2Preset = await seed.preset(v2, { name: "small", desired: 1 });
    await seed.sql("DELETE FROM prebuild_dirty_presets; DELETE FROM prebuild_dirty_rows");
    await seed.promote(t.templateId, v2);
    expect(await fullResyncMarks()).toBe(0);
    const marked = await seed.sql(
      "SELECT DISTINCT preset_id FROM prebuild_marked_presets ORDER BY 1",
    );
    expect(marked.rows.map((r: { preset_id: string }) => r.preset_id).sort()).toEqual(
      [preset, v2Preset].sort(),
    );
    const promotion = await seed.sql(
      "SELECT previous_version_id, active_version_id FROM prebuild_template_promotions WHERE template_id = $1",
      [t.templateId],
    );
    expect(promotion.rows).toEqual([{ previous_version_id: t.versionId, active_version_id: v2 }]);
  });
});

describe("control rows edited by hand", () => {
  it("a row the planner cannot use is dropped with a problem naming it, never passed on", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    // What only someone bypassing the commands (and the tables' checks) could write.
    await seed.sql(`ALTER TABLE prebuild_desired_overrides DROP CONSTRAINT prebuild_desired_overrides_desired_instances_check;
      ALTER TABLE prebuild_rollout_policies DROP CONSTRAINT prebuild_rollout_policies_strategy_check`);
    await seed.sql(
      "INSERT INTO prebuild_desired_overrides (preset_id, desired_instances) VALUES ($1, 5000)",
      [preset],
    );
    await seed.sql(
      "INSERT INTO prebuild_rollout_policies (template_id, strategy) VALUES ($1, 'sideways')",
      [t.templateId],
    );
    const preview = await planNextCycle({ pool: db.pool });
    expect(preview.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /prebuild_desired_overrides row .* not a preset id with a count from 0 to 1000; ignoring it/,
        ),
        expect.stringMatching(
          /prebuild_rollout_policies row .* is malformed; treating the template as 'replace'/,
        ),
      ]),
    );
    const p = planOf(preview.presets, preset).plan;
    expect(p.desiredOverride).toBeNull();
    expect(p.state.desired).toBe(1);
  });
});
