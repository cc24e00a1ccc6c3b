// Reference §10.2 scenarios beyond the matrix, each on its own fresh database with antagonists,
// reconciled for 8 cycles (idempotence) with an injected clock.
import { describe, expect, it } from "vitest";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { setPrebuildsSettings } from "../../fixtures/seed.ts";
import type { TestDatabase } from "../../harness/freshDatabase.ts";
import { createdFor, latestBuild, PREBUILDS, seedAntagonists, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles, runCyclesSettled } from "./reconcilerHarness.ts";

const MINUTE = 60_000;
const fresh = databasePerTest();

async function jobIdsOf(db: TestDatabase, templateId: string, presetId: string): Promise<string[]> {
  const ws = createdFor(await workspacesOf(db.pool, templateId), presetId);
  return ws.map((w) => latestBuild(w).jobId);
}

function totalCreated(reports: readonly CycleReport[]): number {
  return reports.reduce((n, r) => n + r.effects.created, 0);
}

describe("reconciler scenarios (reference §10.2)", () => {
  it("TestMultiplePresetsPerTemplateVersion: a build in progress for preset 1 does not block preset 2", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const p1 = await seed.preset(t.versionId, { desired: 1 });
    const p2 = await seed.preset(t.versionId, { desired: 10 });
    const starting = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: p1,
      job: "running",
    });
    const antagonists = await seedAntagonists(seed, t, t.versionId, p1);
    await runCyclesSettled(makeDeps(db.pool), 8);
    const ws = await workspacesOf(db.pool, t.templateId);
    expect(createdFor(ws, p1, new Set([starting.workspaceId]))).toHaveLength(0);
    expect(createdFor(ws, p2)).toHaveLength(10);
    await antagonists.verify();
  });

  // Monday 2024-01-01 (UTC): preset 1 wants 2 in 02-04h and 3 in 06-08h; preset 2 wants 4 in
  // 10-12h and 5 in 13-15h; both want 1 otherwise.
  it.each([
    ["before the first schedule", "01:00:00", 1, 1],
    ["first schedule", "03:00:00", 2, 1],
    ["second schedule", "07:00:00", 3, 1],
    ["third schedule", "11:00:00", 1, 4],
    ["fourth schedule", "15:00:00", 1, 5],
  ] as const)(
    "TestPrebuildScheduling: %s (%s UTC) creates %i and %i",
    async (_name, time, want1, want2) => {
      const { db, seed } = await fresh();
      const t = await seed.template();
      const p1 = await seed.preset(t.versionId, { desired: 1, timezone: "UTC" });
      const p2 = await seed.preset(t.versionId, { desired: 1, timezone: "UTC" });
      await seed.schedule(p1, "* 2-4 * * 1-5", 2);
      await seed.schedule(p1, "* 6-8 * * 1-5", 3);
      await seed.schedule(p2, "* 10-12 * * 1-5", 4);
      await seed.schedule(p2, "* 13-15 * * 1-5", 5);
      const antagonists = await seedAntagonists(seed, t, t.versionId, p1);
      const now = new Date(`2024-01-01T${time}Z`);
      await runCyclesSettled(makeDeps(db.pool, { options: { planAt: () => now } }), 8);
      const ws = await workspacesOf(db.pool, t.templateId);
      expect(createdFor(ws, p1)).toHaveLength(want1);
      expect(createdFor(ws, p2)).toHaveLength(want2);
      await antagonists.verify();
    },
  );

  it("TestInvalidPreset: a required parameter missing from the preset creates nothing in 8 cycles", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    await seed.templateParameter(t.versionId, "region");
    await seed.templateParameter(t.versionId, "size", { defaultValue: "small" }); // has a default: fine
    const preset = await seed.preset(t.versionId, { desired: 2, parameters: { image: "ubuntu" } });
    const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
    // Not runCyclesSettled: the planner keeps asking for the Create, the executor skips it (reference
    // semantics: the reason says "creation will be skipped").
    const reports = await runCycles(makeDeps(db.pool), 8);
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(0);
    const status = await db.pool.query(
      "SELECT prebuild_status FROM template_version_presets WHERE id = $1",
      [preset],
    );
    expect(status.rows[0].prebuild_status).toBe("validation_failed");
    // The first cycle fails the create (and marks the preset); the next one, visiting it because
    // of that write, skips it; incremental cycles after that no longer visit it (issue #16).
    expect(reports[0]?.actions.Create).toEqual({ success: 0, failure: 1, skipped: 0 });
    expect(reports[1]?.actions.Create).toEqual({ success: 0, failure: 0, skipped: 1 });
    for (const r of reports.slice(2))
      expect(r.actions.Create).toEqual({ success: 0, failure: 0, skipped: 0 });
    await antagonists.verify();
  });

  it("a preset setting every required parameter is built with them", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    await seed.templateParameter(t.versionId, "region");
    const preset = await seed.preset(t.versionId, {
      desired: 3,
      parameters: { region: "eu", image: "ubuntu" },
    });
    await runCyclesSettled(makeDeps(db.pool), 8);
    const params = await db.pool.query(
      `SELECT wb.id, array_agg(p.name || '=' || p.value ORDER BY p.name) AS params, pj.input
       FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
       LEFT JOIN workspace_build_parameters p ON p.workspace_build_id = wb.id
       WHERE wb.template_version_preset_id = $1 GROUP BY wb.id, pj.input`,
      [preset],
    );
    expect(params.rows).toHaveLength(3);
    for (const row of params.rows) {
      expect(row.params).toEqual(["image=ubuntu", "region=eu"]);
      expect(row.input).toEqual({
        workspace_build_id: row.id,
        prebuilt_workspace_build_stage: "CREATE",
      });
    }
    const names = await db.pool.query("SELECT name FROM workspaces WHERE template_id = $1", [
      t.templateId,
    ]);
    for (const row of names.rows) expect(row.name).toMatch(/^prebuild-[a-z2-7]{15}$/);
  });

  it("TestDeletionOfPrebuiltWorkspaceWithInvalidPreset: the old version's prebuild is deleted although the new one cannot be created", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const oldPreset = await seed.preset(t.versionId, { desired: 1 });
    const old = await seed.prebuild(t, { versionId: t.versionId, presetId: oldPreset });
    const antagonists = await seedAntagonists(seed, t, t.versionId, oldPreset);
    const v2 = await seed.version(t, { activate: true });
    await seed.templateParameter(v2, "region");
    const newPreset = await seed.preset(v2, { desired: 1 });
    // Not runCyclesSettled: the new preset's Create is planned every cycle and skipped by the executor.
    await runCycles(makeDeps(db.pool), 8);
    const ws = await workspacesOf(db.pool, t.templateId);
    const oldWs = ws.find((w) => w.id === old.workspaceId);
    expect(oldWs && latestBuild(oldWs)).toMatchObject({
      buildNumber: 2,
      transition: "delete",
      versionId: t.versionId,
    });
    expect(createdFor(ws, newPreset)).toHaveLength(0);
    await antagonists.verify();
  });

  it.each([
    [1, "hard_limited", 0],
    [2, "healthy", 1],
  ] as const)(
    "TestSkippingHardLimitedPresets: limit %i with one failed build → status %s, %i created",
    async (limit, status, created) => {
      const { db, seed } = await fresh();
      const t = await seed.template();
      const preset = await seed.preset(t.versionId, { desired: 1 });
      // Old enough that backoff (1 × 1m) has passed: only the hard limit can hold creation back.
      const failed = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "failed",
        createdAt: new Date(Date.now() - 2 * MINUTE),
      });
      const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
      let hardLimited: boolean | undefined;
      const reports = await runCycles(
        makeDeps(db.pool, {
          options: { failureHardLimit: limit },
          observer: {
            // An incremental cycle that does not read the preset leaves the last verdict.
            onPlanned: (planned: readonly PlannedPreset[]) => {
              const p = planned.find((x) => x.preset.presetId === preset);
              if (p !== undefined) hardLimited = p.snapshot.isHardLimited;
            },
          },
        }),
        8,
      );
      const ws = await workspacesOf(db.pool, t.templateId);
      expect(createdFor(ws, preset, new Set([failed.workspaceId]))).toHaveLength(created);
      const row = await db.pool.query(
        "SELECT prebuild_status FROM template_version_presets WHERE id = $1",
        [preset],
      );
      expect(row.rows[0].prebuild_status).toBe(status);
      expect(hardLimited).toBe(limit === 1);
      // Every cycle that read the preset skipped its create (the first two: the first, then the
      // one its status write marked it for); none created.
      if (limit === 1) {
        for (const r of reports.slice(0, 2)) expect(r.actions.Create.skipped).toBe(1);
        for (const r of reports) expect(r.actions.Create.success).toBe(0);
      }
      // The failed prebuild is evidence: never deleted.
      const failedWs = ws.find((w) => w.id === failed.workspaceId);
      expect(failedWs?.builds).toHaveLength(1);
      await antagonists.verify();
    },
  );

  it.each(["promoting a new version", "soft-deleting the template"] as const)(
    "TestHardLimitedPresetShouldNotBlockDeletion: after %s the succeeded prebuild is deleted, the failed one kept",
    async (change) => {
      const { db, seed } = await fresh();
      const t = await seed.template();
      const preset = await seed.preset(t.versionId, { desired: 2 });
      const ok = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        createdAt: new Date(Date.now() - 10 * MINUTE),
      });
      const failed = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "failed",
        createdAt: new Date(Date.now() - 2 * MINUTE),
      });
      const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
      let hardLimited: boolean | undefined;
      const deps = makeDeps(db.pool, {
        options: { failureHardLimit: 1 },
        observer: {
          onPlanned: (planned: readonly PlannedPreset[]) => {
            hardLimited = planned.find((p) => p.preset.presetId === preset)?.snapshot.isHardLimited;
          },
        },
      });
      await runCycles(deps, 2);
      expect(hardLimited).toBe(true);
      const status = await db.pool.query(
        "SELECT prebuild_status FROM template_version_presets WHERE id = $1",
        [preset],
      );
      expect(status.rows[0].prebuild_status).toBe("hard_limited");
      if (change === "promoting a new version") await seed.version(t, { activate: true });
      else await seed.setTemplate(t.templateId, { deleted: true });
      await runCyclesSettled(deps, 8);
      const ws = await workspacesOf(db.pool, t.templateId);
      const okWs = ws.find((w) => w.id === ok.workspaceId);
      const failedWs = ws.find((w) => w.id === failed.workspaceId);
      expect(okWs && latestBuild(okWs)).toMatchObject({ buildNumber: 2, transition: "delete" });
      expect(failedWs?.builds).toHaveLength(1);
      // The live limit only covers active versions: promotion lifts it (the metric disappears).
      // The old preset, inactive with nothing left to delete, is not even read any more (undefined).
      if (change === "promoting a new version") expect(hardLimited).not.toBe(true);
      await antagonists.verify();
    },
  );

  it("TestFailedBuildBackoff: waits failures × interval after the last failure, then creates again", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2 });
    const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
    // Builds are stamped by the database's clock (issue #11); the backoff counts from them.
    const latestBuildAt = async (): Promise<Date> =>
      (
        await db.pool.query(
          "SELECT max(created_at) AS at FROM workspace_builds WHERE template_version_preset_id = $1",
          [preset],
        )
      ).rows[0].at;
    let clock = new Date();
    const deps = makeDeps(db.pool, {
      options: {
        planAt: () => clock,
        backoffInterval: MINUTE,
        backoffLookback: 60 * MINUTE,
        failureHardLimit: 0,
      },
    });
    expect(totalCreated(await runCycles(deps, 1))).toBe(2);
    const t0 = await latestBuildAt();
    await seed.finishJobs(await jobIdsOf(db, t.templateId, preset), "failed", t0);

    clock = new Date(t0.getTime() + 2 * MINUTE - 1000); // 2 failures × 1m: still backing off
    const waiting = await runCycles(deps, 3);
    expect(totalCreated(waiting)).toBe(0);
    // The failures marked the preset: the first cycle backs off; the next ones (incremental, issue
    // #16) leave it alone until its wake-up at the end of the backoff.
    expect(waiting[0]?.actions.Backoff.success).toBe(1);

    clock = new Date(t0.getTime() + 2 * MINUTE + 1000);
    expect(totalCreated(await runCyclesSettled(deps, 8))).toBe(2);

    // One of the two new builds fails too: 3 failed latest builds in the lookback → 3 × 1m.
    const t1 = await latestBuildAt();
    const allJobs = await db.pool.query(
      `SELECT pj.id FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
       WHERE wb.template_version_preset_id = $1 AND wb.initiator_id = $2 AND pj.job_status = 'pending'
       ORDER BY pj.id LIMIT 1`,
      [preset, PREBUILDS],
    );
    await seed.finishJobs([allJobs.rows[0].id], "failed", t1);
    clock = new Date(t1.getTime() + 3 * MINUTE - 1000);
    const stillWaiting = await runCycles(deps, 3);
    expect(totalCreated(stillWaiting)).toBe(0);
    expect(stillWaiting[0]?.actions.Backoff.success).toBe(1);
    clock = new Date(t1.getTime() + 3 * MINUTE + 1000);
    expect(totalCreated(await runCyclesSettled(deps, 8))).toBe(1);
    await antagonists.verify();
  });

  it.each([
    {
      name: "1 of 2 expired",
      running: 2,
      expired: 1,
      deletes: 1,
      deletesOldestLive: false,
      creates: 1,
    },
    {
      name: "2 of 4 expired",
      running: 4,
      expired: 2,
      deletes: 2,
      deletesOldestLive: false,
      creates: 0,
    },
    {
      name: "1 of 4 expired",
      running: 4,
      expired: 1,
      deletes: 2,
      deletesOldestLive: true,
      creates: 0,
    },
  ])("TestExpiredPrebuildsMultipleActions: $name with desired 2", async (c) => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const now = new Date();
    const preset = await seed.preset(t.versionId, { desired: 2, ttlSeconds: 600 });
    const seeded: { id: string; expired: boolean; createdAt: Date }[] = [];
    for (let i = 0; i < c.running; i++) {
      const expired = i < c.expired;
      // Expired ones are older than the TTL; live ones get younger with i (oldest live first).
      const createdAt = new Date(now.getTime() - (expired ? 20 + i : 9 - i) * MINUTE);
      const p = await seed.prebuild(t, { versionId: t.versionId, presetId: preset, createdAt });
      seeded.push({ id: p.workspaceId, expired, createdAt });
    }
    const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
    await runCyclesSettled(makeDeps(db.pool, { options: { planAt: () => now } }), 8);
    const ws = await workspacesOf(db.pool, t.templateId);
    const deletedIds = new Set(
      ws
        .filter((w) => seeded.some((s) => s.id === w.id) && latestBuild(w).transition === "delete")
        .map((w) => w.id),
    );
    expect(deletedIds.size).toBe(c.deletes);
    for (const s of seeded.filter((x) => x.expired)) expect(deletedIds.has(s.id)).toBe(true);
    if (c.deletesOldestLive) {
      const oldestLive = seeded
        .filter((x) => !x.expired)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())[0];
      expect(oldestLive && deletedIds.has(oldestLive.id)).toBe(true);
    }
    expect(createdFor(ws, preset, new Set(seeded.map((s) => s.id)))).toHaveLength(c.creates);
    await antagonists.verify();
  });

  it("TestReconciliationRespectsPauseSetting: paused cycles do nothing; resuming fills the pool again", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2 });
    const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
    const deps = makeDeps(db.pool);
    await runCycles(deps, 1);
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(2);
    await seed.setPaused(true);
    await seed.sql(
      `UPDATE workspaces SET deleted = true WHERE id IN (
         SELECT workspace_id FROM workspace_builds
         WHERE template_version_preset_id = $1 AND build_number = 1 AND initiator_id = $2)`,
      [preset, PREBUILDS],
    );
    const paused = await runCycles(deps, 8);
    for (const r of paused)
      expect(r).toMatchObject({ lockAcquired: true, paused: true, presetsTotal: 0 });
    const live = (await workspacesOf(db.pool, t.templateId)).filter((w) => !w.deleted);
    expect(createdFor(live, preset)).toHaveLength(0);
    await seed.setPaused(false);
    await runCyclesSettled(deps, 8);
    const after = (await workspacesOf(db.pool, t.templateId)).filter((w) => !w.deleted);
    expect(createdFor(after, preset)).toHaveLength(2);
    await antagonists.verify();
  });

  it("treats a malformed settings document as not paused", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    await setPrebuildsSettings(db.pool, "not json");
    const [report] = await runCycles(makeDeps(db.pool), 1);
    expect(report?.paused).toBe(false);
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(1);
  });
});
