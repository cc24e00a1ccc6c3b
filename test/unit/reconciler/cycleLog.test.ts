// The daemon's per-cycle log line uses the counts `reconcile --once --json` and `status` use
// (fresh-eyes review): "deleted" includes the orphans of cancelled jobs everywhere, and a cycle
// whose creates the in-flight cap held back is logged at info even when nothing acted.
import { describe, expect, it } from "vitest";
import { summarizeCycle } from "../../../src/cli/commands/cycleSummary.ts";
import {
  type CycleReport,
  cycleLogFields,
  cycleWorthLogging,
  emptyActionCounts,
  runCounts,
} from "../../../src/reconciler/report.ts";

function report(overrides: Partial<CycleReport> = {}): CycleReport {
  return {
    startedAt: new Date("2026-01-01T00:00:00Z"),
    finishedAt: new Date("2026-01-01T00:00:01Z"),
    durationMs: 1000,
    lockAcquired: true,
    paused: false,
    kind: "incremental",
    fullResyncReason: null,
    presetsMarked: 2,
    presetsTotal: 2,
    presetsReconciled: 2,
    actions: emptyActionCounts(),
    effects: { created: 0, deleted: 1, canceledJobs: 2, orphanDeleted: 2, lostRaces: 0 },
    heldBack: null,
    failures: 0,
    statements: 12,
    warnings: [],
    ...overrides,
  };
}

describe("the cycle's log line", () => {
  it("counts deletes as status and reconcile --json do: orphans included, and given alone", () => {
    const fields = cycleLogFields(report());
    expect(fields).toMatchObject({ prebuildsDeleted: 3, orphansDeleted: 2, jobsCanceled: 2 });
    expect(fields).not.toHaveProperty("deleted");
    const summary = summarizeCycle(report());
    for (const key of Object.keys(runCounts(report()))) {
      expect({ key, value: fields[key] }).toEqual({
        key,
        value: (summary as unknown as Record<string, unknown>)[key],
      });
    }
  });

  it("is worth an info line when the cap held creates back, even with no action", () => {
    expect(cycleWorthLogging(report())).toBe(false);
    expect(
      cycleWorthLogging(report({ heldBack: { creates: 3, presets: 1, inflight: 7, cap: 10 } })),
    ).toBe(true);
    const actions = emptyActionCounts();
    actions.Create.success = 1;
    expect(cycleWorthLogging(report({ actions }))).toBe(true);
  });
});
