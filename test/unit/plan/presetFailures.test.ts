// The failure rules counted from the latest start builds (reference §4.4 backoff, §4.5 hard
// limit; issue #16 moved them out of SQL). Each test isolates one condition, so removing it from
// src/plan/presetFailures.ts makes that test fail. The same rules through the database:
// test/integration/reconciler/presetFailures.test.ts.
import { describe, expect, it } from "vitest";
import { type LatestStartBuild, presetFailures } from "../../../src/plan/index.ts";
import { NOW, presetRow } from "./snapshotBuilder.ts";

const MINUTE = 60_000;
const RULES = { lookback: new Date(NOW.getTime() - 60 * MINUTE), hardLimit: 2 };
const preset = presetRow({ desiredInstances: 2 });

/** A latest start build of `preset`, `minutesAgo` old. */
function build(
  minutesAgo: number,
  failed: boolean,
  overrides: Partial<LatestStartBuild> = {},
): LatestStartBuild {
  return {
    presetId: preset.presetId,
    templateVersionId: preset.templateVersionId,
    failed,
    createdAt: new Date(NOW.getTime() - minutesAgo * MINUTE),
    countsTowardFailures: true,
    ...overrides,
  };
}

const ago = (minutes: number) => new Date(NOW.getTime() - minutes * MINUTE);

describe("backoff (reference §4.4)", () => {
  it("backs off when one of the desired-instances most recent builds failed inside the lookback", () => {
    const { backoffs } = presetFailures([build(1, false), build(5, true)], [preset], RULES);
    expect(backoffs).toEqual([
      { presetId: preset.presetId, numFailed: 1, lastBuildAt: ago(5), firstFailedAt: ago(5) },
    ]);
  });

  it("does not when the failure is older than the desired-instances most recent builds", () => {
    const builds = [build(1, false), build(2, false), build(5, true)];
    expect(presetFailures(builds, [preset], RULES).backoffs).toEqual([]);
  });

  it("does not for a failure outside the lookback", () => {
    expect(presetFailures([build(61, true)], [preset], RULES).backoffs).toEqual([]);
  });

  it("counts every failure inside the lookback, the recent ones' latest as the last build, the oldest as the first", () => {
    const builds = [
      build(30, true),
      build(2, true),
      build(40, false),
      build(50, true),
      build(70, true),
    ];
    expect(presetFailures(builds, [preset], RULES).backoffs).toEqual([
      { presetId: preset.presetId, numFailed: 3, lastBuildAt: ago(2), firstFailedAt: ago(50) },
    ]);
  });

  it("ranks a failure first among builds created at the same instant (a cycle's creates share one)", () => {
    const desiredOne = presetRow({ desiredInstances: 1 });
    for (const builds of [
      [build(5, false), build(5, true)],
      [build(5, true), build(5, false)],
    ]) {
      expect(presetFailures(builds, [desiredOne], RULES).backoffs).toHaveLength(1);
    }
  });

  it("holds back no deleted or deprecated template (its deletes and cancels must go on)", () => {
    const deleted = presetRow({ presetId: "d", templateDeleted: true });
    const deprecated = presetRow({ presetId: "x", templateDeprecated: true });
    const builds = [build(1, true, { presetId: "d" }), build(1, true, { presetId: "x" })];
    expect(presetFailures(builds, [deleted, deprecated], RULES).backoffs).toEqual([]);
  });
});

describe("hard limit (reference §4.5)", () => {
  it("limits a preset whose hard-limit most recent builds all failed, a deleted template's too", () => {
    const failing = [build(1, true), build(2, true), build(3, false)];
    expect(presetFailures(failing, [preset], RULES).hardLimitedPresetIds).toEqual(
      new Set([preset.presetId]),
    );
    const deleted = presetRow({ templateDeleted: true });
    expect(presetFailures(failing, [deleted], RULES).hardLimitedPresetIds.size).toBe(1);
  });

  it("not when a more recent build succeeded, nor with fewer builds than the limit", () => {
    const recovered = [build(1, false), build(2, true), build(3, true)];
    expect(presetFailures(recovered, [preset], RULES).hardLimitedPresetIds.size).toBe(0);
    expect(presetFailures([build(1, true)], [preset], RULES).hardLimitedPresetIds.size).toBe(0);
  });

  it("a limit of 0 disables it", () => {
    const failing = [build(1, true), build(2, true)];
    const rules = { ...RULES, hardLimit: 0 };
    expect(presetFailures(failing, [preset], rules).hardLimitedPresetIds.size).toBe(0);
  });
});

describe("which builds count", () => {
  const failing = [build(1, true), build(2, true)];

  it("only builds after the preset's reset (issue #15)", () => {
    const reset = failing.map((b) => ({ ...b, countsTowardFailures: false }));
    expect(presetFailures(reset, [preset], RULES)).toEqual({
      backoffs: [],
      hardLimitedPresetIds: new Set(),
    });
  });

  it("only presets of an active version read by the snapshot, and builds of the preset's own version", () => {
    const inactive = presetRow({ usingActiveVersion: false });
    expect(presetFailures(failing, [inactive], RULES).backoffs).toEqual([]);
    expect(presetFailures(failing, [], RULES).backoffs).toEqual([]);
    const otherVersion = failing.map((b) => ({ ...b, templateVersionId: "tv-other" }));
    expect(presetFailures(otherVersion, [preset], RULES)).toEqual({
      backoffs: [],
      hardLimitedPresetIds: new Set(),
    });
  });

  it("no build without a preset", () => {
    const none = failing.map((b) => ({ ...b, presetId: null }));
    expect(presetFailures(none, [preset], RULES).hardLimitedPresetIds.size).toBe(0);
  });
});
