// nextDecisionChange (issue #16): the instant a preset must be visited again although nothing was
// written. Table-driven per source of change, then a property: no instant before the answer plans
// differently from now, and the answer itself (when it is not a mere horizon) does.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Action,
  type BackoffRow,
  filterByPreset,
  type GlobalSnapshot,
  indexSnapshot,
  nextDecisionChange,
  type PresetRow,
  planPreset,
  SCHEDULE_LOOKAHEAD_HOURS,
  ScheduleCache,
  type ScheduleRow,
} from "../../../src/plan/index.ts";
import { globalSnapshot, NOW, OPTIONS, prebuild, presetRow } from "./snapshotBuilder.ts";

const HOUR = 3_600_000;
const LOOKBACK = HOUR;
const WAKE = { ...OPTIONS, backoffLookback: LOOKBACK };
const at = (ms: number) => new Date(NOW.getTime() + ms);

function next(preset: PresetRow, partial: Partial<GlobalSnapshot> = {}, now = NOW) {
  const snapshot = filterByPreset(
    indexSnapshot(globalSnapshot({ presets: [preset], ...partial })),
    preset,
    now,
  );
  return nextDecisionChange(snapshot, now, WAKE);
}

function schedule(preset: PresetRow, cron: string, instances: number): ScheduleRow {
  return { presetId: preset.presetId, cronExpression: cron, desiredInstances: instances };
}

function backoff(preset: PresetRow, row: Partial<BackoffRow>): BackoffRow {
  return { presetId: preset.presetId, numFailed: 2, lastBuildAt: NOW, ...row };
}

describe("nextDecisionChange", () => {
  const active = presetRow({ desiredInstances: 2 });
  const withTtl = presetRow({ desiredInstances: 2, ttlSeconds: 600 });

  it("is null for a preset only a write can change", () => {
    expect(next(active, { running: [prebuild(active)] })).toBeNull();
  });

  it("is the moment the oldest running prebuild outlives its TTL (strictly: +1 ms)", () => {
    const running = [
      prebuild(withTtl, { createdAt: at(-300_000) }),
      prebuild(withTtl, { createdAt: at(-500_000) }),
    ];
    expect(next(withTtl, { running })).toEqual(at(100_001));
  });

  it("ignores TTLs of an inactive preset, which deletes every running prebuild anyway", () => {
    const inactive = { ...withTtl, usingActiveVersion: false };
    expect(next(inactive, { running: [prebuild(inactive, { createdAt: at(-1000) })] })).toBeNull();
  });

  it("ignores prebuilds already expired (they are being deleted now)", () => {
    const running = [prebuild(withTtl, { createdAt: at(-700_000) })];
    expect(next(withTtl, { running })).toBeNull();
  });

  it("is the next hour boundary at which a schedule changes the desired count", () => {
    // NOW is Monday 12:00 UTC; 09:00–13:59 wants 5, otherwise the static 2.
    const scheduled = { ...active, schedulingTimezone: "UTC" };
    expect(next(scheduled, { schedules: [schedule(scheduled, "* 9-13 * * *", 5)] })).toEqual(
      at(2 * HOUR),
    );
  });

  it("counts hours in the preset's time zone (Asia/Kolkata is UTC+5:30)", () => {
    // 12:00 UTC is 17:30 in Kolkata; 18:00–20:59 there wants 3: the change is at 12:30 UTC.
    const scheduled = { ...active, schedulingTimezone: "Asia/Kolkata" };
    expect(next(scheduled, { schedules: [schedule(scheduled, "* 18-20 * * *", 3)] })).toEqual(
      at(HOUR / 2),
    );
  });

  it("keeps each time zone's hours apart when the presets of one cycle share a cache", () => {
    const utc = { ...active, presetId: "utc", schedulingTimezone: "UTC" };
    const kolkata = { ...active, presetId: "kolkata", schedulingTimezone: "Asia/Kolkata" };
    const schedules = [schedule(utc, "* 18-20 * * *", 3), schedule(kolkata, "* 18-20 * * *", 3)];
    const index = indexSnapshot(globalSnapshot({ presets: [utc, kolkata], schedules }));
    const cache = new ScheduleCache();
    const wake = (p: PresetRow) =>
      nextDecisionChange(filterByPreset(index, p, NOW), NOW, WAKE, undefined, cache);
    // 18:00 UTC, then 18:00 in Kolkata (12:30 UTC), from the same cache.
    expect([wake(utc), wake(kolkata)]).toEqual([at(6 * HOUR), at(HOUR / 2)]);
  });

  it("looks ahead a bounded number of hours, then asks for a visit at the horizon", () => {
    const scheduled = { ...active, schedulingTimezone: "UTC" };
    const allDay = [schedule(scheduled, "* 0-23 * * *", 2)];
    expect(next(scheduled, { schedules: allDay })).toEqual(at(SCHEDULE_LOOKAHEAD_HOURS * HOUR));
  });

  it("is null for schedules that cannot be trusted (the static count holds at every instant)", () => {
    const noZone = { ...active, schedulingTimezone: "" };
    expect(next(noZone, { schedules: [schedule(noZone, "* 9-13 * * *", 5)] })).toBeNull();
  });

  it("is the end of a backoff", () => {
    // 2 failures × 5 s after the last one, which was 1 s ago: until NOW + 9 s.
    const row = backoff(active, { lastBuildAt: at(-1000), firstFailedAt: at(-2000) });
    expect(next(active, { backoffs: [row] })).toEqual(at(9001));
  });

  it("is the oldest failure leaving the lookback when that comes before the backoff ends", () => {
    const row = backoff(active, {
      numFailed: 3,
      lastBuildAt: at(-1000),
      firstFailedAt: at(-LOOKBACK + 500),
    });
    expect(next(active, { backoffs: [row] }, NOW)).toEqual(at(501));
  });

  it("is nothing for a backoff that is over", () => {
    expect(next(active, { backoffs: [backoff(active, { lastBuildAt: at(-60_000) })] })).toBeNull();
  });

  it("takes the earliest of its sources", () => {
    const running = [prebuild(withTtl, { createdAt: at(-599_000) })];
    const row = backoff(withTtl, { lastBuildAt: at(-1000) });
    expect(next(withTtl, { running, backoffs: [row] })).toEqual(at(1001));
  });

  it("never throws on hostile data and never answers a time at or before now", () => {
    const hostile = presetRow({ ttlSeconds: Number.NaN, schedulingTimezone: "Mars/Base" });
    const value = next(hostile, {
      running: [prebuild(hostile, { createdAt: new Date(Number.NaN) })],
      schedules: [schedule(hostile, "not a cron", 3)],
      backoffs: [backoff(hostile, { numFailed: Number.POSITIVE_INFINITY })],
    });
    expect(value === null || value.getTime() > NOW.getTime()).toBe(true);
  });
});

/** What a plan does to the database: actions without their reasons. */
function decision(actions: readonly Action[]): unknown {
  return actions.map((a) => {
    const { reason: _reason, ...rest } = a;
    return rest;
  });
}

describe("nextDecisionChange, as a property", () => {
  const world = fc
    .record({
      active: fc.boolean(),
      desired: fc.integer({ min: 0, max: 4 }),
      ttlSeconds: fc.option(fc.integer({ min: 1, max: 4 * 3600 }), { nil: null }),
      zone: fc.constantFrom("UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"),
      schedules: fc.array(
        fc.record({
          from: fc.integer({ min: 0, max: 23 }),
          length: fc.integer({ min: 0, max: 5 }),
          days: fc.constantFrom("*", "1-5", "6,0", "2"),
          instances: fc.integer({ min: 0, max: 4 }),
        }),
        { maxLength: 2 },
      ),
      ages: fc.array(fc.integer({ min: 0, max: 4 * 3600_000 }), { maxLength: 5 }),
      backoff: fc.option(
        fc.record({
          numFailed: fc.integer({ min: 1, max: 3 }),
          agoMs: fc.integer({ max: 20_000, min: 0 }),
        }),
        { nil: null },
      ),
      nowOffset: fc.integer({ min: 0, max: 7 * 24 * HOUR }),
    })
    .map((w) => {
      const now = at(w.nowOffset);
      const preset = presetRow({
        desiredInstances: w.desired,
        ttlSeconds: w.ttlSeconds,
        usingActiveVersion: w.active,
        schedulingTimezone: w.zone,
      });
      const global = globalSnapshot({
        presets: [preset],
        schedules: w.schedules.map((s) =>
          schedule(
            preset,
            `* ${s.from}-${Math.min(s.from + s.length, 23)} * * ${s.days}`,
            s.instances,
          ),
        ),
        running: w.ages.map((age) =>
          prebuild(preset, { createdAt: new Date(now.getTime() - age) }),
        ),
        backoffs:
          w.backoff === null
            ? []
            : [
                backoff(preset, {
                  numFailed: w.backoff.numFailed,
                  lastBuildAt: new Date(now.getTime() - w.backoff.agoMs),
                  firstFailedAt: new Date(now.getTime() - w.backoff.agoMs),
                }),
              ],
      });
      return { preset, global, now };
    });

  const planAt = (global: GlobalSnapshot, preset: PresetRow, t: Date) =>
    decision(planPreset(filterByPreset(indexSnapshot(global), preset, t), t, OPTIONS).actions);

  it("no instant between now and the answer plans differently from now", () => {
    fc.assert(
      fc.property(
        world,
        fc.double({ min: 0, max: 1, noNaN: true }),
        ({ preset, global, now }, f) => {
          const wake = nextDecisionChange(
            filterByPreset(indexSnapshot(global), preset, now),
            now,
            WAKE,
          );
          const horizon = wake === null ? now.getTime() + 8 * 24 * HOUR : wake.getTime();
          const probe = new Date(now.getTime() + Math.floor(f * (horizon - now.getTime() - 1)));
          expect(planAt(global, preset, probe)).toEqual(planAt(global, preset, now));
          // Just before the answer is the last instant guaranteed unchanged.
          const last = new Date(horizon - 1);
          expect(planAt(global, preset, last)).toEqual(planAt(global, preset, now));
        },
      ),
      { numRuns: 300 },
    );
  });
});
