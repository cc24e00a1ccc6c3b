// TestCanSkipReconciliation (reference §4.7): only inactive presets with nothing to clean up are
// skipped, and a skipped preset never has anything planned.

import { describe, expect, it } from "vitest";
import { canSkip, type PresetSnapshot, planPreset } from "../../../src/plan/index.ts";
import { NOW, OPTIONS, prebuild, presetRow, presetSnapshot } from "./snapshotBuilder.ts";

const inactive = presetRow({ usingActiveVersion: false, desiredInstances: 5 });
const active = presetRow({ desiredInstances: 5 });

const cases: { name: string; snapshot: PresetSnapshot; canSkip: boolean; plansNothing: boolean }[] =
  [
    {
      name: "skips an inactive preset with nothing to clean up",
      snapshot: presetSnapshot(inactive),
      canSkip: true,
      plansNothing: true,
    },
    {
      name: "does not skip an inactive preset with running prebuilds",
      snapshot: presetSnapshot(inactive, { running: [prebuild(inactive)] }),
      canSkip: false,
      plansNothing: false,
    },
    {
      name: "does not skip an inactive preset with pending jobs",
      snapshot: presetSnapshot(inactive, { pendingCount: 3 }),
      canSkip: false,
      plansNothing: false,
    },
    {
      name: "skips a deleted template's preset with nothing to clean up",
      snapshot: presetSnapshot(presetRow({ usingActiveVersion: false, templateDeleted: true })),
      canSkip: true,
      plansNothing: true,
    },
    {
      name: "skips a deprecated template's preset with nothing to clean up",
      snapshot: presetSnapshot(presetRow({ usingActiveVersion: false, templateDeprecated: true })),
      canSkip: true,
      plansNothing: true,
    },
    {
      name: "skips an inactive hard-limited preset with nothing to clean up",
      snapshot: presetSnapshot(inactive, { isHardLimited: true }),
      canSkip: true,
      plansNothing: true,
    },
    {
      name: "never skips an active preset, even one whose pool is full",
      snapshot: presetSnapshot(presetRow({ desiredInstances: 2 }), {
        running: [prebuild(active), prebuild(active)],
      }),
      canSkip: false,
      plansNothing: true,
    },
    {
      name: "does not skip an active preset with an empty pool",
      snapshot: presetSnapshot(active),
      canSkip: false,
      plansNothing: false,
    },
    {
      name: "does not skip an active preset in backoff",
      snapshot: presetSnapshot(active, {
        backoff: {
          presetId: active.presetId,
          numFailed: 3,
          lastBuildAt: new Date(NOW.getTime() - 60_000),
        },
      }),
      canSkip: false,
      plansNothing: false,
    },
    {
      name: "does not skip an active hard-limited preset, which still plans a Create",
      snapshot: presetSnapshot(active, { isHardLimited: true }),
      canSkip: false,
      plansNothing: false,
    },
    // Beyond the reference: expired prebuilds of an inactive preset are deleted here, so they keep it in.
    {
      name: "does not skip an inactive preset with only expired prebuilds",
      snapshot: presetSnapshot(inactive, { expired: [prebuild(inactive)] }),
      canSkip: false,
      plansNothing: false,
    },
  ];

describe("TestCanSkipReconciliation", () => {
  it.each(cases)("$name", (tc) => {
    const actions = planPreset(tc.snapshot, NOW, {
      ...OPTIONS,
      backoffInterval: 5 * 60_000,
    }).actions;
    expect(canSkip(tc.snapshot)).toBe(tc.canSkip);
    expect(actions.length === 0).toBe(tc.plansNothing);
    if (tc.canSkip) expect(actions).toEqual([]);
  });

  it("plans a Create for the active hard-limited preset", () => {
    const actions = planPreset(
      presetSnapshot(active, { isHardLimited: true }),
      NOW,
      OPTIONS,
    ).actions;
    expect(actions.map((a) => a._tag)).toEqual(["Create"]);
  });
});
