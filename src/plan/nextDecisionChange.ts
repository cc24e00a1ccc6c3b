// When a preset's decision can next change with no write to the database (issue #16): the
// incremental cycle reads only presets something wrote to, so it must also be told when time alone
// changes a plan. Pure, like the rest of the planner; the reconciler stores the answer per preset
// (prebuild_preset_wakeups) and visits the preset once that instant has come.

import { DateTime } from "luxon";
import type { CreateCap } from "./createCap.ts";
import { presetDesiredAt, ScheduleCache } from "./desiredInstances.ts";
import { expiryRule } from "./expiry.ts";
import type { PlanOptions } from "./planPreset.ts";
import type { PresetSnapshot } from "./snapshot.ts";
import { isActive } from "./state.ts";

export interface WakeOptions extends PlanOptions {
  /** Milliseconds: failures older than now − this no longer count toward backoff. */
  readonly backoffLookback: number;
}

/**
 * Hours looked ahead for a schedule change. Past that the preset is simply visited again (once a
 * day at most per scheduled preset), which keeps a full resync's cost bounded.
 */
export const SCHEDULE_LOOKAHEAD_HOURS = 48;

const MAX_TIME_MS = 8.64e15;

function validTime(d: Date | null | undefined): number | null {
  if (!(d instanceof Date)) return null;
  const t = d.getTime();
  return Number.isNaN(t) ? null : t;
}

/**
 * The earliest instant after `now` at which `planPreset` for this preset's snapshot (held fixed)
 * could plan differently than at `now`, or at which the snapshot itself changes by the clock alone
 * (a failure leaving the backoff lookback); null when only a write can change it. Candidates:
 * - a running prebuild's TTL expiry (created + TTL, expired strictly after: +1 ms), active presets
 *   and presets a surge rollout holds back only (any other inactive preset deletes every running
 *   prebuild, expired or not);
 * - the next hour boundary in the preset's time zone at which its schedules resolve to another
 *   desired count (schedules are whole-hour ranges), looked ahead SCHEDULE_LOOKAHEAD_HOURS, else
 *   that horizon itself;
 * - the end of a backoff (`until` + 1 ms: the gate holds while now ≤ until), and, during one, the
 *   oldest counted failure leaving the lookback window (`firstFailedAt` + lookback + 1 ms, or the
 *   last failure's when the oldest is unknown), which lowers the failure count;
 * - for an old version's preset that a surge rollout holds back (issue #15), the rollout's bound
 *   (its kept prebuilds are deleted from that instant on). The new preset gaining eligible
 *   prebuilds is a write, which marks the template's presets (read together, issue #16).
 * It may be early (a wake-up that changes nothing only costs a visit), never late: the unit test
 * checks that no instant before it plans differently.
 * A preset whose creates the in-flight cap held back (`plan.capped`, issue #13) depends on global
 * state (other presets' jobs finishing), not on its own rows: it is due at once (now + 1 ms), so
 * the next cycle, incremental or not, plans it again. `cache` memoises schedule parsing across
 * the presets of one call.
 */
export function nextDecisionChange(
  snapshot: PresetSnapshot,
  now: Date,
  options: WakeOptions,
  plan?: { readonly capped?: CreateCap | undefined },
  cache: ScheduleCache = new ScheduleCache(),
): Date | null {
  const nowMs = validTime(now);
  if (nowMs === null) return null;
  if (plan?.capped !== undefined) return new Date(nowMs + 1);
  let best = Number.POSITIVE_INFINITY;
  const consider = (t: number | null) => {
    if (t !== null && Number.isFinite(t) && t > nowMs && t < best) best = t;
  };
  const active = isActive(snapshot.preset);
  // A surge rollout's bound (issue #15): the old prebuilds it still keeps go then, with no write;
  // before it, a kept prebuild that expires is no longer kept.
  const surge = snapshot.surge ?? null;
  const held = surge !== null && surge.keep > 0;
  if (held) consider(validTime(surge.deadline));
  if (active || held) {
    const rule = expiryRule(snapshot.preset);
    if (rule.ttlMs !== null) {
      for (const p of snapshot.running) {
        const created = validTime(p.createdAt);
        if (created !== null) consider(created + rule.ttlMs + 1);
      }
    }
    if (active && snapshot.schedules.length > 0)
      consider(nextScheduleChange(snapshot, nowMs, cache));
  }
  consider(backoffChange(snapshot, nowMs, options));
  return Number.isFinite(best) ? new Date(Math.min(best, MAX_TIME_MS)) : null;
}

function nextScheduleChange(
  snapshot: PresetSnapshot,
  nowMs: number,
  cache: ScheduleCache,
): number | null {
  const { preset } = snapshot;
  const current = presetDesiredAt(snapshot, new Date(nowMs), cache);
  // Schedules that cannot be trusted are ignored for the static count: time changes nothing.
  if (current.source !== "schedule" && current.problem !== undefined) return null;
  const boundaries = hourBoundaries(preset.schedulingTimezone, nowMs, cache);
  if (boundaries === null) return null;
  for (const at of boundaries) {
    if (presetDesiredAt(snapshot, new Date(at), cache).count !== current.count) return at;
  }
  return boundaries.at(-1) ?? null;
}

/**
 * The next SCHEDULE_LOOKAHEAD_HOURS hour boundaries after `nowMs` in `timezone`, in epoch ms; null
 * for a zone luxon cannot use. Computed once per zone and instant for all the presets of a cycle
 * (luxon's date arithmetic was most of a full resync's bookkeeping at fleet L, issue #16).
 */
function hourBoundaries(
  timezone: string,
  nowMs: number,
  cache: ScheduleCache,
): readonly number[] | null {
  const key = `${timezone}\u0000${nowMs}`;
  const hit = cache.hourBoundaries.get(key);
  if (hit !== undefined) return hit;
  const local = DateTime.fromMillis(nowMs, { zone: timezone });
  const hourStart = local.isValid ? local.startOf("hour") : null;
  const boundaries =
    hourStart === null
      ? null
      : Array.from({ length: SCHEDULE_LOOKAHEAD_HOURS }, (_, k) =>
          hourStart.plus({ hours: k + 1 }).toMillis(),
        );
  cache.hourBoundaries.set(key, boundaries);
  return boundaries;
}

function backoffChange(
  snapshot: PresetSnapshot,
  nowMs: number,
  options: WakeOptions,
): number | null {
  const row = snapshot.backoff;
  if (row === null) return null;
  const failed = row.numFailed;
  const last = validTime(row.lastBuildAt);
  if (failed === 0 || last === null) return null;
  const interval =
    Number.isFinite(options.backoffInterval) && options.backoffInterval > 0
      ? options.backoffInterval
      : 0;
  const until = Math.min(last + failed * interval, MAX_TIME_MS);
  if (nowMs > until) return null;
  const lookback = Number.isFinite(options.backoffLookback) ? options.backoffLookback : 0;
  const oldest = validTime(row.firstFailedAt ?? null) ?? last;
  return Math.min(until + 1, oldest + lookback + 1);
}
