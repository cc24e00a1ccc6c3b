// The per-template cancel policy (issue #13) in the planner: what each policy plans for an
// inactive preset's stale first builds, and that every CancelPending reason names the policy.

import { describe, expect, it } from "vitest";
import {
  type CancelPendingAction,
  type CancelPolicy,
  canSkip,
  filterByPreset,
  indexSnapshot,
  planPreset,
} from "../../../src/plan/index.ts";
import { globalSnapshot, NOW, OPTIONS, prebuild, presetRow } from "./snapshotBuilder.ts";

const OLD = { presetId: "p-old", templateVersionId: "tv-old", usingActiveVersion: false } as const;

function planFor(
  policy: CancelPolicy | undefined,
  counts: { pending?: number; running?: number; canceled?: number },
  active = false,
) {
  const preset = presetRow({
    ...(active ? { presetId: "p-new" } : OLD),
    ...(policy !== undefined && { cancelPolicy: policy }),
  });
  const global = globalSnapshot({
    presets: [preset],
    pendingNonActive: [
      {
        presetId: preset.presetId,
        count: counts.pending ?? 0,
        runningCount: counts.running ?? 0,
        canceledCount: counts.canceled ?? 0,
      },
    ],
  });
  const snapshot = filterByPreset(indexSnapshot(global), preset, NOW);
  return { snapshot, plan: planPreset(snapshot, NOW, OPTIONS) };
}

function cancelOf(actions: readonly { _tag: string }[]): CancelPendingAction | undefined {
  return actions.find((a): a is CancelPendingAction => a._tag === "CancelPending");
}

describe("cancel policy", () => {
  const cases: {
    name: string;
    policy: CancelPolicy | undefined;
    counts: { pending?: number; running?: number; canceled?: number };
    expected: Pick<CancelPendingAction, "pendingCount" | "runningCount" | "orphanCount"> | null;
    reason?: string;
  }[] = [
    {
      name: "no policy reads as pending: cancels the pending, leaves the running",
      policy: undefined,
      counts: { pending: 2, running: 1, canceled: 1 },
      expected: { pendingCount: 2, runningCount: 0, orphanCount: 0 },
      reason: 'with 2 pending and 1 running first builds → cancel 2 (cancel policy "pending")',
    },
    {
      name: "pending: only pending ones",
      policy: "pending",
      counts: { pending: 1 },
      expected: { pendingCount: 1, runningCount: 0, orphanCount: 0 },
      reason: 'with 1 pending first build → cancel 1 (cancel policy "pending")',
    },
    {
      name: "retain: cancels nothing",
      policy: "retain",
      counts: { pending: 3, running: 2, canceled: 1 },
      expected: null,
    },
    {
      name: "running: pending, running and the canceled-while-running orphans",
      policy: "running",
      counts: { pending: 2, running: 3, canceled: 1 },
      expected: { pendingCount: 2, runningCount: 3, orphanCount: 1 },
      reason:
        'with 2 pending and 3 running first builds → cancel 2, ask 3 running to cancel, delete 1 workspace whose first build was canceled while running, through a provisioner (cancel policy "running")',
    },
    {
      name: "running: only orphans left once the running ones ended",
      policy: "running",
      counts: { canceled: 2 },
      expected: { pendingCount: 0, runningCount: 0, orphanCount: 2 },
    },
    {
      name: "pending: running jobs alone plan nothing",
      policy: "pending",
      counts: { running: 2, canceled: 1 },
      expected: null,
    },
  ];

  it.each(cases)("$name", (tc) => {
    const { plan } = planFor(tc.policy, tc.counts);
    const cancel = cancelOf(plan.actions);
    if (tc.expected === null) {
      expect(cancel).toBeUndefined();
      return;
    }
    expect(cancel).toMatchObject({ ...tc.expected, policy: tc.policy ?? "pending" });
    expect(cancel?.reason).toContain(`cancel policy "${tc.policy ?? "pending"}"`);
    if (tc.reason !== undefined) expect(cancel?.reason).toContain(tc.reason);
  });

  it("never cancels anything of an active preset, whatever the policy", () => {
    for (const policy of ["pending", "retain", "running"] as const) {
      const { plan } = planFor(policy, { pending: 2, running: 2, canceled: 2 }, true);
      expect(cancelOf(plan.actions)).toBeUndefined();
    }
  });

  it("retain still deletes the running prebuilds of the inactive preset once they finished", () => {
    const preset = presetRow({ ...OLD, cancelPolicy: "retain" });
    const done = prebuild(preset);
    const global = globalSnapshot({
      presets: [preset],
      running: [done],
      pendingNonActive: [{ presetId: preset.presetId, count: 4 }],
    });
    const actions = planPreset(
      filterByPreset(indexSnapshot(global), preset, NOW),
      NOW,
      OPTIONS,
    ).actions;
    expect(actions.map((a) => a._tag)).toEqual(["Delete"]);
  });

  it("does not skip an inactive preset with running stale builds or orphans to clean up", () => {
    expect(canSkip(planFor("running", { running: 1 }).snapshot)).toBe(false);
    expect(canSkip(planFor("running", { canceled: 1 }).snapshot)).toBe(false);
    expect(canSkip(planFor("running", {}).snapshot)).toBe(true);
  });
});

describe("PREBUILDS_CANCEL_PENDING=false", () => {
  it("still plans the CancelPending (the executor skips it), and its reason says it will be skipped", () => {
    const preset = presetRow({ ...OLD });
    const global = globalSnapshot({
      presets: [preset],
      pendingNonActive: [
        { presetId: preset.presetId, count: 3, runningCount: 0, canceledCount: 0 },
      ],
    });
    const snapshot = filterByPreset(indexSnapshot(global), preset, NOW);
    const off = cancelOf(
      planPreset(snapshot, NOW, { ...OPTIONS, cancelPendingEnabled: false }).actions,
    );
    const on = cancelOf(planPreset(snapshot, NOW, OPTIONS).actions);
    expect(off?.pendingCount).toBe(3);
    expect(off?.reason).toMatch(/\(PREBUILDS_CANCEL_PENDING=false: this will be skipped\)$/);
    expect(on?.reason).not.toMatch(/PREBUILDS_CANCEL_PENDING/);
  });
});
