// snapshot/decode.ts repairs the values the database should never hand the planner (issue #17):
// counts that are not whole non-negative numbers, times that are not valid. Each repair names its
// row in a problem; the planner then trusts its types.
import { describe, expect, it } from "vitest";
import { planPreset } from "../../../src/plan/index.ts";
import {
  type DecodeClock,
  toBackoffRow,
  toInProgressCount,
  toPendingCount,
  toPresetRow,
  toRunningPrebuild,
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

describe("times", () => {
  it("reads an invalid created_at as the database's clock: the prebuild is never expired on a guess", () => {
    const c = clock();
    const running = toRunningPrebuild(
      {
        workspaceId: "w",
        workspaceName: "prebuild-x",
        templateId: "t",
        templateVersionId: "v",
        currentPresetId: "p",
        ready: true,
        createdAt: invalid,
      },
      c,
    );
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

  it("backoff rows: a negative failure count is 0 (no backoff), an invalid last failure is the clock", () => {
    const c = clock();
    const row = (numFailed: number, lastBuildAt: Date) =>
      toBackoffRow(
        {
          kind: "backoff",
          templateVersionId: null,
          presetId: "p",
          numFailed,
          lastBuildAt,
          firstFailedAt: invalid,
        },
        c,
      );
    expect(row(-2, NOW)).toMatchObject({ numFailed: 0, lastBuildAt: NOW, firstFailedAt: null });
    expect(row(2, invalid)).toMatchObject({ numFailed: 2, lastBuildAt: NOW });
    expect(c.problems).toHaveLength(2);
  });
});

describe("the planner after decoding", () => {
  it("plans nothing odd from hostile counts: negative starting and pending counts are 0", () => {
    const preset = presetRow({ desiredInstances: 2 });
    const global = decodeRaw(
      {
        presets: [preset],
        schedules: [],
        running: [],
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
        backoffs: [{ presetId: preset.presetId, numFailed: -2, lastBuildAt: NOW }],
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
