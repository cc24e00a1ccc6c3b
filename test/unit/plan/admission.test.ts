// Admission control (issue #13): the in-flight cap across presets. Deletes take the budget first;
// creates go to the emptiest pools (by fill ratio); a preset held back is due again at once.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  admitCreates,
  describeHeldBack,
  type GlobalSnapshot,
  heldBackCreates,
  nextDecisionChange,
  type PresetRow,
  planAll,
  type RunningPrebuild,
} from "../../../src/plan/index.ts";
import { globalSnapshot, NOW, OPTIONS, prebuild, presetRow } from "./snapshotBuilder.ts";

/** An active preset wanting `desired`, with `running` prebuilds already up. */
function pool(id: string, desired: number, running: number) {
  const preset = presetRow({ presetId: id, presetName: id, desiredInstances: desired });
  const prebuilds: RunningPrebuild[] = [];
  for (let i = 0; i < running; i++) prebuilds.push(prebuild(preset));
  return { preset, prebuilds };
}

function world(
  pools: readonly { preset: PresetRow; prebuilds: RunningPrebuild[] }[],
  inflight: number,
  extra: Partial<GlobalSnapshot> = {},
): GlobalSnapshot {
  return globalSnapshot({
    presets: pools.map((p) => p.preset),
    running: pools.flatMap((p) => p.prebuilds),
    inflightPrebuildJobs: inflight,
    ...extra,
  });
}

function creates(planned: ReturnType<typeof planAll>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of planned) {
    for (const a of p.plan.actions) if (a._tag === "Create") out[p.preset.presetName] = a.count;
  }
  return out;
}

describe("admission control", () => {
  it("plans exactly as without a cap when none is set", () => {
    const g = world([pool("a", 5, 0), pool("b", 2, 0)], 10_000);
    const uncapped = planAll(g, NOW, OPTIONS);
    expect(creates(uncapped)).toEqual({ a: 5, b: 2 });
    expect(planAll(g, NOW, { ...OPTIONS, maxInflightJobs: null })).toEqual(uncapped);
    for (const p of uncapped) expect(p.plan.capped).toBeUndefined();
  });

  it("gives the budget to the emptiest pools first: one wanting 500 does not starve one wanting 2", () => {
    // cap 100, 90 in flight: 10 creates. Fill ratios: big 0/500, small 0/2, half 5/10.
    const g = world([pool("big", 500, 0), pool("small", 2, 0), pool("half", 10, 5)], 90);
    const planned = planAll(g, NOW, { ...OPTIONS, maxInflightJobs: 100 });
    // small gets one (0 → 0.5), then big stays the emptiest for the rest; half (0.5) waits.
    expect(creates(planned)).toEqual({ big: 9, small: 1 });
    const byName = Object.fromEntries(planned.map((p) => [p.preset.presetName, p.plan.capped]));
    expect(byName.big).toEqual({
      wanted: 500,
      granted: 9,
      inflight: 90,
      cap: 100,
      deletesFirst: 0,
    });
    expect(byName.small).toMatchObject({ wanted: 2, granted: 1 });
    expect(byName.half).toMatchObject({ wanted: 5, granted: 0 });
  });

  it("fills presets of different fill ratios towards the same ratio", () => {
    // 30 creates for pools at 0/10, 5/10 and 8/20: each ends near 65 % full.
    const g = world([pool("a", 10, 0), pool("b", 10, 5), pool("c", 20, 8)], 0);
    const planned = planAll(g, NOW, { ...OPTIONS, maxInflightJobs: 15 });
    expect(creates(planned)).toEqual({ a: 7, b: 2, c: 6 });
  });

  it("admits deletes before creates: their jobs take the budget first, and are never held back", () => {
    const old = presetRow({
      presetId: "old",
      presetName: "old",
      templateVersionId: "tv-old",
      usingActiveVersion: false,
    });
    const stale = [prebuild(old), prebuild(old), prebuild(old)];
    const fresh = pool("new", 5, 0);
    const g = world([fresh], 0, { presets: [old, fresh.preset], running: stale });
    const planned = planAll(g, NOW, { ...OPTIONS, maxInflightJobs: 4 });
    const deleted = planned.flatMap((p) =>
      p.plan.actions.flatMap((a) => (a._tag === "Delete" ? a.workspaceIds : [])),
    );
    expect(deleted).toHaveLength(3);
    expect(creates(planned)).toEqual({ new: 1 });
    expect(planned.find((p) => p.preset.presetId === "new")?.plan.capped).toMatchObject({
      granted: 1,
      wanted: 5,
      deletesFirst: 3,
    });
  });

  it("creates nothing at or over the cap, and says so in the plan", () => {
    const g = world([pool("a", 3, 0)], 100);
    const [a] = planAll(g, NOW, { ...OPTIONS, maxInflightJobs: 100 });
    expect(a?.plan.actions).toEqual([]);
    expect(a?.plan.capped).toEqual({
      wanted: 3,
      granted: 0,
      inflight: 100,
      cap: 100,
      deletesFirst: 0,
    });
  });

  it("a preset held back by the cap is due at the next cycle; one that was not keeps its own time", () => {
    const g = world([pool("a", 3, 0), pool("b", 1, 0)], 1);
    const planned = planAll(g, NOW, { ...OPTIONS, maxInflightJobs: 2 });
    const wake = { ...OPTIONS, backoffLookback: 3_600_000 };
    const [a, b] = planned;
    if (a === undefined || b === undefined) throw new Error("two presets planned");
    expect(b.plan.capped).toBeUndefined();
    expect(a.plan.capped).toBeDefined();
    expect(nextDecisionChange(a.snapshot, NOW, wake, a.plan)).toEqual(new Date(NOW.getTime() + 1));
    expect(nextDecisionChange(b.snapshot, NOW, wake, b.plan)).toBeNull();
  });

  it("never grants more than the budget, nor more than a preset wanted (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ desired: fc.integer({ min: 0, max: 50 }), running: fc.nat(60) }), {
          maxLength: 8,
        }),
        fc.nat(120),
        fc.integer({ min: 1, max: 100 }),
        (rows, inflight, cap) => {
          const g = world(
            rows.map((r, i) => pool(`p${i}`, r.desired, Math.min(r.running, r.desired))),
            inflight,
          );
          const uncapped = planAll(g, NOW, OPTIONS);
          const capped = admitCreates(
            uncapped.map((p) => ({ presetId: p.preset.presetId, plan: p.plan })),
            inflight,
            cap,
          );
          let wanted = 0;
          let granted = 0;
          uncapped.forEach((p, i) => {
            const want = p.plan.actions.find((a) => a._tag === "Create");
            const got = capped[i]?.plan.actions.find((a) => a._tag === "Create");
            const w = want?._tag === "Create" ? want.count : 0;
            const n = got?._tag === "Create" ? got.count : 0;
            expect(n).toBeLessThanOrEqual(w);
            expect(got === undefined || n > 0).toBe(true);
            wanted += w;
            granted += n;
          });
          expect(granted).toBe(Math.min(wanted, Math.max(0, cap - inflight)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("heldBackCreates: what the cap held back, for the summaries", () => {
  it("sums the creates held back over every preset, with the in-flight numbers planned with", () => {
    // Cap 10, 7 in flight: 3 admitted of 4 + 2 wanted; "a" (emptier) and "b" share them.
    const planned = planAll(world([pool("a", 4, 0), pool("b", 4, 2)], 7), NOW, {
      ...OPTIONS,
      maxInflightJobs: 10,
    });
    const held = heldBackCreates(planned.map((p) => p.plan.capped));
    expect(held).toEqual({ creates: 3, presets: held?.presets, inflight: 7, cap: 10 });
    expect(held?.presets).toBeGreaterThanOrEqual(1);
    expect(describeHeldBack(held ?? { creates: 0, inflight: null, cap: null })).toBe(
      "3 creates held back by the in-flight cap (7 of 10 jobs in flight)",
    );
  });

  it("counts a preset held back entirely (no Create left in its plan)", () => {
    const planned = planAll(world([pool("a", 3, 0)], 10), NOW, { ...OPTIONS, maxInflightJobs: 10 });
    expect(planned[0]?.plan.actions.filter((a) => a._tag === "Create")).toEqual([]);
    expect(heldBackCreates(planned.map((p) => p.plan.capped))).toEqual({
      creates: 3,
      presets: 1,
      inflight: 10,
      cap: 10,
    });
  });

  it("is null when nothing was held back, capped or not", () => {
    const roomy = planAll(world([pool("a", 3, 0)], 0), NOW, { ...OPTIONS, maxInflightJobs: 10 });
    expect(heldBackCreates(roomy.map((p) => p.plan.capped))).toBeNull();
    const uncapped = planAll(world([pool("a", 3, 0)], 50), NOW, OPTIONS);
    expect(heldBackCreates(uncapped.map((p) => p.plan.capped))).toBeNull();
  });

  it("says one create in the singular, and leaves out numbers it does not have", () => {
    expect(describeHeldBack({ creates: 1, inflight: 5, cap: 5 })).toBe(
      "1 create held back by the in-flight cap (5 of 5 jobs in flight)",
    );
    expect(describeHeldBack({ creates: 2, inflight: null, cap: null })).toBe(
      "2 creates held back by the in-flight cap",
    );
  });
});
