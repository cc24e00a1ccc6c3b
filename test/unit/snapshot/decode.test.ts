// snapshot/decode.ts repairs the values the database should never hand the planner (issue #17):
// counts that are not whole non-negative numbers, times that are not valid. Each repair names its
// row in a problem; the planner then trusts its types.
import { describe, expect, it } from "vitest";
import { planPreset } from "../../../src/plan/index.ts";
import {
  type DecodeClock,
  toBackoffTimes,
  toInProgressCount,
  toLatestStartBuild,
  toPendingCount,
  toPresetRow,
} from "../../../src/snapshot/decode.ts";
import { decodeRaw } from "../../fixtures/hostileData.ts";
import { OPTIONS, presetRow } from "../plan/snapshotBuilder.ts";

const NOW = new Date("2025-06-02T12:00:00Z");
const clock = (): DecodeClock => ({ now: NOW, problems: [] });
const invalid = new Date(Number.NaN);

function presetRowOf(overrides: { lastInvalidatedAt: Date | null }) {
  return {
    templateId: "t",
    templateName: "tpl",
    organizationId: "o",
    organizationName: "org",
    templateVersionId: "v",
    templateVersionName: "v1",
    usingActiveVersion: true,
    presetId: "p",
    presetName: "preset",
    desiredInstances: 1,
    ttlSeconds: 60,
    prebuildStatus: "healthy",
    schedulingTimezone: "",
    templateDeleted: false,
    templateDeprecated: false,
    activeVersionExists: true,
    activeVersionOfTemplate: "",
    cancelPolicy: "pending",
    ...overrides,
  };
}

describe("counts", () => {
  it("keeps whole non-negative counts (strings from bigint columns too) without a problem", () => {
    const c = clock();
    expect(
      toPendingCount(
        { presetId: "p", count: "7" as unknown as number, runningCount: 0, canceledCount: 0 },
        c,
      )?.count,
    ).toBe(7);
    expect(
      toInProgressCount(
        { templateId: "t", templateVersionId: "v", transition: "start", presetId: "p", count: 3 },
        c,
      )?.count,
    ).toBe(3);
    expect(c.problems).toEqual([]);
  });

  it.each([
    [-4, 0],
    [2.5, 2],
    [Number.NaN, 0],
    [Number.POSITIVE_INFINITY, 0],
  ])("reads %s as %s, with a problem naming the preset", (raw, repaired) => {
    const c = clock();
    const inProgress = toInProgressCount(
      { templateId: "t", templateVersionId: "v", transition: "start", presetId: "p", count: raw },
      c,
    );
    const pending = toPendingCount(
      { presetId: "p", count: raw, runningCount: 0, canceledCount: 0 },
      c,
    );
    expect([inProgress?.count, pending?.count]).toEqual([repaired, repaired]);
    expect(c.problems).toEqual([
      `the in-progress start count of preset p is ${raw}, not a count; using ${repaired}`,
      `the pending count of preset p is ${raw}, not a count; using ${repaired}`,
    ]);
  });
});

/** A GetLatestPrebuildStartBuilds row: a succeeded build of preset p, made and created at NOW. */
function startBuildRow(overrides: {
  succeeded?: boolean;
  createdAt?: Date;
  buildCreatedAt?: Date;
}) {
  return {
    workspaceId: "w",
    workspaceName: "prebuild-x",
    templateId: "t",
    templateVersionId: "v",
    buildPresetId: "p",
    currentPresetId: "p",
    succeeded: true,
    failed: false,
    ready: true,
    countsTowardFailures: true,
    buildCreatedAt: NOW,
    createdAt: NOW,
    ...overrides,
  };
}

describe("times", () => {
  it("reads an invalid created_at as the database's clock: the prebuild is never expired on a guess", () => {
    const c = clock();
    const { running } = toLatestStartBuild(startBuildRow({ createdAt: invalid }), c);
    if (running === null) throw new Error("a succeeded build is a running prebuild");
    expect(running.createdAt).toEqual(NOW);
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0]).toMatch(
      /^prebuild "prebuild-x" \(w\): created_at is Invalid Date, not a valid time/,
    );
  });

  it("ignores an invalid last_invalidated_at (read as the clock it would expire every prebuild)", () => {
    const c = clock();
    expect(toPresetRow(presetRowOf({ lastInvalidatedAt: invalid }), c).lastInvalidatedAt).toBe(
      null,
    );
    expect(c.problems[0]).toMatch(
      /last_invalidated_at is Invalid Date, not a valid time; ignoring it/,
    );
  });

  it("a latest build's created_at: an invalid one reads as the clock, a future one is ranked as stored", () => {
    const c = clock();
    const later = new Date(NOW.getTime() + 60_000);
    const failed = { succeeded: false };
    expect(toLatestStartBuild(startBuildRow({ ...failed, buildCreatedAt: invalid }), c)).toEqual({
      build: expect.objectContaining({ createdAt: NOW, presetId: "p" }),
      running: null,
    });
    expect(
      toLatestStartBuild(startBuildRow({ ...failed, buildCreatedAt: later }), c).build,
    ).toEqual(expect.objectContaining({ createdAt: later }));
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0]).toMatch(
      /^prebuild "prebuild-x" \(w\): its latest build's created_at is Invalid Date/,
    );
  });

  it("a backoff's latest failure later than the clock is the clock: it never holds a preset back longer", () => {
    const c = clock();
    const later = new Date(NOW.getTime() + 60_000);
    const row = { presetId: "p", numFailed: 2, lastBuildAt: later, firstFailedAt: NOW };
    expect(toBackoffTimes(row, c)).toEqual({ ...row, lastBuildAt: NOW });
    expect(c.problems).toEqual([
      expect.stringMatching(/^the latest failed build of preset p: created_at is .* later than/),
    ]);
  });
});

describe("the planner after decoding", () => {
  it("plans nothing odd from hostile counts: negative starting and pending counts are 0", () => {
    const preset = presetRow({ desiredInstances: 2 });
    const global = decodeRaw(
      {
        presets: [preset],
        schedules: [],
        startBuilds: [],
        inProgress: [
          {
            templateId: "t",
            templateVersionId: "v",
            presetId: preset.presetId,
            transition: "start",
            count: -4,
          },
        ],
        pendingNonActive: [{ presetId: preset.presetId, count: -2 }],
        hardLimitedPresetIds: new Set(),
      },
      NOW,
    );
    const snapshot = {
      preset: global.presets[0] ?? preset,
      schedules: [],
      running: [],
      expired: [],
      inProgress: global.inProgress,
      pendingCount: global.pendingNonActive[0]?.count ?? 0,
      backoff: global.backoffs[0] ?? null,
      isHardLimited: false,
    };
    const plan = planPreset(snapshot, NOW, OPTIONS);
    expect(plan.state.starting).toBe(0);
    expect(plan.actions).toEqual([expect.objectContaining({ _tag: "Create", count: 2 })]);
  });
});
