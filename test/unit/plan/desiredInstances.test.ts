// Schedules (reference §3.5): hour-granular cron ranges in the preset's time zone, first match
// wins, any problem falls back to the static count and says why.

import { describe, expect, it } from "vitest";
import {
  desiredInstancesAt,
  filterByPreset,
  indexSnapshot,
  MAX_DESIRED_INSTANCES,
  matchesCron,
  parseHourlySchedule,
  planPreset,
  type ScheduleRow,
} from "../../../src/plan/index.ts";
import { globalSnapshot, OPTIONS, presetRow, shapes } from "./snapshotBuilder.ts";

const at = (s: string) => new Date(s);
const schedule = (
  cronExpression: string,
  desiredInstances: number,
  presetId = "preset-1",
): ScheduleRow => ({
  presetId,
  cronExpression,
  desiredInstances,
});

describe("TestPrebuildScheduling", () => {
  const one = presetRow({ presetId: "p-1", presetName: "my-preset-1", schedulingTimezone: "UTC" });
  const two = presetRow({ presetId: "p-2", presetName: "my-preset-2", schedulingTimezone: "UTC" });
  const global = globalSnapshot({
    presets: [one, two],
    schedules: [
      schedule("* 2-4 * * 1-5", 2, "p-1"),
      schedule("* 6-8 * * 1-5", 3, "p-1"),
      schedule("* 10-12 * * 1-5", 4, "p-2"),
      schedule("* 14-16 * * 1-5", 5, "p-2"),
    ],
  });
  const cases = [
    {
      name: "before the first schedule (Monday 01:00 UTC)",
      now: "2025-06-02T01:00:00Z",
      expected: [1, 1],
    },
    { name: "in preset 1's first schedule (03:00)", now: "2025-06-02T03:00:00Z", expected: [2, 1] },
    {
      name: "in preset 1's second schedule (07:00)",
      now: "2025-06-02T07:00:00Z",
      expected: [3, 1],
    },
    { name: "in preset 2's first schedule (11:00)", now: "2025-06-02T11:00:00Z", expected: [1, 4] },
    {
      name: "in preset 2's second schedule (15:00)",
      now: "2025-06-02T15:00:00Z",
      expected: [1, 5],
    },
  ];
  it.each(cases)("creates the scheduled count $name", ({ now, expected }) => {
    const created = [one, two].map((preset) => {
      const result = planPreset(
        filterByPreset(indexSnapshot(global), preset, at(now)),
        at(now),
        OPTIONS,
      );
      expect(result.state.desired).toBe(result.desired.count);
      return shapes(result.actions);
    });
    expect(created).toEqual(expected.map((n) => [{ Create: n }]));
  });
});

describe("TestMatchesCron", () => {
  it('does not match "* 9-18 * * 1-5" at 08:59:59', () => {
    expect(matchesCron("* 9-18 * * 1-5", at("2025-06-02T08:59:59Z"))).toBe(false);
  });
  it('matches "* 9-18 * * 1-5" at 09:00:00', () => {
    expect(matchesCron("* 9-18 * * 1-5", at("2025-06-02T09:00:00Z"))).toBe(true);
  });
  it("reads the hours in the given time zone", () => {
    expect(matchesCron("* 9-18 * * 1-5", at("2025-06-02T07:00:00Z"), "Europe/Berlin")).toBe(true);
  });
  it("never matches an invalid expression", () => {
    expect(matchesCron("not cron", at("2025-06-02T09:00:00Z"))).toBe(false);
  });
});

describe("TestCalculateDesiredInstances", () => {
  const workdays = [schedule("* 9-18 * * 1-5", 3)];
  const threeWindows = [
    schedule("* 6-10 * * 1-5", 2),
    schedule("* 12-16 * * 1-5", 3),
    schedule("* 18-22 * * 1-5", 4),
  ];
  const week = [schedule("* 9-18 * * 1-5", 2), schedule("* 9-13 * * 6,0", 3)];
  const la = [schedule("* 9-13 * * 1-5", 3)];
  const cases: {
    name: string;
    tz: string;
    schedules: ScheduleRow[];
    at: string;
    expected: number;
  }[] = [
    {
      name: "right before the start of the range (08:59:59)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T08:59:59Z",
      expected: 1,
    },
    {
      name: "at the start of the range (09:00:00)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T09:00:00Z",
      expected: 3,
    },
    {
      name: "one minute after the start (09:01)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T09:01:00Z",
      expected: 3,
    },
    {
      name: "in the middle of the range (14:00)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T14:00:00Z",
      expected: 3,
    },
    {
      name: "one hour before the end (18:00)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T18:00:00Z",
      expected: 3,
    },
    {
      name: "at the last second of the range (18:59:59)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T18:59:59Z",
      expected: 3,
    },
    {
      name: "right after the end of the range (19:00)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T19:00:00Z",
      expected: 1,
    },
    {
      name: "a minute after the end (19:01)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T19:01:00Z",
      expected: 1,
    },
    {
      name: "far outside the range (02:00)",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T02:00:00Z",
      expected: 1,
    },
    {
      name: "on a Saturday",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-07T14:00:00Z",
      expected: 1,
    },
    {
      name: "on a Sunday",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-08T14:00:00Z",
      expected: 1,
    },
    {
      name: "before the first of three daily windows",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T05:00:00Z",
      expected: 1,
    },
    {
      name: "in the first of three daily windows",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T08:00:00Z",
      expected: 2,
    },
    {
      name: "between the first and second windows",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T11:00:00Z",
      expected: 1,
    },
    {
      name: "in the second window",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T14:00:00Z",
      expected: 3,
    },
    {
      name: "in the third window",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T20:00:00Z",
      expected: 4,
    },
    {
      name: "after the last window",
      tz: "UTC",
      schedules: threeWindows,
      at: "2025-06-02T23:00:00Z",
      expected: 1,
    },
    {
      name: "in the weekday schedule of a week plan",
      tz: "UTC",
      schedules: week,
      at: "2025-06-02T14:00:00Z",
      expected: 2,
    },
    {
      name: 'in the weekend schedule "6,0" on a Saturday',
      tz: "UTC",
      schedules: week,
      at: "2025-06-07T10:00:00Z",
      expected: 3,
    },
    {
      name: 'in the weekend schedule "6,0" on a Sunday',
      tz: "UTC",
      schedules: week,
      at: "2025-06-08T10:00:00Z",
      expected: 3,
    },
    {
      name: "outside both schedules of a week plan",
      tz: "UTC",
      schedules: week,
      at: "2025-06-07T14:00:00Z",
      expected: 1,
    },
    {
      name: "15:00 UTC = 08:00 in Los Angeles: an hour before the range",
      tz: "America/Los_Angeles",
      schedules: la,
      at: "2025-06-02T15:00:00Z",
      expected: 1,
    },
    {
      name: "16:00 UTC = 09:00 in Los Angeles: start of the range",
      tz: "America/Los_Angeles",
      schedules: la,
      at: "2025-06-02T16:00:00Z",
      expected: 3,
    },
    {
      name: "20:59 UTC = 13:59 in Los Angeles: right before the end",
      tz: "America/Los_Angeles",
      schedules: la,
      at: "2025-06-02T20:59:00Z",
      expected: 3,
    },
    {
      name: "21:00 UTC = 14:00 in Los Angeles: right after the end",
      tz: "America/Los_Angeles",
      schedules: la,
      at: "2025-06-02T21:00:00Z",
      expected: 1,
    },
    {
      name: "23:00 UTC = 16:00 in Los Angeles: outside the range",
      tz: "America/Los_Angeles",
      schedules: la,
      at: "2025-06-02T23:00:00Z",
      expected: 1,
    },
    {
      name: "an input given as 04:00-04:00 (08:00 UTC): before the range",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T04:00:00-04:00",
      expected: 1,
    },
    {
      name: "an input given as 05:00-04:00 (09:00 UTC): in the range",
      tz: "UTC",
      schedules: workdays,
      at: "2025-06-02T05:00:00-04:00",
      expected: 3,
    },
    {
      name: "Sunday written as 7",
      tz: "UTC",
      schedules: [schedule("* 9-13 * * 7", 5)],
      at: "2025-06-08T10:00:00Z",
      expected: 5,
    },
    {
      name: "a schedule lowering the target to 0 out of hours",
      tz: "UTC",
      schedules: [schedule("* 0-8,19-23 * * *", 0)],
      at: "2025-06-02T22:00:00Z",
      expected: 0,
    },
    {
      name: "the preset's local weekday, not UTC's (Monday 01:00 in Tokyo is Sunday in UTC)",
      tz: "Asia/Tokyo",
      schedules: [schedule("* 0-3 * * 1", 3)],
      at: "2025-06-01T16:30:00Z",
      expected: 3,
    },
  ];

  it.each(cases)("uses $expected $name", (tc) => {
    const preset = presetRow({ desiredInstances: 1, schedulingTimezone: tc.tz });
    expect(desiredInstancesAt(preset, tc.schedules, at(tc.at)).count).toBe(tc.expected);
  });

  it("follows daylight saving time: 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer", () => {
    const preset = presetRow({ desiredInstances: 1, schedulingTimezone: "Europe/Berlin" });
    expect(desiredInstancesAt(preset, workdays, at("2025-01-06T08:00:00Z")).count).toBe(3);
    expect(desiredInstancesAt(preset, workdays, at("2025-01-06T07:59:59Z")).count).toBe(1);
    expect(desiredInstancesAt(preset, workdays, at("2025-06-02T07:00:00Z")).count).toBe(3);
  });

  it("treats both restricted day fields as either-or, as classic cron does", () => {
    const preset = presetRow({ desiredInstances: 1, schedulingTimezone: "UTC" });
    const firstOrMonday = [schedule("* 9 1 * 1", 2)];
    expect(desiredInstancesAt(preset, firstOrMonday, at("2025-06-02T09:00:00Z")).count).toBe(2); // Monday the 2nd
    expect(desiredInstancesAt(preset, firstOrMonday, at("2025-06-01T09:00:00Z")).count).toBe(2); // Sunday the 1st
    expect(desiredInstancesAt(preset, firstOrMonday, at("2025-06-03T09:00:00Z")).count).toBe(1);
  });
});

describe("falling back to the static count", () => {
  const preset = (tz: string) => presetRow({ desiredInstances: 2, schedulingTimezone: tz });
  const monday10 = at("2025-06-02T10:00:00Z");
  const cases: {
    name: string;
    tz: string;
    schedules: ScheduleRow[];
    problem: RegExp | undefined;
  }[] = [
    {
      name: "uses the static count when there are no schedules, silently",
      tz: "UTC",
      schedules: [],
      problem: undefined,
    },
    {
      name: "uses the static count when no schedule covers now, silently",
      tz: "UTC",
      schedules: [schedule("* 0-1 * * *", 9)],
      problem: undefined,
    },
    {
      name: "ignores schedules without a time zone, and says so",
      tz: "",
      schedules: [schedule("* * * * *", 9)],
      problem: /no scheduling time zone/,
    },
    {
      name: "ignores schedules in an unknown time zone",
      tz: "Mars/Olympus_Mons",
      schedules: [schedule("* * * * *", 9)],
      problem: /unknown time zone "Mars\/Olympus_Mons"/,
    },
    {
      name: "ignores an invalid cron expression",
      tz: "UTC",
      schedules: [schedule("* 25 * * *", 9)],
      problem: /cron "\* 25 \* \* \*" is invalid/,
    },
    {
      name: "ignores a schedule whose minutes are not *",
      tz: "UTC",
      schedules: [schedule("0 9-18 * * *", 9)],
      problem: /minute field/,
    },
    {
      name: "ignores a six-field (seconds) expression",
      tz: "UTC",
      schedules: [schedule("* * 9-18 * * *", 9)],
      problem: /5 fields/,
    },
    {
      name: "ignores an empty expression",
      tz: "UTC",
      schedules: [schedule("", 9)],
      problem: /5 fields/,
    },
    {
      name: 'ignores "L" (last day), which has no fixed range',
      tz: "UTC",
      schedules: [schedule("* 9 L * *", 9)],
      problem: /may only use/,
    },
    {
      name: 'ignores "#" (nth weekday)',
      tz: "UTC",
      schedules: [schedule("* 9 * * 1#2", 9)],
      problem: /may only use/,
    },
    {
      name: 'ignores "H" (random hour)',
      tz: "UTC",
      schedules: [schedule("* H * * *", 9)],
      problem: /may only use/,
    },
    {
      name: "ignores every schedule when two overlap, even if the first alone would match",
      tz: "UTC",
      schedules: [schedule("* 9-12 * * 1-5", 7), schedule("* 12-14 * * MON", 8)],
      problem: /schedules "\* 9-12 \* \* 1-5" and "\* 12-14 \* \* MON" overlap/,
    },
    {
      name: "treats a day-of-month schedule and a weekday schedule as overlapping when a date can be both",
      tz: "UTC",
      schedules: [schedule("* 9 1 * *", 7), schedule("* 9 * * 1", 8)],
      problem: /overlap/,
    },
  ];

  it.each(cases)("$name", (tc) => {
    const d = desiredInstancesAt(preset(tc.tz), tc.schedules, monday10);
    expect(d.count).toBe(2);
    expect(d.source).toBe("static");
    if (tc.problem === undefined) expect(d.problem).toBeUndefined();
    else expect(d.problem).toMatch(tc.problem);
  });

  it("accepts schedules that share hours on different days", () => {
    const d = desiredInstancesAt(
      preset("UTC"),
      [schedule("* 9-18 * * 1-5", 3), schedule("* 9-18 * * 6,0", 4)],
      monday10,
    );
    expect(d).toEqual({
      count: 3,
      source: "schedule",
      schedule: "* 9-18 * * 1-5",
      timezone: "UTC",
    });
  });

  it("accepts month and weekday names", () => {
    expect(parseHourlySchedule("* 9-18 * JAN-MAR MON-FRI").ok).toBe(true);
  });

  it("reports the fallback as a warning of the plan, naming the preset", () => {
    const p = presetRow({
      presetName: "gpu",
      desiredInstances: 1,
      schedulingTimezone: "Nowhere/City",
    });
    const g = globalSnapshot({ presets: [p], schedules: [schedule("* * * * *", 4, p.presetId)] });
    const result = planPreset(filterByPreset(indexSnapshot(g), p, monday10), monday10, OPTIONS);
    expect(shapes(result.actions)).toEqual([{ Create: 1 }]);
    expect(result.warnings).toEqual([
      'preset "gpu" (preset-1) of template "my-template" version "v1": unknown time zone "Nowhere/City"; schedules ignored',
    ]);
    expect(result.actions[0]?.reason).toBe(
      'desired 1 (static: unknown time zone "Nowhere/City"; schedules ignored), running 0, starting 0 → create 1',
    );
  });

  it(`caps a scheduled count at MAX_DESIRED_INSTANCES (${MAX_DESIRED_INSTANCES})`, () => {
    const d = desiredInstancesAt(preset("UTC"), [schedule("* * * * *", 1e9)], monday10);
    expect(d.count).toBe(MAX_DESIRED_INSTANCES);
    expect(d.clamped).toMatch(/above the maximum 1000/);
  });
});
