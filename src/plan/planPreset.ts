// The decision for one preset (reference §4): a snapshot and a time in, an ordered list of actions
// out. Pure: no I/O, no clock. It trusts its types (snapshot/decode.ts repairs values the database
// should never hold: counts, times) and interprets configuration with the reference's fallbacks,
// warning about it: a desired count out of range, a negative TTL, schedules it cannot use.

import type { Action, BackoffAction, CancelPendingAction, DeleteAction } from "./action.ts";
import { DEFAULT_CANCEL_POLICY } from "./cancelPolicy.ts";
import type { CreateCap } from "./createCap.ts";
import {
  type DesiredInstances,
  describeDesired,
  presetDesiredAt,
  ScheduleCache,
} from "./desiredInstances.ts";
import { type ExpiryRule, expiryRule } from "./expiry.ts";
import type { PresetSnapshot, RunningPrebuild, SurgeHold } from "./snapshot.ts";
import { inactivityReason, isActive, type PresetState, stateFor } from "./state.ts";

export interface PlanOptions {
  /** Backoff step per failed build, in milliseconds (reference default: 1 minute). */
  readonly backoffInterval: number;
  /** PREBUILDS_MAX_INFLIGHT_JOBS (issue #13): planAll holds creates back beyond it; null or
   *  absent: no cap. planPreset alone ignores it (the cap is global). */
  readonly maxInflightJobs?: number | null;
  /** A surge rollout's bound, in milliseconds (PREBUILDS_ROLLOUT_MAX_WAIT, issue #15); absent:
   *  30 minutes. */
  readonly rolloutMaxWait?: number | undefined;
  /** PREBUILDS_CANCEL_PENDING; false: the executor skips every CancelPending, so its reason says
   *  so (as a Create's says it will be skipped for a hard-limited preset). Absent: true. */
  readonly cancelPendingEnabled?: boolean;
}

export interface PresetPlan {
  readonly state: PresetState;
  /** How the target was resolved; `{ count: 0, source: "static" }` for an inactive preset. */
  readonly desired: DesiredInstances;
  readonly actions: readonly Action[];
  /** Bad data and fallbacks, one sentence each naming the preset. */
  readonly warnings: readonly string[];
  readonly active: boolean;
  /** Set by planAll when the in-flight cap held this preset's creates back (issue #13). */
  readonly capped?: CreateCap;
  /** Why nothing is planned for this preset because an operator paused it (`prebuildsd pause
   *  --template/--preset`, issue #15); null when not paused. The state is still computed. */
  readonly paused: string | null;
  /** `prebuildsd scale`'s count for the preset, null when none (whether or not it is in effect:
   *  `desired.source` says whether a schedule overrode it). */
  readonly desiredOverride: number | null;
}

const INACTIVE_DESIRED: DesiredInstances = { count: 0, source: "static" };
// The largest time a Date can hold; a hostile failure count must not push `until` past it.
const MAX_TIME_MS = 8.64e15;

function time(d: Date): string {
  return d.toISOString();
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${ms}ms`;
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1000, "s"],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  let out = "";
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** What sorting by age needs of a prebuild (running or stopped). */
type Aged = Pick<RunningPrebuild, "workspaceId" | "createdAt">;

/** Oldest `created_at` first, so the freshest prebuilds are kept; ties broken by id for stability. */
function oldestFirst<T extends Aged>(prebuilds: readonly T[]): T[] {
  return [...prebuilds].sort((a, b) => {
    const ta = a.createdAt.getTime();
    const tb = b.createdAt.getTime();
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a.workspaceId < b.workspaceId ? -1 : a.workspaceId > b.workspaceId ? 1 : 0;
  });
}

function describeExpiry(rule: ExpiryRule): string {
  const parts: string[] = [];
  if (rule.ttlMs !== null) parts.push(`TTL ${duration(rule.ttlMs)}`);
  if (rule.invalidatedAt !== null) parts.push(`invalidated at ${time(rule.invalidatedAt)}`);
  return parts.join(" or ");
}

function backoffGate(
  snapshot: PresetSnapshot,
  now: Date,
  options: PlanOptions,
): BackoffAction | null {
  const row = snapshot.backoff;
  if (row === null || row.numFailed === 0) return null;
  const failed = row.numFailed;
  const last = row.lastBuildAt.getTime();
  const interval =
    Number.isFinite(options.backoffInterval) && options.backoffInterval > 0
      ? options.backoffInterval
      : 0;
  const untilMs = Math.min(last + failed * interval, MAX_TIME_MS);
  if (now.getTime() > untilMs) return null;
  const until = new Date(untilMs);
  return {
    _tag: "Backoff",
    until,
    reason:
      `${plural(failed, "recent build")} failed, the last at ${time(row.lastBuildAt)}; ` +
      `backoff ${failed} × ${duration(interval)} → nothing until ${time(until)}`,
  };
}

function planInactive(snapshot: PresetSnapshot, now: Date, options: PlanOptions): Action[] {
  const actions: Action[] = [];
  const why = inactivityReason(snapshot.preset);
  const cancel = planCancel(snapshot, why, options.cancelPendingEnabled !== false);
  if (cancel !== null) actions.push(cancel);
  const surge = snapshot.surge ?? null;
  if (surge !== null && now.getTime() < surge.deadline.getTime()) {
    actions.push(...planSurge(snapshot, surge, why));
    return actions;
  }
  // Deliberate difference: expired prebuilds are deleted too; the reference deletes only the
  // non-expired ones and leaves expired prebuilds of an old version running forever (known bug).
  const victims = oldestFirst([...snapshot.running, ...snapshot.expired]);
  const bound = surge === null ? "" : ` (surge rollout bound ${time(surge.deadline)} passed)`;
  if (victims.length > 0) {
    actions.push({
      _tag: "Delete",
      workspaceIds: victims.map((p) => p.workspaceId),
      because: "inactive",
      reason:
        `preset is inactive (${why})${bound} with ${snapshot.running.length} running and ` +
        `${snapshot.expired.length} expired → delete ${victims.length}, oldest first`,
    });
  }
  return actions;
}

/**
 * A surge rollout before its bound (issue #15): the old preset's prebuilds nobody can claim (not
 * ready, expired) go at once; of its eligible ones, the newest `keep` stay to serve claims until
 * the new version's preset has enough eligible prebuilds, and the rest go as "superseded", a delete
 * the executor re-checks against the new preset's eligible count at write time.
 */
function planSurge(snapshot: PresetSnapshot, surge: SurgeHold, why: string): Action[] {
  const actions: Action[] = [];
  const eligible = oldestFirst(snapshot.running.filter((p) => p.ready === true));
  const idle = oldestFirst([
    ...snapshot.running.filter((p) => p.ready !== true),
    ...snapshot.expired,
  ]);
  if (idle.length > 0) {
    actions.push({
      _tag: "Delete",
      workspaceIds: idle.map((p) => p.workspaceId),
      because: "inactive",
      reason: `preset is inactive (${why}); surge rollout: ${plural(idle.length, "prebuild")} not claimable (not ready or expired) → delete ${idle.length}, oldest first`,
    });
  }
  const superseded = eligible.slice(0, Math.max(0, eligible.length - surge.keep));
  const progress =
    `new version's preset has ${surge.newEligible} eligible of ${surge.newDesired} desired ` +
    `(rollout started ${time(surge.startedAt)}, bound ${time(surge.deadline)})`;
  if (superseded.length > 0) {
    actions.push({
      _tag: "Delete",
      workspaceIds: superseded.map((p) => p.workspaceId),
      because: "superseded",
      surge: {
        newPresetId: surge.newPresetId,
        minNewEligible: surge.newEligible,
        deadline: surge.deadline,
      },
      reason: `preset is inactive (${why}); surge rollout: ${progress} → keep ${surge.keep} of ${eligible.length} eligible, delete ${superseded.length}, oldest first`,
    });
  }
  return actions;
}

/** The CancelPending of an inactive preset under its template's cancel policy (issue #13). */
function planCancel(
  snapshot: PresetSnapshot,
  why: string,
  enabled: boolean,
): CancelPendingAction | null {
  const policy = snapshot.preset.cancelPolicy ?? DEFAULT_CANCEL_POLICY;
  // Deliberate difference: this covers deleted and deprecated templates whose version is still
  // the active one too (the reference's pending query only keys on "version ≠ active version").
  const pending = snapshot.pendingCount;
  const running = snapshot.staleRunningCount ?? 0;
  // Only policy "running" cancels running builds, so only it cleans up after them; a build a person
  // canceled with `prebuildsd cancel` under another policy is left as the reference leaves it.
  const orphans = policy === "running" ? (snapshot.canceledOrphanCount ?? 0) : 0;
  const toCancel = policy === "retain" ? 0 : pending;
  const toAsk = policy === "running" ? running : 0;
  if (toCancel + toAsk + orphans === 0) return null;
  const kinds: string[] = [];
  if (pending > 0) kinds.push(`${pending} pending`);
  if (running > 0) kinds.push(`${running} running`);
  const steps: string[] = [];
  if (toCancel > 0) steps.push(`cancel ${toCancel}`);
  if (policy === "retain" && pending + running > 0) steps.push("let them finish");
  if (toAsk > 0) steps.push(`ask ${toAsk} running to cancel`);
  if (orphans > 0) {
    steps.push(
      `delete ${plural(orphans, "workspace")} whose first build was canceled while running, through a provisioner`,
    );
  }
  const builds = pending + running === 1 ? "first build" : "first builds";
  const stale = kinds.length > 0 ? ` with ${kinds.join(" and ")} ${builds}` : "";
  return {
    _tag: "CancelPending",
    presetId: snapshot.preset.presetId,
    policy,
    pendingCount: toCancel,
    runningCount: toAsk,
    orphanCount: orphans,
    reason:
      `preset is inactive (${why})${stale} → ${steps.join(", ")} (cancel policy "${policy}")` +
      (enabled ? "" : " (PREBUILDS_CANCEL_PENDING=false: this will be skipped)"),
  };
}

function planActive(
  snapshot: PresetSnapshot,
  state: PresetState,
  desired: DesiredInstances,
  rule: ExpiryRule,
): Action[] {
  const actions: Action[] = [];
  const running = snapshot.running.length;
  // Expired first and as their own action, so the reason and the metrics tell them apart.
  // (The reference deletes them in row order; we keep "oldest first" for every Delete.)
  if (state.expired > 0) {
    actions.push({
      _tag: "Delete",
      workspaceIds: oldestFirst(snapshot.expired).map((p) => p.workspaceId),
      because: "expired",
      reason:
        `${state.expired} of ${plural(state.actual, "running prebuild")} expired ` +
        `(${describeExpiry(rule)}) → delete ${state.expired}, oldest first`,
    });
  }
  // Extraneous is counted among non-expired prebuilds only, and ignores deletions in progress
  // (reference: "delete-inhibit" still deletes).
  if (state.extraneous > 0) {
    const victims = oldestFirst(snapshot.running).slice(0, state.extraneous);
    actions.push({
      _tag: "Delete",
      workspaceIds: victims.map((p) => p.workspaceId),
      because: "extraneous",
      reason: `${describeDesired(desired)}, running ${running} → delete ${state.extraneous} extraneous, oldest first`,
    });
  }
  // Starting builds count toward the target; stopping and deleting ones do not.
  const toCreate = Math.max(state.desired - running - state.starting, 0);
  if (toCreate > 0) {
    const expiredNote = state.expired > 0 ? ` (not counting ${state.expired} expired)` : "";
    // Reference semantics: the executor, not the planner, skips these; the reason warns ahead.
    const gates: string[] = [];
    if (snapshot.isHardLimited) gates.push("preset is hard-limited");
    if (snapshot.preset.prebuildStatus === "validation_failed") {
      gates.push("preset failed validation");
    }
    const gate = gates.length > 0 ? ` (${gates.join(", ")}: creation will be skipped)` : "";
    actions.push({
      _tag: "Create",
      count: toCreate,
      reason:
        `${describeDesired(desired)}, running ${running}${expiredNote}, ` +
        `starting ${state.starting} → create ${toCreate}${gate}`,
    });
  }
  return actions;
}

/**
 * The decision for one preset at `now` (reference §4). `cache` memoises schedule parsing across
 * the presets of one planner call (planAll passes one); omit it for a single preset.
 */
export function planPreset(
  snapshot: PresetSnapshot,
  now: Date,
  options: PlanOptions,
  cache: ScheduleCache = new ScheduleCache(),
): PresetPlan {
  const { preset } = snapshot;
  const warnings: string[] = [];
  const warn = (s: string): void => {
    warnings.push(
      `preset "${preset.presetName}" (${preset.presetId}) of template "${preset.templateName}" ` +
        `version "${preset.templateVersionName}": ${s}`,
    );
  };
  const active = isActive(preset);
  const rule = expiryRule(preset);
  const desired = active ? presetDesiredAt(snapshot, now, cache) : INACTIVE_DESIRED;
  // Configuration problems only matter (and are only reported) while the preset is in use.
  if (active) {
    if (desired.clamped !== undefined) warn(desired.clamped);
    if (desired.problem !== undefined) warn(desired.problem);
    if (rule.problem !== undefined) warn(rule.problem);
  }
  const state = stateFor(snapshot, desired.count);
  const controls = {
    paused: describePause(snapshot),
    desiredOverride: snapshot.desiredOverride ?? null,
  };
  // Paused: nothing at all, not even a backoff (the executor has nothing to wait for).
  if (controls.paused !== null)
    return { state, desired, actions: [], warnings, active, ...controls };
  const backoff = backoffGate(snapshot, now, options);
  if (backoff !== null) {
    return { state, desired, actions: [backoff], warnings, active, ...controls };
  }
  const actions = active
    ? planActive(snapshot, state, desired, rule)
    : planInactive(snapshot, now, options);
  const stopped = deleteStopped(snapshot);
  // Before a Create, so the reasons read in order; after CancelPending and the other deletes.
  if (stopped !== null) {
    const create = actions.findIndex((a) => a._tag === "Create");
    actions.splice(create === -1 ? actions.length : create, 0, stopped);
  }
  return { state, desired, actions, warnings, active, ...controls };
}

/** PREBUILDS_REPLACE_STOPPED (issue #15): the preset's prebuilds whose latest build is a stop that
 *  succeeded or failed hold no workspace anyone can claim; delete them (the fill replaces them). */
function deleteStopped(snapshot: PresetSnapshot): DeleteAction | null {
  const stopped = snapshot.stopped ?? [];
  if (stopped.length === 0) return null;
  const failed = stopped.filter((p) => p.stopStatus === "failed").length;
  const causes = [
    ...(stopped.length - failed > 0 ? [`${stopped.length - failed} stopped`] : []),
    ...(failed > 0 ? [`${failed} whose stop failed`] : []),
  ].join(", ");
  const victims = oldestFirst(stopped);
  return {
    _tag: "Delete",
    workspaceIds: victims.map((p) => p.workspaceId),
    because: "stopped",
    reason: `${plural(stopped.length, "prebuild")} no longer running (${causes}) → delete ${stopped.length}, oldest first (PREBUILDS_REPLACE_STOPPED)`,
  };
}

/** "template "t" paused at …" / "preset "p" of template "t" paused at …"; null when not paused. */
function describePause(snapshot: PresetSnapshot): string | null {
  const pause = snapshot.pause ?? null;
  if (pause === null) return null;
  const template = JSON.stringify(snapshot.preset.templateName);
  const scope =
    pause.presetName === ""
      ? { what: `template ${template}`, resume: `--template ${template}` }
      : {
          what: `preset ${JSON.stringify(pause.presetName)} of template ${template}`,
          resume: `--template ${template} --preset ${JSON.stringify(pause.presetName)}`,
        };
  return `${scope.what} is paused (since ${time(pause.pausedAt)}): nothing is created, deleted or cancelled until \`prebuildsd resume ${scope.resume}\``;
}
