// The planner's side of the pool controls (issue #15): pauses, scale overrides, and their effect
// on the state, the reasons and the next decision change. Pure: snapshots in, plans out.
import { describe, expect, it } from "vitest";
import {
  canSkip,
  filterByPreset,
  type GlobalSnapshot,
  indexSnapshot,
  nextDecisionChange,
  type PoolControls,
  type PresetRow,
  planAll,
  planPreset,
  rolloutProgress,
} from "../../../src/plan/index.ts";
import {
  backoff,
  globalSnapshot,
  NOW,
  OPTIONS,
  prebuilds,
  presetRow,
  shapes,
  TEMPLATE_ID,
} from "./snapshotBuilder.ts";

function controls(partial: Partial<PoolControls>): PoolControls {
  return { pauses: [], desiredOverrides: [], rollouts: [], ...partial };
}

function plan(global: GlobalSnapshot, preset: PresetRow, now = NOW) {
  return planPreset(filterByPreset(indexSnapshot(global), preset, now), now, OPTIONS);
}

const active = presetRow({ presetId: "p-small", presetName: "small", desiredInstances: 2 });
const sibling = presetRow({ presetId: "p-large", presetName: "large", desiredInstances: 1 });
const otherTemplate = presetRow({
  presetId: "p-other",
  presetName: "small",
  templateId: "tpl-2",
  templateName: "other",
  templateVersionId: "tv-2",
});
const old = presetRow({
  presetId: "p-old",
  presetName: "small",
  templateVersionId: "tv-0",
  templateVersionName: "v0",
  usingActiveVersion: false,
});

describe("pause", () => {
  const presets = [active, sibling, otherTemplate, old];
  const running = [...prebuilds(old, 2), ...prebuilds(sibling, 3)];

  it("a template pause plans nothing for every preset of the template, old versions included", () => {
    const global = globalSnapshot({
      presets,
      running,
      pendingNonActive: [{ presetId: old.presetId, count: 1 }],
      controls: controls({ pauses: [{ templateId: TEMPLATE_ID, presetName: "", pausedAt: NOW }] }),
    });
    for (const preset of [active, sibling, old]) {
      const p = plan(global, preset);
      expect(p.actions).toEqual([]);
      expect(p.paused).toMatch(
        /^template "my-template" is paused \(since 2025-06-02T12:00:00.000Z\)/,
      );
    }
    expect(plan(global, otherTemplate).paused).toBeNull();
    expect(shapes(plan(global, otherTemplate).actions)).toEqual([{ Create: 1 }]);
  });

  it("a preset pause covers that name in every version of its template only", () => {
    const global = globalSnapshot({
      presets,
      running,
      controls: controls({
        pauses: [{ templateId: TEMPLATE_ID, presetName: "small", pausedAt: NOW }],
      }),
    });
    expect(plan(global, active).actions).toEqual([]);
    expect(plan(global, old).actions).toEqual([]);
    expect(plan(global, active).paused).toMatch(/resume --template "my-template" --preset "small"/);
    expect(shapes(plan(global, sibling).actions)).toEqual([
      { Delete: [running[2]?.workspaceId, running[3]?.workspaceId] },
    ]);
    expect(plan(global, otherTemplate).paused).toBeNull();
  });

  it("keeps the state (the table still shows the pool) and outranks a backoff", () => {
    const global = globalSnapshot({
      presets: [sibling],
      running: prebuilds(sibling, 3),
      backoffs: [backoff(sibling, 2, NOW)],
      controls: controls({ pauses: [{ templateId: TEMPLATE_ID, presetName: "", pausedAt: NOW }] }),
    });
    const p = plan(global, sibling);
    expect(p.actions).toEqual([]);
    expect(p.state).toMatchObject({ desired: 1, actual: 3, extraneous: 2 });
  });
});

describe("scale override", () => {
  it("replaces the static count, says so in the reason, and is reported beside the state", () => {
    const global = globalSnapshot({
      presets: [active],
      running: prebuilds(active, 1),
      controls: controls({
        desiredOverrides: [{ presetId: active.presetId, desiredInstances: 5 }],
      }),
    });
    const p = plan(global, active);
    expect(p.desiredOverride).toBe(5);
    expect(p.state.desired).toBe(5);
    expect(p.desired).toMatchObject({ source: "override", count: 5, configured: 2 });
    expect(p.actions[0]?.reason).toBe(
      "desired 5 (scale override, configured 2), running 1, starting 0 → create 4",
    );
  });

  it("0 deletes the whole pool as extraneous; an inactive preset ignores it", () => {
    const running = prebuilds(active, 2);
    const global = globalSnapshot({
      presets: [active, old],
      running: [...running, ...prebuilds(old, 1)],
      controls: controls({
        desiredOverrides: [
          { presetId: active.presetId, desiredInstances: 0 },
          { presetId: old.presetId, desiredInstances: 3 },
        ],
      }),
    });
    expect(shapes(plan(global, active).actions)).toEqual([
      { Delete: running.map((r) => r.workspaceId) },
    ]);
    expect(plan(global, old).state.desired).toBe(0);
  });

  it("a covering schedule still wins; outside it the override applies; the wake-up follows it", () => {
    const scheduled = presetRow({ desiredInstances: 1, schedulingTimezone: "UTC" });
    const global = globalSnapshot({
      presets: [scheduled],
      schedules: [
        { presetId: scheduled.presetId, cronExpression: "* 13-14 * * *", desiredInstances: 4 },
      ],
      controls: controls({
        desiredOverrides: [{ presetId: scheduled.presetId, desiredInstances: 2 }],
      }),
    });
    expect(plan(global, scheduled).desired).toMatchObject({ source: "override", count: 2 });
    const inside = new Date("2025-06-02T13:30:00Z");
    expect(plan(global, scheduled, inside).desired).toMatchObject({ source: "schedule", count: 4 });
    const snapshot = filterByPreset(indexSnapshot(global), scheduled, NOW);
    expect(nextDecisionChange(snapshot, NOW, { ...OPTIONS, backoffLookback: 0 })).toEqual(
      new Date("2025-06-02T13:00:00Z"),
    );
    // With the override equal to the schedule's count, nothing changes within the look-ahead.
    const same = globalSnapshot({
      ...global,
      controls: controls({
        desiredOverrides: [{ presetId: scheduled.presetId, desiredInstances: 4 }],
      }),
    });
    expect(
      nextDecisionChange(filterByPreset(indexSnapshot(same), scheduled, NOW), NOW, {
        ...OPTIONS,
        backoffLookback: 0,
      }),
    ).toEqual(new Date("2025-06-04T12:00:00Z"));
  });
});

describe("canSkip stays sound", () => {
  it("a paused inactive preset with prebuilds is not skipped but plans nothing", () => {
    const global = globalSnapshot({
      presets: [old],
      running: prebuilds(old, 1),
      controls: controls({ pauses: [{ templateId: TEMPLATE_ID, presetName: "", pausedAt: NOW }] }),
    });
    const snapshot = filterByPreset(indexSnapshot(global), old, NOW);
    expect(canSkip(snapshot)).toBe(false);
    expect(planPreset(snapshot, NOW, OPTIONS).actions).toEqual([]);
  });
});

describe("surge rollout", () => {
  const PROMOTED = new Date(NOW.getTime() - 10 * 60_000);
  const v1 = presetRow({
    presetId: "p-v1",
    presetName: "small",
    templateVersionId: "tv-1",
    templateVersionName: "v1",
    usingActiveVersion: false,
  });
  const v0 = presetRow({
    presetId: "p-v0",
    presetName: "small",
    templateVersionId: "tv-0",
    templateVersionName: "v0",
    usingActiveVersion: false,
  });
  const v2 = presetRow({
    presetId: "p-v2",
    presetName: "small",
    templateVersionId: "tv-2",
    templateVersionName: "v2",
    desiredInstances: 3,
  });
  const surge = controls({
    rollouts: [
      {
        templateId: TEMPLATE_ID,
        strategy: "surge",
        promotedAt: PROMOTED,
        previousVersionId: "tv-1",
      },
    ],
  });

  function planAt(global: GlobalSnapshot, preset: PresetRow, now = NOW) {
    const planned = planAll(global, now, { ...OPTIONS, rolloutMaxWait: 30 * 60_000 });
    const p = planned.find((x) => x.preset.presetId === preset.presetId);
    if (p === undefined) throw new Error("not planned");
    return p;
  }

  it("keeps the previous version's eligible prebuilds one for one until the new preset has enough", () => {
    const old = prebuilds(v1, 3);
    const notReady = prebuilds(v1, 1, { ready: false });
    const fresh = prebuilds(v2, 1);
    const global = globalSnapshot({
      presets: [v1, v2],
      running: [...old, ...notReady, ...fresh],
      controls: surge,
    });
    const p = planAt(global, v1);
    expect(p.snapshot.surge).toMatchObject({
      newDesired: 3,
      newEligible: 1,
      oldEligible: 3,
      keep: 2,
    });
    expect(shapes(p.plan.actions)).toEqual([
      { Delete: notReady.map((r) => r.workspaceId) },
      { Delete: [old[0]?.workspaceId] },
    ]);
    const superseded = p.plan.actions[1];
    expect(superseded).toMatchObject({
      because: "superseded",
      surge: {
        newPresetId: "p-v2",
        minNewEligible: 1,
        deadline: new Date(PROMOTED.getTime() + 30 * 60_000),
      },
    });
    expect(superseded?.reason).toMatch(
      /new version's preset has 1 eligible of 3 desired .* keep 2 of 3 eligible, delete 1/,
    );
    // The new preset still creates as usual; the old prebuilds do not count toward it.
    expect(shapes(planAt(global, v2).plan.actions)).toEqual([{ Create: 2 }]);
    expect(rolloutProgress(planAll(global, NOW, OPTIONS))).toMatchObject([
      { templateName: "my-template", oldEligible: 3, oldKept: 2, newEligible: 1, newDesired: 3 },
    ]);
  });

  it("deletes everything once the bound passed, and wakes up at the bound", () => {
    const old = prebuilds(v1, 2);
    const global = globalSnapshot({ presets: [v1, v2], running: old, controls: surge });
    const before = planAt(global, v1);
    expect(before.plan.actions).toEqual([]);
    expect(nextDecisionChange(before.snapshot, NOW, { ...OPTIONS, backoffLookback: 0 })).toEqual(
      new Date(PROMOTED.getTime() + 30 * 60_000),
    );
    const after = planAt(global, v1, new Date(PROMOTED.getTime() + 30 * 60_000));
    expect(after.plan.actions).toMatchObject([{ _tag: "Delete", because: "inactive" }]);
    expect(after.plan.actions[0]?.reason).toMatch(/surge rollout bound .* passed/);
  });

  it("holds only the version the promotion replaced, only for a same-named preset, only with surge", () => {
    const running = [...prebuilds(v0, 1), ...prebuilds(v1, 1)];
    const other = presetRow({ ...v1, presetId: "p-v1-large", presetName: "large" });
    const global = globalSnapshot({
      presets: [v0, v1, v2, other],
      running: [...running, ...prebuilds(other, 1)],
      controls: surge,
    });
    expect(planAt(global, v0).snapshot.surge ?? null).toBeNull();
    expect(shapes(planAt(global, v0).plan.actions)).toHaveLength(1);
    expect(planAt(global, other).snapshot.surge ?? null).toBeNull();
    expect(planAt(global, v1).plan.actions).toEqual([]);
    const replace = globalSnapshot({
      ...global,
      controls: controls({ rollouts: [{ ...surge.rollouts[0], strategy: "replace" } as never] }),
    });
    expect(shapes(planAt(replace, v1).plan.actions)).toHaveLength(1);
  });
});
