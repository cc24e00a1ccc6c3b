// How many prebuilds a preset wants at a given instant: its static desired_instances, or the
// count of the first cron schedule whose hour range covers that instant in the preset's time zone.
// Any problem with the schedules (no or unknown time zone, invalid cron, overlaps) falls back to
// the static count and says why, as the reference does.

import { CronExpressionParser } from "cron-parser";
import { DateTime, IANAZone } from "luxon";
import { MAX_DESIRED_INSTANCES } from "./maxDesiredInstances.ts";
import type { PresetRow, PresetSnapshot, ScheduleRow } from "./snapshot.ts";

// Memoisation per planner call (same input, same answer, nothing else observable): a fleet repeats
// a handful of time zones and cron expressions across thousands of presets, and luxon's zone check
// and the cron parser cost ~50 µs each. A cache lives as long as the call that made it (planAll,
// one cycle's wake-ups), so nothing grows across cycles.

/**
 * What `desiredInstancesAt` remembers within one planner call: zone validity, parsed cron
 * expressions, validated schedule lists and local times. Create one per call (`new
 * ScheduleCache()`) and pass it to every preset of that call; omitting it costs only speed.
 */
export class ScheduleCache {
  readonly zoneValidity = new Map<string, boolean>();
  readonly parsedSchedules = new Map<string, ReturnType<typeof parseUncached>>();
  readonly validatedLists = new Map<string, ReturnType<typeof validateUncached>>();
  /** The same, by the snapshot's schedule array: nextDecisionChange asks 49 times per preset. */
  readonly validatedRows = new WeakMap<readonly ScheduleRow[], ReturnType<typeof validate>>();
  /** By time zone, then epoch milliseconds (no key string built per lookup). */
  readonly localTimes = new Map<string, Map<number, LocalTime | null>>();
  /** nextDecisionChange's hour boundaries, by time zone and instant. */
  readonly hourBoundaries = new Map<string, readonly number[] | null>();
}

// `compute` receives the key, so that a hit allocates nothing (no closure per lookup): a full
// resync's schedule look-ahead makes about a million lookups at fleet XL (issue #16).
function memoised<K, V>(cache: Map<K, V>, key: K, compute: (key: K) => V): V {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const value = compute(key);
  cache.set(key, value);
  return value;
}

const isValidZoneUncached = (timezone: string): boolean => IANAZone.isValidZone(timezone);

function isValidZone(timezone: string, cache: ScheduleCache): boolean {
  return memoised(cache.zoneValidity, timezone, isValidZoneUncached);
}

/** The calendar fields a schedule is matched against, at one instant in one time zone. */
interface LocalTime {
  readonly hour: number;
  readonly month: number;
  readonly day: number;
  /** 0–6, Sunday = 0. */
  readonly weekday: number;
}

/** `at` seen in a valid `timezone`; null if luxon cannot represent it. A cycle plans at one `at`. */
function localTime(at: Date, timezone: string, cache: ScheduleCache): LocalTime | null {
  if (!(at instanceof Date)) return null;
  let zone = cache.localTimes.get(timezone);
  if (zone === undefined) {
    zone = new Map();
    cache.localTimes.set(timezone, zone);
  }
  const ms = at.getTime();
  const hit = zone.get(ms);
  if (hit !== undefined) return hit;
  const local = DateTime.fromJSDate(at, { zone: timezone });
  // luxon: Monday = 1 … Sunday = 7
  const value = local.isValid
    ? { hour: local.hour, month: local.month, day: local.day, weekday: local.weekday % 7 }
    : null;
  zone.set(ms, value);
  return value;
}

export { MAX_DESIRED_INSTANCES };

export interface DesiredInstances {
  readonly count: number;
  /** "override": `prebuildsd scale` replaced the static count (issue #15); schedules still win. */
  readonly source: "static" | "schedule" | "override";
  /** The preset's configured desired_instances, when an override replaced it. */
  readonly configured?: number;
  /** The cron expression that supplied `count` (source "schedule"). */
  readonly schedule?: string;
  /** The preset's scheduling time zone, when schedules were evaluated. */
  readonly timezone?: string;
  /** Why the schedules were not used although the preset has some; one sentence. */
  readonly problem?: string;
  /** Set when the configured count was out of 0..MAX_DESIRED_INSTANCES and was clamped. */
  readonly clamped?: string;
}

/** Clamps a configured instance count into 0..MAX_DESIRED_INSTANCES; never throws. */
function clampInstances(value: number, what: string): { count: number; clamped?: string } {
  if (typeof value !== "number" || Number.isNaN(value)) {
    return { count: 0, clamped: `${what} is ${String(value)}; using 0` };
  }
  if (value < 0) return { count: 0, clamped: `${what} is ${value}; using 0` };
  if (value > MAX_DESIRED_INSTANCES) {
    return {
      count: MAX_DESIRED_INSTANCES,
      clamped: `${what} is ${value}, above the maximum ${MAX_DESIRED_INSTANCES}; using ${MAX_DESIRED_INSTANCES}`,
    };
  }
  if (!Number.isInteger(value)) {
    return { count: Math.floor(value), clamped: `${what} is ${value}; using ${Math.floor(value)}` };
  }
  return { count: value };
}

/** A cron expression read as a set of whole hours (`* 9-18 * * 1-5` = 09:00:00–18:59:59). */
export interface HourlySchedule {
  readonly expression: string;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0–6, Sunday = 0 (a 7 in the expression is folded into 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  readonly dayOfMonthIsWildcard: boolean;
  readonly dayOfWeekIsWildcard: boolean;
}

const NAMES = /jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat/gi;
// Digits, names and `* ? , - /` only: `L`, `#` and `H` (random) have no fixed hour-range meaning.
const PLAIN_FIELD = /^[0-9*?,/-]+$/;

function numbers(values: readonly (number | string)[]): number[] | null {
  const out: number[] = [];
  for (const v of values) {
    if (typeof v !== "number") return null;
    out.push(v);
  }
  return out;
}

/** Parses a five-field cron expression whose minutes are `*`; never throws. */
export function parseHourlySchedule(
  expression: string,
  cache: ScheduleCache = new ScheduleCache(),
): { ok: true; schedule: HourlySchedule } | { ok: false; problem: string } {
  if (typeof expression !== "string") return parseUncached(expression);
  return memoised(cache.parsedSchedules, expression, parseUncached);
}

function parseUncached(
  expression: string,
): { ok: true; schedule: HourlySchedule } | { ok: false; problem: string } {
  const fields = typeof expression === "string" ? expression.trim().split(/\s+/) : [];
  if (fields.length !== 5) {
    return {
      ok: false,
      problem: `cron "${expression}" must have 5 fields (minute hour day month weekday)`,
    };
  }
  const [minute, , dayOfMonth, , dayOfWeek] = fields as [string, string, string, string, string];
  if (minute !== "*") {
    return {
      ok: false,
      problem: `cron "${expression}" must have "*" as its minute field (schedules cover whole hours)`,
    };
  }
  if (!fields.every((f) => PLAIN_FIELD.test(f.replace(NAMES, "0")))) {
    return {
      ok: false,
      problem: `cron "${expression}" may only use numbers, names, "*", ",", "-" and "/"`,
    };
  }
  let parsed: ReturnType<typeof CronExpressionParser.parse>;
  try {
    parsed = CronExpressionParser.parse(expression.trim());
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, problem: `cron "${expression}" is invalid: ${why}` };
  }
  const f = parsed.fields;
  const hours = numbers(f.hour.values);
  const doms = numbers(f.dayOfMonth.values);
  const months = numbers(f.month.values);
  const dows = numbers(f.dayOfWeek.values);
  if (hours === null || doms === null || months === null || dows === null) {
    return {
      ok: false,
      problem: `cron "${expression}" uses a special value that is not supported`,
    };
  }
  return {
    ok: true,
    schedule: {
      expression,
      hours: new Set(hours),
      daysOfMonth: new Set(doms),
      months: new Set(months),
      daysOfWeek: new Set(dows.map((d) => d % 7)),
      dayOfMonthIsWildcard: dayOfMonth === "*" || dayOfMonth === "?",
      dayOfWeekIsWildcard: dayOfWeek === "*" || dayOfWeek === "?",
    },
  };
}

// Classic cron: when both day fields are restricted, a day matches if either does.
function dayMatches(s: HourlySchedule, dayOfMonth: number, dayOfWeek: number): boolean {
  const dom = s.daysOfMonth.has(dayOfMonth);
  const dow = s.daysOfWeek.has(dayOfWeek);
  return s.dayOfMonthIsWildcard || s.dayOfWeekIsWildcard ? dom && dow : dom || dow;
}

function coversLocal(s: HourlySchedule, local: LocalTime): boolean {
  return (
    s.hours.has(local.hour) && s.months.has(local.month) && dayMatches(s, local.day, local.weekday)
  );
}

/** Whether `at`, seen in `timezone`, falls inside the schedule's hours; false if either is invalid. */
export function matchesCron(expression: string, at: Date, timezone = "UTC"): boolean {
  const cache = new ScheduleCache();
  const parsed = parseHourlySchedule(expression, cache);
  if (!parsed.ok || typeof timezone !== "string" || !isValidZone(timezone, cache)) return false;
  const local = localTime(at, timezone, cache);
  return local !== null && coversLocal(parsed.schedule, local);
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Whether some instant is covered by both schedules (any year, so Feb 29 and every weekday count). */
function schedulesOverlap(a: HourlySchedule, b: HourlySchedule): boolean {
  if (![...a.hours].some((h) => b.hours.has(h))) return false;
  for (let month = 1; month <= 12; month++) {
    if (!a.months.has(month) || !b.months.has(month)) continue;
    for (let day = 1; day <= (DAYS_IN_MONTH[month - 1] ?? 31); day++) {
      for (let weekday = 0; weekday < 7; weekday++) {
        if (dayMatches(a, day, weekday) && dayMatches(b, day, weekday)) return true;
      }
    }
  }
  return false;
}

/** Parses and checks a preset's schedules; remembered per list of expressions. */
function validate(
  schedules: readonly ScheduleRow[],
  cache: ScheduleCache,
): { ok: true; parsed: HourlySchedule[] } | { ok: false; problem: string } {
  const known = cache.validatedRows.get(schedules);
  if (known !== undefined) return known;
  const expressions = schedules.map((row) => row.cronExpression);
  const result = expressions.every((e) => typeof e === "string")
    ? memoised(cache.validatedLists, JSON.stringify(expressions), () =>
        validateUncached(expressions, cache),
      )
    : validateUncached(expressions, cache);
  cache.validatedRows.set(schedules, result);
  return result;
}

function validateUncached(
  expressions: readonly string[],
  cache: ScheduleCache,
): { ok: true; parsed: HourlySchedule[] } | { ok: false; problem: string } {
  const parsed: HourlySchedule[] = [];
  for (const expression of expressions) {
    const p = parseHourlySchedule(expression, cache);
    if (!p.ok) return p;
    parsed.push(p.schedule);
  }
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      const a = parsed[i];
      const b = parsed[j];
      if (a !== undefined && b !== undefined && schedulesOverlap(a, b)) {
        return { ok: false, problem: `schedules "${a.expression}" and "${b.expression}" overlap` };
      }
    }
  }
  return { ok: true, parsed };
}

/**
 * The desired pool size of an active preset at `at` (reference §5: the first schedule covering
 * `at` in the preset's time zone, else the static count). Never throws. `cache` memoises within
 * one planner call.
 */
export function desiredInstancesAt(
  preset: PresetRow,
  schedules: readonly ScheduleRow[],
  at: Date,
  cache: ScheduleCache = new ScheduleCache(),
): DesiredInstances {
  const base = clampInstances(preset.desiredInstances, "desired_instances");
  const fallback = (problem?: string, timezone?: string): DesiredInstances => ({
    count: base.count,
    source: "static",
    ...(timezone !== undefined && { timezone }),
    ...(problem !== undefined && { problem }),
    ...(base.clamped !== undefined && { clamped: base.clamped }),
  });
  if (schedules.length === 0) return fallback();
  const tz = preset.schedulingTimezone;
  if (typeof tz !== "string" || tz === "") {
    return fallback(
      `${schedules.length} schedule(s) but no scheduling time zone; schedules ignored`,
    );
  }
  if (!isValidZone(tz, cache)) return fallback(`unknown time zone "${tz}"; schedules ignored`);
  const checked = validate(schedules, cache);
  if (!checked.ok) return fallback(`${checked.problem}; schedules ignored`, tz);
  const local = localTime(at, tz, cache);
  if (local === null) return fallback("the planning time is invalid; schedules ignored", tz);
  for (let i = 0; i < checked.parsed.length; i++) {
    const s = checked.parsed[i];
    const row = schedules[i];
    if (s === undefined || row === undefined || !coversLocal(s, local)) continue;
    const c = clampInstances(row.desiredInstances, `instances of schedule "${s.expression}"`);
    return {
      count: c.count,
      source: "schedule",
      schedule: s.expression,
      timezone: tz,
      ...(c.clamped !== undefined && { clamped: c.clamped }),
    };
  }
  return fallback(undefined, tz);
}

/**
 * The desired pool size of a preset at `at` with its runtime scale override (issue #15): the
 * override replaces the static desired_instances, and a schedule that covers `at` still wins over
 * both (docs/pool-controls.md). Without an override this is `desiredInstancesAt`.
 */
export function presetDesiredAt(
  snapshot: Pick<PresetSnapshot, "preset" | "schedules" | "desiredOverride">,
  at: Date,
  cache: ScheduleCache = new ScheduleCache(),
): DesiredInstances {
  const override = snapshot.desiredOverride ?? null;
  if (override === null) return desiredInstancesAt(snapshot.preset, snapshot.schedules, at, cache);
  const d = desiredInstancesAt(
    { ...snapshot.preset, desiredInstances: override },
    snapshot.schedules,
    at,
    cache,
  );
  if (d.source !== "static") return d;
  // The override is checked to be 0..MAX_DESIRED_INSTANCES when written (and by the table).
  const configured = clampInstances(snapshot.preset.desiredInstances, "desired_instances").count;
  return { ...d, source: "override", configured };
}

/** `desired 3 (schedule "* 9-18 * * 1-5" in Europe/Berlin)`, `desired 1 (static)`, … */
export function describeDesired(d: DesiredInstances): string {
  if (d.source === "schedule")
    return `desired ${d.count} (schedule "${d.schedule}" in ${d.timezone})`;
  if (d.source === "override") {
    const outside = d.timezone !== undefined ? `, no schedule covers now in ${d.timezone}` : "";
    const problem = d.problem !== undefined ? `, ${d.problem}` : "";
    return `desired ${d.count} (scale override, configured ${d.configured ?? "?"}${outside}${problem})`;
  }
  if (d.problem !== undefined) return `desired ${d.count} (static: ${d.problem})`;
  if (d.timezone !== undefined)
    return `desired ${d.count} (static: no schedule covers now in ${d.timezone})`;
  return `desired ${d.count} (static)`;
}
