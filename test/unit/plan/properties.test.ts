// Properties of the planner over random snapshots (fast-check): each holds for every preset of
// every snapshot, including a model check that a plan, carried out, leaves nothing to do.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Action,
  canSkip,
  filterByPreset,
  type GlobalSnapshot,
  type InProgressCount,
  indexSnapshot,
  isActive,
  MAX_DESIRED_INSTANCES,
  type PresetRow,
  planPreset,
  type RunningPrebuild,
  type ScheduleRow,
} from "../../../src/plan/index.ts";
import { globalSnapshot, NOW, OPTIONS, presetRow } from "./snapshotBuilder.ts";

const HOUR = 3_600_000;
const UNDER_TEST = "p-under-test";
const ANTAGONIST = "p-antagonist";
const RUNS = { numRuns: 400 };

const mostlyTrue = fc.integer({ min: 0, max: 3 }).map((n) => n !== 0);
const mostlyFalse = mostlyTrue.map((b) => !b);

const arbSchedules = fc.array(
  fc.record({
    from: fc.integer({ min: 0, max: 23 }),
    length: fc.integer({ min: 0, max: 6 }),
    days: fc.constantFrom("*", "1-5", "6,0", "1", "0-6", "7"),
    instances: fc.integer({ min: 0, max: 6 }),
  }),
  { maxLength: 3 },
);

const arbRunning = fc.array(
  fc.record({ ageMs: fc.integer({ min: 0, max: 3 * HOUR }), ready: fc.boolean() }),
  { maxLength: 8 },
);

const arbInProgress = fc.record({
  start: fc.integer({ min: 0, max: 3 }),
  stop: fc.integer({ min: 0, max: 3 }),
  delete: fc.integer({ min: 0, max: 3 }),
});

/** A consistent snapshot: the preset under test, an antagonist preset, and an ownerless prebuild. */
const arbWorld = fc
  .record({
    now: fc.integer({ min: NOW.getTime(), max: NOW.getTime() + 7 * 24 * HOUR }),
    usingActiveVersion: mostlyTrue,
    templateDeleted: mostlyFalse,
    templateDeprecated: mostlyFalse,
    desiredInstances: fc.integer({ min: 0, max: 8 }),
    ttlSeconds: fc.option(fc.integer({ min: 0, max: 2 * 3600 }), { nil: null }),
    invalidatedAgoMs: fc.option(fc.integer({ min: 0, max: 3 * HOUR }), { nil: null }),
    prebuildStatus: fc.constantFrom("healthy", "hard_limited", "validation_failed" as const),
    schedulingTimezone: fc.constantFrom(
      "",
      "UTC",
      "Europe/Berlin",
      "America/Los_Angeles",
      "Asia/Kolkata",
    ),
    schedules: arbSchedules,
    running: arbRunning,
    inProgress: arbInProgress,
    pending: fc.integer({ min: 0, max: 3 }),
    backoff: fc.option(
      fc.record({
        numFailed: fc.integer({ min: 0, max: 3 }),
        agoMs: fc.integer({ min: 0, max: 20_000 }),
      }),
      { nil: null },
    ),
    hardLimited: fc.boolean(),
    antagonistRunning: arbRunning,
  })
  .map((w) => {
    const now = new Date(w.now);
    const preset = presetRow({
      presetId: UNDER_TEST,
      usingActiveVersion: w.usingActiveVersion,
      templateDeleted: w.templateDeleted,
      templateDeprecated: w.templateDeprecated,
      desiredInstances: w.desiredInstances,
      ttlSeconds: w.ttlSeconds,
      lastInvalidatedAt: w.invalidatedAgoMs === null ? null : new Date(w.now - w.invalidatedAgoMs),
      prebuildStatus: w.prebuildStatus,
      schedulingTimezone: w.schedulingTimezone,
    });
    const antagonist = presetRow({
      presetId: ANTAGONIST,
      templateVersionId: "tv-antagonist",
      desiredInstances: 1,
    });
    const row = (
      p: PresetRow,
      id: string,
      r: { ageMs: number; ready: boolean },
    ): RunningPrebuild => ({
      workspaceId: id,
      name: id,
      templateId: p.templateId,
      templateVersionId: p.templateVersionId,
      presetId: p.presetId,
      ready: r.ready,
      createdAt: new Date(w.now - r.ageMs),
    });
    const schedules: ScheduleRow[] = w.schedules.map((s) => ({
      presetId: UNDER_TEST,
      cronExpression: `* ${s.from}-${Math.min(s.from + s.length, 23)} * * ${s.days}`,
      desiredInstances: s.instances,
    }));
    const inProgress: InProgressCount[] = (["start", "stop", "delete"] as const).flatMap((t) => [
      {
        templateId: preset.templateId,
        templateVersionId: preset.templateVersionId,
        presetId: UNDER_TEST,
        transition: t,
        count: w.inProgress[t],
      },
      {
        templateId: preset.templateId,
        templateVersionId: "tv-antagonist",
        presetId: ANTAGONIST,
        transition: t,
        count: 1,
      },
    ]);
    const global: GlobalSnapshot = globalSnapshot({
      presets: [preset, antagonist],
      schedules,
      running: [
        ...w.running.map((r, i) => row(preset, `w-${i}`, r)),
        ...w.antagonistRunning.map((r, i) => row(antagonist, `a-${i}`, r)),
        { ...row(preset, "ownerless", { ageMs: 5 * HOUR, ready: true }), presetId: null },
      ],
      inProgress,
      pendingNonActive: [
        { presetId: UNDER_TEST, count: w.pending },
        { presetId: ANTAGONIST, count: 2 },
      ],
      backoffs:
        w.backoff === null
          ? []
          : [
              {
                presetId: UNDER_TEST,
                numFailed: w.backoff.numFailed,
                lastBuildAt: new Date(w.now - w.backoff.agoMs),
              },
            ],
      hardLimitedPresetIds: new Set(w.hardLimited ? [UNDER_TEST, ANTAGONIST] : [ANTAGONIST]),
    });
    return { global, preset, now };
  });

function planOf(global: GlobalSnapshot, preset: PresetRow, now: Date) {
  const snapshot = filterByPreset(indexSnapshot(global), preset, now);
  return { snapshot, plan: planPreset(snapshot, now, OPTIONS) };
}

/** Carries the actions out as if every job finished at once. */
function apply(
  global: GlobalSnapshot,
  preset: PresetRow,
  actions: readonly Action[],
  now: Date,
): GlobalSnapshot {
  let running = [...global.running];
  let pendingNonActive = [...global.pendingNonActive];
  let created = 0;
  for (const action of actions) {
    switch (action._tag) {
      case "Delete": {
        const gone = new Set(action.workspaceIds);
        running = running.filter((r) => !gone.has(r.workspaceId));
        break;
      }
      case "Create":
        for (let i = 0; i < action.count; i++, created++) {
          running.push({
            workspaceId: `new-${created}`,
            name: `new-${created}`,
            templateId: preset.templateId,
            templateVersionId: preset.templateVersionId,
            presetId: preset.presetId,
            ready: true,
            createdAt: now,
          });
        }
        break;
      case "CancelPending":
        pendingNonActive = pendingNonActive.filter((p) => p.presetId !== action.presetId);
        break;
      case "Backoff":
        break;
    }
  }
  return { ...global, running, pendingNonActive };
}

describe("planner properties", () => {
  it("never creates for an inactive preset", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const { plan } = planOf(global, preset, now);
        if (!isActive(preset)) expect(plan.actions.some((a) => a._tag === "Create")).toBe(false);
      }),
      RUNS,
    );
  });

  it("deletes only running or expired prebuilds of the preset, each once, oldest first", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const { plan } = planOf(global, preset, now);
        const mine = new Map(
          global.running
            .filter((r) => r.presetId === preset.presetId)
            .map((r) => [r.workspaceId, r]),
        );
        const seen = new Set<string>();
        for (const action of plan.actions) {
          if (action._tag !== "Delete") continue;
          expect(action.workspaceIds.length).toBeGreaterThan(0);
          const ages = action.workspaceIds.map((id) => {
            const row = mine.get(id);
            expect(row, `${id} is a running prebuild of ${preset.presetId}`).toBeDefined();
            expect(seen.has(id)).toBe(false);
            seen.add(id);
            return row?.createdAt.getTime() ?? 0;
          });
          expect(ages).toEqual([...ages].sort((a, b) => a - b));
        }
      }),
      RUNS,
    );
  });

  it("never creates more than desired − running − starting", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const { snapshot, plan } = planOf(global, preset, now);
        const creates = plan.actions.filter((a) => a._tag === "Create");
        expect(creates.length).toBeLessThanOrEqual(1);
        for (const c of creates) {
          expect(Number.isInteger(c.count) && c.count > 0).toBe(true);
          expect(c.count).toBeLessThanOrEqual(
            plan.state.desired - snapshot.running.length - plan.state.starting,
          );
        }
        expect(plan.state.desired).toBeLessThanOrEqual(MAX_DESIRED_INSTANCES);
      }),
      RUNS,
    );
  });

  it("plans nothing for a preset it may skip", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const { snapshot, plan } = planOf(global, preset, now);
        if (canSkip(snapshot)) expect(plan.actions).toEqual([]);
      }),
      RUNS,
    );
  });

  it("orders actions: a Backoff alone; otherwise CancelPending, then Deletes, then at most one Create", () => {
    const rank = { CancelPending: 0, Delete: 1, Create: 2, Backoff: 3 } as const;
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const tags = planOf(global, preset, now).plan.actions.map((a) => a._tag);
        if (tags.includes("Backoff")) expect(tags).toEqual(["Backoff"]);
        expect(tags).toEqual([...tags].sort((a, b) => rank[a] - rank[b]));
        for (const action of planOf(global, preset, now).plan.actions)
          expect(action.reason).toMatch(/\d/);
      }),
      RUNS,
    );
  });

  it("converges: after carrying out a plan, planning again finds nothing to do (unless backing off)", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const first = planOf(global, preset, now).plan;
        const second = planOf(apply(global, preset, first.actions, now), preset, now).plan;
        if (first.actions[0]?._tag === "Backoff") expect(second.actions).toEqual(first.actions);
        else expect(second.actions).toEqual([]);
      }),
      RUNS,
    );
  });

  it("reaches the target: an inactive preset is emptied, an active one holds desired with no expired", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const first = planOf(global, preset, now).plan;
        if (first.actions[0]?._tag === "Backoff") return;
        const after = filterByPreset(
          indexSnapshot(apply(global, preset, first.actions, now)),
          preset,
          now,
        );
        expect(after.expired).toEqual([]);
        if (!isActive(preset)) {
          expect(after.running).toEqual([]);
          expect(after.pendingCount).toBe(0);
        } else {
          expect(after.running.length).toBeLessThanOrEqual(first.state.desired);
          expect(after.running.length + first.state.starting).toBeGreaterThanOrEqual(
            first.state.desired,
          );
        }
      }),
      RUNS,
    );
  });

  it("never touches the antagonist preset's prebuilds nor the ownerless one", () => {
    fc.assert(
      fc.property(arbWorld, ({ global, preset, now }) => {
        const ids = planOf(global, preset, now).plan.actions.flatMap((a) =>
          a._tag === "Delete" ? a.workspaceIds : [],
        );
        expect(ids.filter((id) => id.startsWith("a-") || id === "ownerless")).toEqual([]);
      }),
      RUNS,
    );
  });
});
