// Backoff and hard limit as the snapshot reads them (reference §4.4, §4.5; issue #11 item 8): the
// latest start builds of GetLatestPrebuildStartBuilds, counted by src/plan/presetFailures.ts. Each
// test isolates one condition of the shipped query or rules, so removing it makes that test fail.
import { describe, expect, it } from "vitest";
import { getLatestPrebuildStartBuilds } from "../../../src/db/sql/snapshot_sql.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import type { Seed, TemplateIds } from "./fixtures.ts";
import { databasePerTest } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const MINUTE = 60_000;
const LOOKBACK = 60 * MINUTE;

/** Prebuilds of the preset, one per entry: its single start build's job state and age. */
async function prebuilds(
  seed: Seed,
  t: TemplateIds,
  presetId: string,
  builds: readonly { job: "succeeded" | "failed" | "pending" | "canceled"; minutesAgo: number }[],
): Promise<void> {
  for (const b of builds) {
    await seed.prebuild(t, {
      versionId: t.versionId,
      presetId,
      job: b.job,
      createdAt: new Date(Date.now() - b.minutesAgo * MINUTE),
    });
  }
}

async function plannedFor(
  seed: Seed,
  presetId: string,
  failureHardLimit = 0,
): Promise<PlannedPreset> {
  const preview = await planNextCycle({
    pool: seed.pool,
    options: { backoffLookback: LOOKBACK, backoffInterval: MINUTE, failureHardLimit },
  });
  const planned = preview.presets.find((p) => p.preset.presetId === presetId);
  if (planned === undefined) throw new Error(`preset ${presetId} not planned`);
  return planned;
}

describe("backoff and hard limit read only the builds they should", () => {
  it("a failure older than the lookback window is no reason to back off; a newer one is", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    const outside = await seed.preset(t.versionId, { desired: 2 });
    await prebuilds(seed, t, outside, [{ job: "failed", minutesAgo: 90 }]);
    const inside = await seed.preset(t.versionId, { desired: 2 });
    await prebuilds(seed, t, inside, [{ job: "failed", minutesAgo: 0.1 }]);
    expect((await plannedFor(seed, outside)).snapshot.backoff).toBeNull();
    expect((await plannedFor(seed, inside)).snapshot.backoff).toMatchObject({ numFailed: 1 });
  });

  it("counts only the failures inside the lookback window toward the backoff's length", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2 });
    await prebuilds(seed, t, preset, [
      { job: "failed", minutesAgo: 0.1 },
      { job: "failed", minutesAgo: 90 },
    ]);
    const planned = await plannedFor(seed, preset);
    expect(planned.snapshot.backoff).toMatchObject({ numFailed: 1 });
    expect(planned.plan.actions.map((a) => a._tag)).toEqual(["Backoff"]);
  });

  it("backs off only when a failure is among the desired-instances most recent builds", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    // The most recent build succeeded; an older one failed, inside the lookback window.
    await prebuilds(seed, t, preset, [
      { job: "succeeded", minutesAgo: 1 },
      { job: "failed", minutesAgo: 10 },
    ]);
    expect((await plannedFor(seed, preset)).snapshot.backoff).toBeNull();
  });

  it("the hard limit counts only the N most recent builds: an older run of failures does not trip it", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    const recovered = await seed.preset(t.versionId, { desired: 3 });
    await prebuilds(seed, t, recovered, [
      { job: "succeeded", minutesAgo: 100 },
      { job: "failed", minutesAgo: 110 },
      { job: "failed", minutesAgo: 120 },
    ]);
    const failing = await seed.preset(t.versionId, { desired: 3 });
    await prebuilds(seed, t, failing, [
      { job: "failed", minutesAgo: 100 },
      { job: "failed", minutesAgo: 110 },
      { job: "succeeded", minutesAgo: 120 },
    ]);
    expect((await plannedFor(seed, recovered, 2)).snapshot.isHardLimited).toBe(false);
    expect((await plannedFor(seed, failing, 2)).snapshot.isHardLimited).toBe(true);
  });

  it("are read from the latest start builds, of which a failed build of an old version is not sent", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    const oldPreset = await seed.preset(t.versionId, { desired: 1 });
    const v2 = await seed.version(t, { activate: true });
    const preset = await seed.preset(v2, { desired: 1 });
    const oldFailed = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: oldPreset,
      job: "failed",
    });
    const oldRunning = await seed.prebuild(t, { versionId: t.versionId, presetId: oldPreset });
    const failed = await seed.prebuild(t, { versionId: v2, presetId: preset, job: "failed" });
    const rows = await getLatestPrebuildStartBuilds(seed.pool, {
      onlyPresets: false,
      presetIds: [],
    });
    expect(rows.map((r) => r.workspaceId).sort()).toEqual(
      [oldRunning.workspaceId, failed.workspaceId].sort(),
    );
    expect(rows.map((r) => r.workspaceId)).not.toContain(oldFailed.workspaceId);
  });

  it("a newer build that did not fail (pending, canceled) counts among the most recent: no backoff, no hard limit", async () => {
    const { seed } = await fresh();
    const t = await seed.template();
    for (const job of ["pending", "canceled"] as const) {
      const preset = await seed.preset(t.versionId, { desired: 1 });
      await prebuilds(seed, t, preset, [
        { job, minutesAgo: 1 },
        { job: "failed", minutesAgo: 10 },
        { job: "failed", minutesAgo: 20 },
      ]);
      const planned = await plannedFor(seed, preset, 2);
      expect([job, planned.snapshot.backoff, planned.snapshot.isHardLimited]).toEqual([
        job,
        null,
        false,
      ]);
    }
  });
});
