// The per-preset view of a global snapshot (reference §2.2) and planning all presets at once.

import { describe, expect, it } from "vitest";
import { filterByPreset, indexSnapshot, planAll } from "../../../src/plan/index.ts";
import {
  backoff,
  globalSnapshot,
  inProgress,
  NOW,
  OPTIONS,
  prebuild,
  presetRow,
  shapes,
} from "./snapshotBuilder.ts";

const mine = presetRow({ presetId: "p-mine", desiredInstances: 2, ttlSeconds: 60 });
const other = presetRow({ presetId: "p-other", templateId: "tpl-2", templateVersionId: "tv-9" });
const old = presetRow({ presetId: "p-old", templateVersionId: "tv-0", usingActiveVersion: false });
const fresh = prebuild(mine, { createdAt: new Date(NOW.getTime() - 1000) });
const stale = prebuild(mine, { createdAt: new Date(NOW.getTime() - 120_000) });
const others = prebuild(other);
const noPreset = prebuild(mine, { presetId: null });
const global = globalSnapshot({
  presets: [mine, other, old],
  schedules: [{ presetId: other.presetId, cronExpression: "* * * * *", desiredInstances: 3 }],
  running: [fresh, stale, others, noPreset],
  inProgress: [
    inProgress(mine, "start", 1),
    inProgress(other, "delete", 2),
    { ...inProgress(mine, "stop", 5), presetId: null },
  ],
  pendingNonActive: [{ presetId: old.presetId, count: 4 }],
  backoffs: [backoff(other, 1, NOW)],
  hardLimitedPresetIds: new Set([other.presetId]),
});

describe("filterByPreset", () => {
  it("keeps only the rows of the preset and splits its prebuilds into running and expired", () => {
    expect(filterByPreset(indexSnapshot(global), mine, NOW)).toEqual({
      preset: mine,
      schedules: [],
      running: [fresh],
      expired: [stale],
      inProgress: [inProgress(mine, "start", 1)],
      pendingCount: 0,
      staleRunningCount: 0,
      canceledOrphanCount: 0,
      backoff: null,
      isHardLimited: false,
      pause: null,
      desiredOverride: null,
      stopped: [],
    });
  });

  it("carries the schedules, backoff and hard limit of another preset to that preset only", () => {
    const s = filterByPreset(indexSnapshot(global), other, NOW);
    expect(s.schedules).toHaveLength(1);
    expect(s.running).toEqual([others]);
    expect(s.backoff?.numFailed).toBe(1);
    expect(s.isHardLimited).toBe(true);
    expect(filterByPreset(indexSnapshot(global), old, NOW).pendingCount).toBe(4);
  });

  it("attributes running prebuilds and in-progress rows with a null preset id to no preset", () => {
    const index = indexSnapshot(global);
    expect(index.runningWithoutPreset).toBe(1);
    for (const preset of global.presets) {
      const s = filterByPreset(index, preset, NOW);
      expect([...s.running, ...s.expired]).not.toContain(noPreset);
      expect(s.inProgress.every((row) => row.presetId === preset.presetId)).toBe(true);
    }
  });
});

describe("planAll", () => {
  it("plans every preset and marks inactive presets with nothing to do as skipped", () => {
    const idle = presetRow({
      presetId: "p-idle",
      templateVersionId: "tv-idle",
      usingActiveVersion: false,
    });
    const planned = planAll({ ...global, presets: [...global.presets, idle] }, NOW, OPTIONS);
    expect(planned.map((p) => [p.preset.presetId, p.skipped, shapes(p.plan.actions)])).toEqual([
      ["p-mine", false, [{ Delete: [stale.workspaceId] }]], // 1 running + 1 starting = 2 desired
      [
        "p-other",
        false,
        [{ Backoff: new Date(NOW.getTime() + OPTIONS.backoffInterval).toISOString() }],
      ],
      ["p-old", false, [{ CancelPending: 4, presetId: "p-old" }]],
      ["p-idle", true, []],
    ]);
  });

  it("plans 30,000 presets of one snapshot", () => {
    const presets = Array.from({ length: 30_000 }, (_, i) =>
      presetRow({
        presetId: `p-${i}`,
        templateVersionId: `tv-${i}`,
        usingActiveVersion: i % 10 === 0,
      }),
    );
    const running = presets.flatMap((p) => [prebuild(p), prebuild(p)]);
    const planned = planAll(globalSnapshot({ presets, running }), NOW, OPTIONS);
    expect(planned).toHaveLength(30_000);
    expect(planned.filter((p) => p.plan.actions.length > 0)).toHaveLength(30_000);
    expect(planned[0]?.plan.actions.map((a) => a._tag)).toEqual(["Delete"]); // active: 2 running, 1 desired
    expect(planned[1]?.plan.actions.map((a) => a._tag)).toEqual(["Delete"]); // inactive: delete both
  });
});
