// The reference's preset_snapshot_test.go scenarios (reference §10.1), plus prebuildsd's deliberate
// differences. Each case goes through the global snapshot and filterByPreset, as the reconciler does.

import { describe, expect, it } from "vitest";
import {
  type Action,
  calculateState,
  filterByPreset,
  type GlobalSnapshot,
  indexSnapshot,
  type PresetRow,
  type PresetState,
  planPreset,
  type Transition,
} from "../../../src/plan/index.ts";
import {
  BACKOFF_INTERVAL,
  backoff,
  globalSnapshot,
  inProgress,
  NOW,
  OPTIONS,
  prebuild,
  prebuilds,
  presetRow,
  shapes,
  ZERO_STATE,
} from "./snapshotBuilder.ts";

function plan(global: GlobalSnapshot, preset: PresetRow, now = NOW) {
  const snapshot = filterByPreset(indexSnapshot(global), preset, now);
  const result = planPreset(snapshot, now, OPTIONS);
  // calculateState is the public spelling of the same numbers.
  expect(calculateState(snapshot, now)).toEqual(result.state);
  for (const action of result.actions) expect(action.reason).toMatch(/\S/);
  return result;
}

function state(partial: Partial<PresetState>): PresetState {
  return { ...ZERO_STATE, ...partial };
}

const outdated = presetRow({
  presetId: "p-old",
  templateVersionId: "tv-old",
  templateVersionName: "v1",
  usingActiveVersion: false,
});
const current = presetRow({
  presetId: "p-new",
  templateVersionId: "tv-new",
  templateVersionName: "v2",
});

describe("TestNoPrebuilds", () => {
  it("plans nothing for an active preset that wants 0 prebuilds", () => {
    const preset = presetRow({ desiredInstances: 0 });
    const result = plan(globalSnapshot({ presets: [preset] }), preset);
    expect(result.state).toEqual(ZERO_STATE);
    expect(result.actions).toEqual([]);
  });
});

describe("TestNetNew", () => {
  it("creates the one prebuild a new active preset wants", () => {
    const preset = presetRow({ desiredInstances: 1 });
    const result = plan(globalSnapshot({ presets: [preset] }), preset);
    expect(result.state).toEqual(state({ desired: 1 }));
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
    expect(result.actions[0]?.reason).toBe("desired 1 (static), running 0, starting 0 → create 1");
  });
});

describe("TestOutdatedPrebuilds", () => {
  const old = prebuild(outdated);
  const global = globalSnapshot({ presets: [outdated, current], running: [old] });

  it("deletes the running prebuild of the outdated version", () => {
    const result = plan(global, outdated);
    expect(result.state).toEqual(state({ actual: 1 }));
    expect(shapes(result.actions)).toEqual([{ Delete: [old.workspaceId] }]);
  });

  it("does not block the new version from creating while the old one is deleted", () => {
    const result = plan(global, current);
    expect(result.state).toEqual(state({ desired: 1 }));
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
  });
});

describe("TestDeleteOutdatedPrebuilds", () => {
  it("deletes an outdated prebuild even while another deletion is in progress", () => {
    const old = prebuild(outdated);
    const global = globalSnapshot({
      presets: [outdated],
      running: [old],
      inProgress: [inProgress(outdated, "delete", 1)],
    });
    const result = plan(global, outdated);
    expect(result.state).toEqual(state({ actual: 1, deleting: 1 }));
    expect(shapes(result.actions)).toEqual([{ Delete: [old.workspaceId] }]);
  });
});

describe("TestCancelPendingPrebuilds", () => {
  it("cancels the pending first builds of a non-active version and does nothing else", () => {
    const global = globalSnapshot({
      presets: [outdated],
      pendingNonActive: [{ presetId: outdated.presetId, count: 2 }],
    });
    const result = plan(global, outdated);
    expect(shapes(result.actions)).toEqual([{ CancelPending: 2, presetId: outdated.presetId }]);
    expect(result.actions[0]?.reason).toBe(
      'preset is inactive (version "v1" is not the active version) with 2 pending first builds → cancel 2 (cancel policy "pending")',
    );
  });

  it("does not cancel a pending job of the active version", () => {
    const preset = presetRow({ desiredInstances: 0 });
    const global = globalSnapshot({
      presets: [preset],
      pendingNonActive: [{ presetId: preset.presetId, count: 2 }],
    });
    expect(plan(global, preset).actions).toEqual([]);
  });
});

describe("TestInProgressActions", () => {
  const cases: {
    name: string;
    transition: Transition;
    desired: number;
    running: number;
    inProgress: number;
    state: Partial<PresetState>;
    actions: (running: readonly string[]) => unknown[];
  }[] = [
    {
      name: "start-short: 1 desired, 1 starting → nothing",
      transition: "start",
      desired: 1,
      running: 0,
      inProgress: 1,
      state: { desired: 1, starting: 1 },
      actions: () => [],
    },
    {
      name: "start-balanced: 2 desired, 1 running, 1 starting → nothing",
      transition: "start",
      desired: 2,
      running: 1,
      inProgress: 1,
      state: { actual: 1, desired: 2, starting: 1 },
      actions: () => [],
    },
    {
      name: "start-extraneous: 2 desired, 2 running, 1 starting → nothing yet",
      transition: "start",
      desired: 2,
      running: 2,
      inProgress: 1,
      state: { actual: 2, desired: 2, starting: 1 },
      actions: () => [],
    },
    {
      name: "stop-short: 1 desired, 1 stopping → create 1",
      transition: "stop",
      desired: 1,
      running: 0,
      inProgress: 1,
      state: { desired: 1, stopping: 1 },
      actions: () => [{ Create: 1 }],
    },
    {
      name: "stop-balanced: 3 desired, 2 running, 1 stopping → create 1",
      transition: "stop",
      desired: 3,
      running: 2,
      inProgress: 1,
      state: { actual: 2, desired: 3, stopping: 1 },
      actions: () => [{ Create: 1 }],
    },
    {
      name: "stop-extraneous: 3 desired, 3 running, 1 stopping → nothing",
      transition: "stop",
      desired: 3,
      running: 3,
      inProgress: 1,
      state: { actual: 3, desired: 3, stopping: 1 },
      actions: () => [],
    },
    {
      name: "delete-short: 1 desired, 1 deleting → create 1",
      transition: "delete",
      desired: 1,
      running: 0,
      inProgress: 1,
      state: { desired: 1, deleting: 1 },
      actions: () => [{ Create: 1 }],
    },
    {
      name: "delete-balanced: 2 desired, 1 running, 1 deleting → create 1",
      transition: "delete",
      desired: 2,
      running: 1,
      inProgress: 1,
      state: { actual: 1, desired: 2, deleting: 1 },
      actions: () => [{ Create: 1 }],
    },
    {
      name: "delete-extraneous: 2 desired, 2 running, 1 deleting → nothing",
      transition: "delete",
      desired: 2,
      running: 2,
      inProgress: 1,
      state: { actual: 2, desired: 2, deleting: 1 },
      actions: () => [],
    },
    {
      name: "start-inhibit: 3 desired, 1 running, 2 starting → nothing",
      transition: "start",
      desired: 3,
      running: 1,
      inProgress: 2,
      state: { actual: 1, desired: 3, starting: 2 },
      actions: () => [],
    },
    {
      name: "delete-inhibit: 3 desired, 5 running, 2 deleting → still deletes the 2 oldest extraneous",
      transition: "delete",
      desired: 3,
      running: 5,
      inProgress: 2,
      state: { actual: 5, desired: 3, deleting: 2, extraneous: 2 },
      actions: (ids) => [{ Delete: ids.slice(0, 2) }],
    },
  ];

  it.each(cases)("$name", (tc) => {
    const preset = presetRow({ desiredInstances: tc.desired });
    const running = prebuilds(preset, tc.running, { ready: false });
    const global = globalSnapshot({
      presets: [preset],
      running,
      inProgress: [inProgress(preset, tc.transition, tc.inProgress)],
    });
    const result = plan(global, preset);
    expect(result.state).toEqual(state(tc.state));
    expect(shapes(result.actions)).toEqual(tc.actions(running.map((r) => r.workspaceId)));
  });
});

describe("TestExtraneous", () => {
  it("deletes the older of two prebuilds when one is desired, to keep the pool fresh", () => {
    const preset = presetRow({ desiredInstances: 1 });
    const older = prebuild(preset, { createdAt: new Date(NOW.getTime() - 3_600_000) });
    const newer = prebuild(preset, { createdAt: NOW });
    const result = plan(globalSnapshot({ presets: [preset], running: [newer, older] }), preset);
    expect(result.state).toEqual(state({ actual: 2, desired: 1, extraneous: 1, eligible: 2 }));
    expect(shapes(result.actions)).toEqual([{ Delete: [older.workspaceId] }]);
    expect(result.actions[0]?.reason).toBe(
      "desired 1 (static), running 2 → delete 1 extraneous, oldest first",
    );
  });
});

describe("TestExpiredPrebuilds", () => {
  const ttlSeconds = 5;
  const expiredAt = new Date(NOW.getTime() - (ttlSeconds + 10) * 1000);
  const cases: {
    name: string;
    running: number;
    desired: number;
    expired: number;
    state: Partial<PresetState>;
    actions: (ids: readonly string[]) => unknown[];
  }[] = [
    {
      name: "no expired prebuilds: nothing to do",
      running: 2,
      desired: 2,
      expired: 0,
      state: { actual: 2, desired: 2 },
      actions: () => [],
    },
    {
      name: "one of two expired: it is deleted and replaced",
      running: 2,
      desired: 2,
      expired: 1,
      state: { actual: 2, desired: 2, expired: 1 },
      actions: (ids) => [{ Delete: [ids[0]] }, { Create: 1 }],
    },
    {
      name: "both expired: both are deleted and recreated",
      running: 2,
      desired: 2,
      expired: 2,
      state: { actual: 2, desired: 2, expired: 2 },
      actions: (ids) => [{ Delete: [ids[0], ids[1]] }, { Create: 2 }],
    },
    {
      name: "4 running, 2 expired, 2 desired: deleting the expired ones is enough",
      running: 4,
      desired: 2,
      expired: 2,
      state: { actual: 4, desired: 2, expired: 2 },
      actions: (ids) => [{ Delete: [ids[0], ids[1]] }],
    },
    {
      name: "4 running, 1 expired, 2 desired: the expired one first, then the oldest extraneous, as separate actions",
      running: 4,
      desired: 2,
      expired: 1,
      state: { actual: 4, desired: 2, expired: 1, extraneous: 1 },
      actions: (ids) => [{ Delete: [ids[0]] }, { Delete: [ids[1]] }],
    },
  ];

  it.each(cases)("$name", (tc) => {
    const preset = presetRow({ desiredInstances: tc.desired, ttlSeconds });
    // Expired ones first (oldest), then fresh ones, each a second younger than the one before.
    const running = Array.from({ length: tc.running }, (_, i) =>
      prebuild(preset, {
        ready: false,
        createdAt:
          i < tc.expired
            ? new Date(expiredAt.getTime() + i)
            : new Date(NOW.getTime() - (tc.running - i) * 1000),
      }),
    );
    const result = plan(globalSnapshot({ presets: [preset], running }), preset);
    expect(result.state).toEqual(state(tc.state));
    expect(shapes(result.actions)).toEqual(tc.actions(running.map((r) => r.workspaceId)));
  });

  it("expires every prebuild created before the preset was invalidated, and replaces them", () => {
    const preset = presetRow({
      desiredInstances: 2,
      lastInvalidatedAt: new Date(NOW.getTime() - 1000),
    });
    const running = prebuilds(preset, 2, {}, 10_000);
    const result = plan(globalSnapshot({ presets: [preset], running }), preset);
    expect(result.state).toEqual(state({ actual: 2, desired: 2, expired: 2 }));
    expect(shapes(result.actions)).toEqual([
      { Delete: running.map((r) => r.workspaceId) },
      { Create: 2 },
    ]);
    expect(result.actions[0]?.reason).toBe(
      "2 of 2 running prebuilds expired (invalidated at 2025-06-02T11:59:59.000Z) → delete 2, oldest first",
    );
  });

  it("keeps a prebuild created after the invalidation and expires only the older one", () => {
    const invalidatedAt = new Date(NOW.getTime() - 30_000);
    const preset = presetRow({ desiredInstances: 2, lastInvalidatedAt: invalidatedAt });
    const before = prebuild(preset, { createdAt: new Date(invalidatedAt.getTime() - 1) });
    const after = prebuild(preset, { createdAt: new Date(invalidatedAt.getTime() + 1) });
    const result = plan(globalSnapshot({ presets: [preset], running: [before, after] }), preset);
    expect(result.state).toEqual(state({ actual: 2, desired: 2, expired: 1, eligible: 1 }));
    expect(shapes(result.actions)).toEqual([{ Delete: [before.workspaceId] }, { Create: 1 }]);
  });
});

describe("TestDeprecated", () => {
  it("wants nothing for a deprecated template and deletes its running prebuild", () => {
    const preset = presetRow({ desiredInstances: 1, templateDeprecated: true });
    const running = prebuild(preset);
    const result = plan(globalSnapshot({ presets: [preset], running: [running] }), preset);
    expect(result.state).toEqual(state({ actual: 1 }));
    expect(shapes(result.actions)).toEqual([{ Delete: [running.workspaceId] }]);
    expect(result.actions[0]?.reason).toBe(
      "preset is inactive (template is deprecated) with 1 running and 0 expired → delete 1, oldest first",
    );
  });
});

describe("TestLatestBuildFailed", () => {
  const failing = presetRow({ presetId: "p-failing", desiredInstances: 1 });
  const healthy = presetRow({
    presetId: "p-healthy",
    templateVersionId: "tv-2",
    desiredInstances: 1,
  });
  const global = globalSnapshot({
    presets: [failing, healthy],
    running: [prebuild(healthy)],
    backoffs: [backoff(failing, 1, NOW)],
  });

  it("backs off a preset whose latest build failed until last build + 1 × interval", () => {
    const result = plan(global, failing);
    expect(result.state).toEqual(state({ desired: 1 }));
    expect(shapes(result.actions)).toEqual([
      { Backoff: new Date(NOW.getTime() + BACKOFF_INTERVAL).toISOString() },
    ]);
    expect(result.actions[0]?.reason).toBe(
      "1 recent build failed, the last at 2025-06-02T12:00:00.000Z; backoff 1 × 5s → nothing until 2025-06-02T12:00:05.000Z",
    );
  });

  it("does not back off a sibling preset", () => {
    const result = plan(global, healthy);
    expect(result.state).toEqual(state({ actual: 1, desired: 1, eligible: 1 }));
    expect(result.actions).toEqual([]);
  });

  it("still backs off at exactly the end of the window (now is not after it)", () => {
    const result = plan(global, failing, new Date(NOW.getTime() + BACKOFF_INTERVAL));
    expect(result.actions.map((a) => a._tag)).toEqual(["Backoff"]);
  });

  it("creates again once the clock has passed the backoff window", () => {
    const result = plan(global, failing, new Date(NOW.getTime() + BACKOFF_INTERVAL + 1));
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
  });

  it("scales the window linearly with the number of failures", () => {
    const g = globalSnapshot({ presets: [failing], backoffs: [backoff(failing, 3, NOW)] });
    const result = plan(g, failing, new Date(NOW.getTime() + 2 * BACKOFF_INTERVAL));
    expect(shapes(result.actions)).toEqual([
      { Backoff: new Date(NOW.getTime() + 3 * BACKOFF_INTERVAL).toISOString() },
    ]);
  });

  it("suppresses deletes too while the backoff holds", () => {
    const preset = presetRow({ desiredInstances: 0 });
    const g = globalSnapshot({
      presets: [preset],
      running: [prebuild(preset)],
      backoffs: [backoff(preset, 1, NOW)],
    });
    expect(plan(g, preset).actions.map((a) => a._tag)).toEqual(["Backoff"]);
  });

  it("ignores a backoff row with no failures", () => {
    const g = globalSnapshot({ presets: [failing], backoffs: [backoff(failing, 0, NOW)] });
    expect(shapes(plan(g, failing).actions)).toEqual([{ Create: 1 }]);
  });
});

describe("TestMultiplePresetsPerTemplateVersion", () => {
  const one = presetRow({ presetId: "p-1", presetName: "my-preset-1", desiredInstances: 1 });
  const two = presetRow({ presetId: "p-2", presetName: "my-preset-2", desiredInstances: 1 });
  const global = globalSnapshot({ presets: [one, two], inProgress: [inProgress(one, "start", 1)] });

  it("creates nothing for a preset whose prebuild is starting", () => {
    const result = plan(global, one);
    expect(result.state).toEqual(state({ desired: 1, starting: 1 }));
    expect(result.actions).toEqual([]);
  });

  it("does not let one preset's starting build block another preset of the same version", () => {
    const result = plan(global, two);
    expect(result.state).toEqual(state({ desired: 1 }));
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
  });
});

describe("the hard limit and validation_failed gates (reference: the executor skips the Create)", () => {
  it("still plans Create for an active hard-limited preset, and says creation will be skipped", () => {
    const preset = presetRow({ desiredInstances: 2 });
    const global = globalSnapshot({
      presets: [preset],
      hardLimitedPresetIds: new Set([preset.presetId]),
    });
    const result = plan(global, preset);
    expect(shapes(result.actions)).toEqual([{ Create: 2 }]);
    expect(result.actions[0]?.reason).toBe(
      "desired 2 (static), running 0, starting 0 → create 2 (preset is hard-limited: creation will be skipped)",
    );
  });

  it("still plans Create for a validation_failed preset, and says creation will be skipped", () => {
    const preset = presetRow({ desiredInstances: 1, prebuildStatus: "validation_failed" });
    const result = plan(globalSnapshot({ presets: [preset] }), preset);
    expect(result.actions[0]?.reason).toBe(
      "desired 1 (static), running 0, starting 0 → create 1 (preset failed validation: creation will be skipped)",
    );
  });

  it("does not block deleting the prebuilds of a hard-limited preset that became inactive", () => {
    const preset = presetRow({ desiredInstances: 1, templateDeleted: true });
    const running = prebuild(preset);
    const global = globalSnapshot({
      presets: [preset],
      running: [running],
      hardLimitedPresetIds: new Set([preset.presetId]),
    });
    expect(shapes(plan(global, preset).actions)).toEqual([{ Delete: [running.workspaceId] }]);
  });
});

describe("deliberate difference: an inactive preset deletes its expired prebuilds too", () => {
  it("deletes running and expired prebuilds of an old version together, oldest first", () => {
    const preset = presetRow({ ...outdated, ttlSeconds: 60 });
    const fresh = prebuild(preset, { createdAt: new Date(NOW.getTime() - 10_000) });
    const stale = prebuild(preset, { createdAt: new Date(NOW.getTime() - 120_000) });
    const staler = prebuild(preset, { createdAt: new Date(NOW.getTime() - 240_000) });
    const result = plan(
      globalSnapshot({ presets: [preset], running: [fresh, stale, staler] }),
      preset,
    );
    expect(result.state).toEqual(state({ actual: 3, expired: 2 }));
    expect(shapes(result.actions)).toEqual([
      { Delete: [staler.workspaceId, stale.workspaceId, fresh.workspaceId] },
    ]);
    expect(result.actions[0]?.reason).toBe(
      'preset is inactive (version "v1" is not the active version) with 1 running and 2 expired → delete 3, oldest first',
    );
  });

  it("deletes an expired prebuild of a deleted template even when nothing else runs", () => {
    const preset = presetRow({ templateDeleted: true, lastInvalidatedAt: NOW });
    const stale = prebuild(preset, { createdAt: new Date(NOW.getTime() - 1) });
    expect(
      shapes(plan(globalSnapshot({ presets: [preset], running: [stale] }), preset).actions),
    ).toEqual([{ Delete: [stale.workspaceId] }]);
  });
});

describe("deliberate difference: CancelPending covers every inactive preset", () => {
  const cases: { name: string; overrides: Partial<PresetRow>; why: string }[] = [
    {
      name: "cancels pending first builds of a deleted template whose version is still active",
      overrides: { templateDeleted: true },
      why: "template is deleted",
    },
    {
      name: "cancels pending first builds of a deprecated template whose version is still active",
      overrides: { templateDeprecated: true },
      why: "template is deprecated",
    },
    {
      name: "cancels pending first builds of a deleted template's old version",
      overrides: { templateDeleted: true, usingActiveVersion: false },
      why: 'version "v1" is not the active version, template is deleted',
    },
  ];

  it.each(cases)("$name", (tc) => {
    const preset = presetRow({ desiredInstances: 2, ...tc.overrides });
    const running = prebuild(preset);
    const global = globalSnapshot({
      presets: [preset],
      running: [running],
      pendingNonActive: [{ presetId: preset.presetId, count: 3 }],
    });
    const actions: readonly Action[] = plan(global, preset).actions;
    expect(shapes(actions)).toEqual([
      { CancelPending: 3, presetId: preset.presetId },
      { Delete: [running.workspaceId] },
    ]);
    expect(actions[0]?.reason).toBe(
      `preset is inactive (${tc.why}) with 3 pending first builds → cancel 3 (cancel policy "pending")`,
    );
  });
});

describe("deliberate difference: expiry uses the injected time, never the wall clock", () => {
  // Dates far from today: a wall-clock TTL check would call all of these expired (or none).
  const created = new Date("2001-01-01T00:00:00Z");
  const preset = presetRow({ desiredInstances: 1, ttlSeconds: 60 });
  const running = prebuild(preset, { createdAt: created });
  const global = globalSnapshot({ presets: [preset], running: [running] });

  it("keeps a prebuild that is younger than its TTL at the planning time", () => {
    expect(plan(global, preset, new Date(created.getTime() + 60_000)).actions).toEqual([]);
  });

  it("expires a prebuild once it is strictly older than its TTL at the planning time", () => {
    const result = plan(global, preset, new Date(created.getTime() + 60_001));
    expect(shapes(result.actions)).toEqual([{ Delete: [running.workspaceId] }, { Create: 1 }]);
    expect(result.actions[0]?.reason).toBe(
      "1 of 1 running prebuild expired (TTL 1m) → delete 1, oldest first",
    );
    expect(result.actions[1]?.reason).toBe(
      "desired 1 (static), running 0 (not counting 1 expired), starting 0 → create 1",
    );
  });

  it("keeps a prebuild younger than its TTL when planning decades from now", () => {
    const later = new Date("2090-01-01T00:00:00Z");
    const young = prebuild(preset, { createdAt: new Date(later.getTime() - 1000) });
    expect(
      plan(globalSnapshot({ presets: [preset], running: [young] }), preset, later).actions,
    ).toEqual([]);
  });
});

describe("every action carries a reason with its numbers", () => {
  it("names the schedule and time zone that set the target", () => {
    const preset = presetRow({ desiredInstances: 1, schedulingTimezone: "Europe/Berlin" });
    const global = globalSnapshot({
      presets: [preset],
      schedules: [
        { presetId: preset.presetId, cronExpression: "* 9-18 * * 1-5", desiredInstances: 3 },
      ],
      running: [prebuild(preset)],
    });
    const result = plan(global, preset); // 12:00 UTC = 14:00 in Berlin, a Monday
    expect(result.actions).toEqual([
      {
        _tag: "Create",
        count: 2,
        reason:
          'desired 3 (schedule "* 9-18 * * 1-5" in Europe/Berlin), running 1, starting 0 → create 2',
      },
    ]);
    expect(result.desired).toEqual({
      count: 3,
      source: "schedule",
      schedule: "* 9-18 * * 1-5",
      timezone: "Europe/Berlin",
    });
  });
});
