// Make-before-break promotion (issue #15, `prebuildsd rollout <template> surge`) from start to end
// against real cycles: the previous version's eligible prebuilds stay until the new version's
// same-named preset has as many eligible ones (one for one), a claim in the middle makes the
// write-time guard refuse a stale delete, a new promotion in the middle starts over from the
// version it replaced, and the bound ends it. Antagonists: another template rolling out with
// replace, a person's workspace.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { readStatus } from "../../../src/cli/commands/status.ts";
import { setRolloutStrategy } from "../../../src/controls/rolloutStrategy.ts";
import { claimPrebuiltWorkspace } from "../../../src/db/sql/queue_sql.ts";
import { deletePrebuilds } from "../../../src/execute/deletePrebuilds.ts";
import { executePreset } from "../../../src/execute/executePreset.ts";
import type { ActionEvent } from "../../../src/execute/outcome.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { claimPrebuild } from "../../../src/worker/claimPrebuild.ts";
import { type Seed, seedAntagonists, type TemplateIds, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const MINUTE = 60_000;

async function planned(pool: pg.Pool, presetId: string, at?: Date): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool }, at === undefined ? {} : { at });
  const p = preview.presets.find((x) => x.preset.presetId === presetId);
  if (p === undefined) throw new Error(`preset ${presetId} not planned`);
  return p;
}

function execute(pool: pg.Pool, p: PlannedPreset): Promise<readonly ActionEvent[]> {
  return executePreset({
    db: { pool },
    planned: p,
    options: { cancelPendingEnabled: true, provisionerStaleAfter: 90_000, jobTags: {} },
    logger: silentLogger,
    notifier: { notifyJobsPosted: async () => {} },
    onAction: () => {},
    signal: new AbortController().signal,
  });
}

/** Unclaimed prebuild workspaces of the version that are alive (latest build not a delete). */
async function alive(seed: Seed, t: TemplateIds, versionId: string): Promise<string[]> {
  const ws = await workspacesOf(seed.pool, t.templateId);
  return ws
    .filter((w) => {
      const last = w.builds[w.builds.length - 1];
      return (
        !w.deleted &&
        w.ownerId === "c42fdf75-3097-471c-8c33-fb52454d81c0" &&
        last?.versionId === versionId &&
        last.transition !== "delete"
      );
    })
    .map((w) => w.id)
    .sort();
}

/** What a provisioner does: the pending jobs of `versionId`'s prebuilds succeed (ready agent). */
async function finishPending(seed: Seed, versionId: string, count: number): Promise<void> {
  const r = await seed.sql(
    `SELECT pj.id FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
     WHERE pj.job_status = 'pending' AND wb.template_version_id = $1 AND wb.transition = 'start'
       AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'
     ORDER BY pj.created_at, pj.id LIMIT $2`,
    [versionId, count],
  );
  await seed.finishJobs(
    r.rows.map((row: { id: string }) => row.id),
    "succeeded",
  );
}

describe("surge rollout", () => {
  it("retires the previous version one for one, survives a claim and a second promotion, and ends at the bound", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1Preset = await seed.preset(t.versionId, { name: "small", desired: 2 });
    const old: string[] = [];
    for (let i = 0; i < 2; i++) {
      old.push(
        (
          await seed.prebuild(t, {
            versionId: t.versionId,
            presetId: v1Preset,
            createdAt: new Date(Date.now() - (10 - i) * MINUTE),
          })
        ).workspaceId,
      );
    }
    const antagonists = await seedAntagonists(seed, t, t.versionId, v1Preset);
    // Another template rolling out with replace: its old prebuild goes at once.
    const beta = await seed.template({ name: "beta" });
    const betaOldPreset = await seed.preset(beta.versionId, { name: "small", desired: 1 });
    const betaOld = await seed.prebuild(beta, {
      versionId: beta.versionId,
      presetId: betaOldPreset,
    });
    const betaV2 = await seed.version(beta);
    await seed.preset(betaV2, { name: "small", desired: 1 });

    expect(await setRolloutStrategy(db.pool, "alpha", "surge")).toMatchObject({
      strategy: "surge",
      previous: "replace",
    });
    const v2 = await seed.version(t);
    const v2Preset = await seed.preset(v2, { name: "small", desired: 2 });
    await seed.promote(t.templateId, v2);
    await seed.promote(beta.templateId, betaV2);
    const deps = makeDeps(db.pool);

    // Cycle 1: v2 has nothing eligible yet, so v1 keeps both; beta's old prebuild goes.
    await runCycles(deps, 1);
    const oldAlive = async () =>
      (await alive(seed, t, t.versionId)).filter((id) => old.includes(id));
    expect(await oldAlive()).toEqual([...old].sort());
    expect(await alive(seed, beta, beta.versionId)).not.toContain(betaOld.workspaceId);
    const preview = await planNextCycle({ pool: db.pool });
    expect(
      preview.presets.find((p) => p.preset.presetId === v1Preset)?.snapshot.surge,
    ).toMatchObject({ newEligible: 0, newDesired: 2, oldEligible: 2, keep: 2 });

    // One v2 prebuild becomes eligible: exactly one v1 prebuild (the oldest) goes.
    await finishPending(seed, v2, 1);
    await runCycles(deps, 1);
    expect(await oldAlive()).toEqual([old[1]]);

    // The second becomes eligible: the delete is planned, but a user claims a v2 prebuild before
    // it is written: the guard sees 1 eligible < 2 planned and refuses it.
    await finishPending(seed, v2, 1);
    const stale = await planned(db.pool, v1Preset);
    expect(stale.plan.actions).toMatchObject([{ _tag: "Delete", because: "superseded" }]);
    const userId = await seed.user();
    expect(
      await claimPrebuild(db.pool, { presetId: v2Preset, userId, workspaceName: "mine" }),
    ).toMatchObject({ status: "claimed" });
    const events = await execute(db.pool, stale);
    expect(events).toMatchObject([{ outcome: "skipped", effects: { deleted: 0 } }]);
    expect(events[0]?.detail).toMatch(/surge rollout's new preset has fewer eligible prebuilds/);
    expect(await oldAlive()).toEqual([old[1]]);

    // A new promotion in the middle: v3 replaces v2. v1 is no longer the previous version, so its
    // last prebuild goes; v2's eligible prebuild is held for v3 now.
    const v3 = await seed.version(t);
    const v3Preset = await seed.preset(v3, { name: "small", desired: 2 });
    await seed.promote(t.templateId, v3);
    await runCycles(deps, 1);
    expect(await oldAlive()).toEqual([]);
    const held = await planned(db.pool, v2Preset);
    expect(held.snapshot.surge).toMatchObject({ newPresetId: v3Preset, newEligible: 0, keep: 1 });
    expect(held.plan.actions.filter((a) => a._tag === "Delete")).toEqual([]);

    // The bound: PREBUILDS_ROLLOUT_MAX_WAIT (30 min by default) after the promotion.
    const atBound = new Date((held.snapshot.surge?.startedAt.getTime() ?? 0) + 30 * MINUTE);
    const late = await planned(db.pool, v2Preset, atBound);
    expect(late.plan.actions).toMatchObject([{ _tag: "Delete", because: "inactive" }]);
    const [report] = await runCycles(makeDeps(db.pool, { options: { rolloutMaxWait: 1 } }), 1);
    expect(report?.effects.deleted).toBeGreaterThanOrEqual(1);
    expect(await alive(seed, t, v2)).toEqual([]);
    await antagonists.verify();
  });

  it("the superseded delete counts only the new preset's eligible prebuilds, needs the old preset inactive, and yields to the bound", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1Preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const old = await seed.prebuild(t, { versionId: t.versionId, presetId: v1Preset });
    const v2 = await seed.version(t);
    const v2Preset = await seed.preset(v2, { name: "small", desired: 2 });
    // Not eligible: not ready, claimed by a person.
    await seed.prebuild(t, { versionId: v2, presetId: v2Preset, ready: false });
    const userId = await seed.user();
    await seed.prebuild(t, { versionId: v2, presetId: v2Preset, ownerId: userId });
    const deleteOld = async (guard: { minNewEligible: number; deadline: Date }) => {
      const client = await db.pool.connect();
      try {
        await client.query("BEGIN");
        const r = await deletePrebuilds(client, {
          presetId: v1Preset,
          workspaceIds: [old.workspaceId],
          because: "superseded",
          surge: { newPresetId: v2Preset, ...guard },
          desired: 0,
          jobTags: {},
        });
        await client.query("ROLLBACK");
        return r.deleted.length;
      } finally {
        client.release();
      }
    };
    const future = new Date(Date.now() + 60 * MINUTE);
    // v1 still active: never.
    expect(await deleteOld({ minNewEligible: 0, deadline: new Date(0) })).toBe(0);
    await seed.promote(t.templateId, v2);
    expect(await deleteOld({ minNewEligible: 1, deadline: future })).toBe(0);
    expect(await deleteOld({ minNewEligible: 0, deadline: future })).toBe(1);
    expect(await deleteOld({ minNewEligible: 1, deadline: new Date(Date.now() - MINUTE) })).toBe(1);
    await seed.prebuild(t, { versionId: v2, presetId: v2Preset });
    expect(await deleteOld({ minNewEligible: 1, deadline: future })).toBe(1);
    expect(await deleteOld({ minNewEligible: 2, deadline: future })).toBe(0);
  });

  it("a claim may fall back to the previous version's same-named preset while the new one has none (opt-in)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1Preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const v1Large = await seed.preset(t.versionId, { name: "large", desired: 1 });
    const old = await seed.prebuild(t, { versionId: t.versionId, presetId: v1Preset });
    await seed.prebuild(t, { versionId: t.versionId, presetId: v1Large });
    const other = await seed.template({ name: "beta" });
    const otherPreset = await seed.preset(other.versionId, { name: "small", desired: 1 });
    await seed.prebuild(other, { versionId: other.versionId, presetId: otherPreset });
    await setRolloutStrategy(db.pool, "alpha", "surge");
    const v2 = await seed.version(t);
    const v2Preset = await seed.preset(v2, { name: "small", desired: 1 });
    await seed.promote(t.templateId, v2);
    const userId = await seed.user();
    const request = { presetId: v2Preset, userId, workspaceName: "mine" };
    expect(await claimPrebuild(db.pool, request)).toEqual({
      status: "none_available",
      presetId: v2Preset,
    });
    // Naming the old preset directly claims nothing: only the fallback reaches the old version.
    expect(await claimPrebuild(db.pool, { ...request, presetId: v1Preset })).toEqual({
      status: "none_available",
      presetId: v1Preset,
    });
    expect(await claimPrebuild(db.pool, { ...request, fallbackToPreviousVersion: true })).toEqual({
      status: "claimed",
      workspaceId: old.workspaceId,
      workspaceName: "mine",
      previousVersionPresetId: v1Preset,
    });
    // Nothing of the same name is left: neither the "large" preset nor another template's.
    expect(
      await claimPrebuild(db.pool, {
        ...request,
        workspaceName: "again",
        fallbackToPreviousVersion: true,
      }),
    ).toEqual({ status: "none_available", presetId: v2Preset });
    // Only the version the last promotion replaced: after v3, v1 is out of reach.
    const v3 = await seed.version(t);
    const v3Preset = await seed.preset(v3, { name: "large", desired: 1 });
    await seed.promote(t.templateId, v3);
    expect(
      await claimPrebuild(db.pool, {
        presetId: v3Preset,
        userId,
        workspaceName: "third",
        fallbackToPreviousVersion: true,
      }),
    ).toEqual({ status: "none_available", presetId: v3Preset });
    // Even the statement itself, asked for v1's "large" (a prebuild is there), refuses: v1 is no
    // longer the version the last promotion replaced.
    expect(
      await claimPrebuiltWorkspace(db.pool, {
        allowPreviousVersion: true,
        presetId: v1Large,
        newUserId: userId,
        newName: "fourth",
        now: null,
        autostartSchedule: null,
        nextStartAt: null,
        ttl: null,
      }),
    ).toBeNull();
  });

  it("rollout progress shows in plan --json's shape and in the metrics sample", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const v1Preset = await seed.preset(t.versionId, { name: "small", desired: 1 });
    await seed.prebuild(t, { versionId: t.versionId, presetId: v1Preset });
    await setRolloutStrategy(db.pool, t.templateId, "surge");
    const v2 = await seed.version(t);
    await seed.preset(v2, { name: "small", desired: 1 });
    await seed.promote(t.templateId, v2);
    const { planJson } = await import("../../../src/cli/commands/planOutput.ts");
    const json = planJson(await planNextCycle({ pool: db.pool }));
    expect(json.rollouts).toEqual([
      {
        templateId: t.templateId,
        templateName: "alpha",
        startedAt: expect.any(String),
        deadline: expect.any(String),
        oldEligible: 1,
        oldKept: 1,
        newEligible: 0,
        newDesired: 1,
      },
    ]);
    const { sampleState } = await import("../../../src/daemon/stateSampler.ts");
    const { loadConfig } = await import("../../../src/config/config.ts");
    const sample = await sampleState({ pool: db.pool }, loadConfig({ HOME: "/tmp" }), new Date());
    expect(sample.rollouts).toMatchObject([
      { templateName: "alpha", oldEligible: 1, newEligible: 0, newDesired: 1 },
    ]);
  });

  it("status reports a rollout's progress for its own template, not another organization's of the same name", async () => {
    const { db, seed } = await fresh();
    const rolling = await seed.template({ name: "alpha" });
    const oldPreset = await seed.preset(rolling.versionId, { name: "small", desired: 1 });
    await seed.prebuild(rolling, { versionId: rolling.versionId, presetId: oldPreset });
    const still = await seed.template({ name: "alpha", organizationId: await seed.organization() });
    await seed.preset(still.versionId, { name: "small", desired: 1 });
    for (const t of [rolling, still]) await setRolloutStrategy(db.pool, t.templateId, "surge");
    const v2 = await seed.version(rolling);
    await seed.preset(v2, { name: "small", desired: 1 });
    await seed.promote(rolling.templateId, v2);
    const { rollouts } = await readStatus(db.pool);
    const orgName = await seed.sql(
      "SELECT o.name FROM organizations o JOIN templates t ON t.organization_id = o.id WHERE t.id = $1",
      [rolling.templateId],
    );
    expect(rollouts).toHaveLength(2);
    expect(
      rollouts.map((r) => [r.template, r.progress === null ? null : r.progress.templateId]),
    ).toEqual(
      expect.arrayContaining([
        ["alpha", rolling.templateId],
        ["alpha", null],
      ]),
    );
    expect(rollouts.find((r) => r.progress !== null)?.organization).toBe(orgName.rows[0]?.name);
  });
});
