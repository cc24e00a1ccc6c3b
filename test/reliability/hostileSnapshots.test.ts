// Random snapshots full of the bad data a shared database can hold (invalid cron, unknown time
// zones, overlapping schedules, negative or huge or fractional counts, negative TTL, invalid
// dates, dangling ids) go through the planner AND the executor: its pure pre-write gate, and the
// whole per-preset executor against a database that refuses connections. No exception escapes,
// every action is accounted for, and nothing is ever created beyond the desired count.
import fc from "fast-check";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createGate } from "../../src/execute/createGate.ts";
import { executePreset } from "../../src/execute/executePreset.ts";
import type { JobNotifier } from "../../src/execute/notifier.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import {
  desiredInstancesAt,
  type GlobalSnapshot,
  isActive,
  MAX_DESIRED_INSTANCES,
  type PresetRow,
  planAll,
} from "../../src/plan/index.ts";
import { anyCount, hostileSnapshot } from "../fixtures/hostileData.ts";

/** The planning instant, and the executor's (later) instant: schedules may have moved on. */
const instants = fc
  .tuple(
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2026, 0, 1) }),
    fc.integer({ min: 0, max: 6 * 3_600_000 }),
  )
  .map(([plannedAt, later]) => ({
    plannedAt: new Date(plannedAt),
    at: new Date(plannedAt + later),
  }));
const backoffIntervals = fc.oneof(fc.integer({ min: 1, max: 600_000 }), anyCount);

// A real PostgreSQL client to a port nobody listens on: every write fails as a refused connection.
const unreachable = new pg.Pool({
  connectionString: "postgres://nobody@127.0.0.1:1/none",
  max: 2,
  connectionTimeoutMillis: 2000,
});
unreachable.on("error", () => {});
const silentNotifier: JobNotifier = { notifyJobsPosted: async () => {} };

afterAll(async () => {
  await unreachable.end();
});

describe("hostile snapshots through the planner and the executor", () => {
  it("the create gate never throws and never lets more than desired-now through", () => {
    const outcomes = { create: 0, skip: 0 };
    fc.assert(
      fc.property(hostileSnapshot, instants, backoffIntervals, (global, time, backoffInterval) => {
        for (const planned of planAll(global, time.plannedAt, { backoffInterval })) {
          for (const action of planned.plan.actions) {
            if (action._tag !== "Create") continue;
            const gate = createGate(planned, action, time.at);
            const { preset, snapshot } = planned;
            const desiredNow = desiredInstancesAt(preset, snapshot.schedules, time.at).count;
            outcomes[gate.kind]++;
            if (gate.kind === "skip") {
              expect(gate.reason.length).toBeGreaterThan(0);
              continue;
            }
            expect(isActive(preset)).toBe(true);
            expect(snapshot.isHardLimited).toBe(false);
            expect(preset.prebuildStatus).not.toBe("validation_failed");
            expect(Number.isInteger(gate.count)).toBe(true);
            expect(gate.count).toBeGreaterThanOrEqual(1);
            expect(gate.count).toBeLessThanOrEqual(Math.min(action.count, desiredNow));
            expect(gate.count).toBeLessThanOrEqual(MAX_DESIRED_INSTANCES);
          }
        }
      }),
      { numRuns: 500 },
    );
    // Not vacuous: creates were let through and refused.
    expect(outcomes.create).toBeGreaterThan(0);
    expect(outcomes.skip).toBeGreaterThan(0);
  });

  it("the create gate clamps a plan made under an earlier schedule to what is desired now", () => {
    const preset: PresetRow = {
      presetId: "p-0",
      presetName: "office-hours",
      templateId: "t-0",
      templateName: "t",
      organizationId: "o-0",
      organizationName: "org",
      templateVersionId: "v-0",
      templateVersionName: "v1",
      usingActiveVersion: true,
      templateDeleted: false,
      templateDeprecated: false,
      desiredInstances: 1,
      ttlSeconds: null,
      prebuildStatus: "healthy",
      schedulingTimezone: "UTC",
      lastInvalidatedAt: null,
    };
    const global: GlobalSnapshot = {
      presets: [preset],
      schedules: [{ presetId: "p-0", cronExpression: "* 9-17 * * *", desiredInstances: 5 }],
      running: [],
      inProgress: [],
      pendingNonActive: [],
      backoffs: [],
      hardLimitedPresetIds: new Set(),
    };
    const [planned] = planAll(global, new Date("2025-06-02T17:59:00Z"), { backoffInterval: 1 });
    const create = planned?.plan.actions[0];
    if (planned === undefined || create?._tag !== "Create") throw new Error("expected a Create");
    expect(create.count).toBe(5);
    expect(createGate(planned, create, new Date("2025-06-02T18:00:00Z"))).toEqual({
      kind: "create",
      count: 1,
      clampedFrom: 5,
      desired: 1,
    });
  });

  it("executePreset never throws: every action is attempted and reported, none succeeds in writing", async () => {
    const writesAttempted = { failure: 0 };
    await fc.assert(
      fc.asyncProperty(
        hostileSnapshot,
        instants,
        fc.boolean(),
        async (global, time, cancelPendingEnabled) => {
          for (const planned of planAll(global, time.plannedAt, { backoffInterval: 60_000 })) {
            if (planned.skipped) continue;
            const seen: string[] = [];
            const events = await executePreset({
              db: { pool: unreachable },
              planned,
              options: {
                cancelPendingEnabled,
                provisionerStaleAfter: 90_000,
                jobTags: { scope: "organization" },
              },
              logger: silentLogger,
              notifier: silentNotifier,
              onAction: (event) => seen.push(event.action._tag),
              signal: new AbortController().signal,
            });
            expect(events.map((e) => e.action)).toEqual(planned.plan.actions);
            expect(seen).toEqual(planned.plan.actions.map((a) => a._tag));
            for (const event of events) {
              expect(event.effects.created + event.effects.deleted).toBe(0);
              if (event.action._tag === "Backoff") expect(event.outcome).toBe("success");
              else expect(["failure", "skipped"]).toContain(event.outcome);
              if (event.outcome === "failure") writesAttempted.failure++;
            }
          }
        },
      ),
      { numRuns: 60 },
    );
    expect(writesAttempted.failure).toBeGreaterThan(0);
  });
});
