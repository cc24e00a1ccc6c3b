// Bad data must never throw: the planner clamps, falls back, ignores and warns instead.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  filterByPreset,
  type GlobalSnapshot,
  indexSnapshot,
  MAX_DESIRED_INSTANCES,
  type PresetRow,
  planAll,
  planPreset,
} from "../../../src/plan/index.ts";
import { anyCount, anyDate, hostileSnapshot } from "../../fixtures/hostileData.ts";
import { globalSnapshot, NOW, OPTIONS, prebuild, presetRow, shapes } from "./snapshotBuilder.ts";

function planOne(preset: PresetRow, partial: Partial<GlobalSnapshot> = {}, now = NOW) {
  const global = globalSnapshot({ presets: [preset], ...partial });
  return planPreset(filterByPreset(indexSnapshot(global), preset, now), now, OPTIONS);
}

describe("bad preset rows", () => {
  const cases: { name: string; desiredInstances: number; count: number; warning: RegExp }[] = [
    {
      name: "treats a negative desired_instances as 0",
      desiredInstances: -3,
      count: 0,
      warning: /desired_instances is -3; using 0/,
    },
    {
      name: `caps a huge desired_instances at ${MAX_DESIRED_INSTANCES}`,
      desiredInstances: 2_147_483_647,
      count: MAX_DESIRED_INSTANCES,
      warning: /above the maximum 1000/,
    },
    {
      name: "treats a NaN desired_instances as 0",
      desiredInstances: Number.NaN,
      count: 0,
      warning: /desired_instances is NaN/,
    },
    {
      name: "caps an infinite desired_instances",
      desiredInstances: Number.POSITIVE_INFINITY,
      count: MAX_DESIRED_INSTANCES,
      warning: /Infinity/,
    },
    {
      name: "rounds a fractional desired_instances down",
      desiredInstances: 2.7,
      count: 2,
      warning: /is 2.7; using 2/,
    },
  ];
  it.each(cases)("$name, with a warning", (tc) => {
    const result = planOne(presetRow({ desiredInstances: tc.desiredInstances }));
    expect(result.state.desired).toBe(tc.count);
    expect(shapes(result.actions)).toEqual(tc.count > 0 ? [{ Create: tc.count }] : []);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(tc.warning);
    expect(result.warnings[0]).toMatch(/^preset "my-preset" \(preset-1\)/);
  });

  it("treats a negative TTL as no expiry, with a warning", () => {
    const preset = presetRow({ desiredInstances: 1, ttlSeconds: -60 });
    const result = planOne(preset, { running: [prebuild(preset, { createdAt: new Date(0) })] });
    expect(result.state.expired).toBe(0);
    expect(result.actions).toEqual([]);
    expect(result.warnings).toEqual([
      'preset "my-preset" (preset-1) of template "my-template" version "v1": invalidate_after_secs is -60; treating it as no expiry',
    ]);
  });

  it("does not warn about the configuration of an inactive preset, which wants nothing anyway", () => {
    const result = planOne(
      presetRow({ usingActiveVersion: false, desiredInstances: -1, ttlSeconds: -5 }),
    );
    expect(result.warnings).toEqual([]);
    expect(result.actions).toEqual([]);
  });

  it("ignores running prebuilds whose preset id is null", () => {
    const preset = presetRow({ desiredInstances: 1 });
    const result = planOne(preset, {
      running: [prebuild(preset, { presetId: null }), prebuild(preset, { presetId: null })],
    });
    expect(result.state.actual).toBe(0);
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
  });

  it("keeps a huge failure count's backoff within the range of a Date", () => {
    const preset = presetRow({ desiredInstances: 1 });
    const result = planOne(preset, {
      backoffs: [{ presetId: preset.presetId, numFailed: 1e300, lastBuildAt: NOW }],
    });
    const action = result.actions[0];
    expect(action?._tag).toBe("Backoff");
    if (action?._tag === "Backoff") expect(Number.isNaN(action.until.getTime())).toBe(false);
  });
});

describe("hostile snapshots", () => {
  it("never make planPreset or planAll throw, and still yield well-formed actions", () => {
    fc.assert(
      fc.property(hostileSnapshot, anyDate, anyCount, (global, now, backoffInterval) => {
        for (const { preset, snapshot, plan } of planAll(global, now, { backoffInterval })) {
          expect(planPreset(snapshot, now, { backoffInterval })).toEqual(plan);
          expect(preset).toBe(snapshot.preset);
          for (const action of plan.actions) {
            expect(typeof action.reason).toBe("string");
            if (action._tag === "Create") {
              expect(
                Number.isInteger(action.count) &&
                  action.count > 0 &&
                  action.count <= MAX_DESIRED_INSTANCES,
              ).toBe(true);
            }
            if (action._tag === "Delete") expect(action.workspaceIds.length).toBeGreaterThan(0);
            if (action._tag === "CancelPending") {
              const work = action.pendingCount + action.runningCount + action.orphanCount;
              expect(work).toBeGreaterThan(0);
              expect(action.reason).toContain(`cancel policy "${action.policy}"`);
            }
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
