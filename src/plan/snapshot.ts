// What the snapshot room hands the planner (rows already decoded), and the per-preset view of it.
// Indexing is done once per snapshot so that planning N presets costs O(N + rows), not O(N × rows).

import type { CancelPolicy } from "./cancelPolicy.ts";
import { splitExpired } from "./expiry.ts";

export type PrebuildStatus = "healthy" | "hard_limited" | "validation_failed";
export type Transition = "start" | "stop" | "delete";

/** One preset with non-null desired_instances, any version, any template. */
export interface PresetRow {
  readonly presetId: string;
  readonly presetName: string;
  readonly templateId: string;
  readonly templateName: string;
  readonly organizationId: string;
  readonly organizationName: string;
  readonly templateVersionId: string;
  readonly templateVersionName: string;
  readonly usingActiveVersion: boolean;
  readonly templateDeleted: boolean;
  readonly templateDeprecated: boolean;
  /** Static pool size. May be hostile (negative, huge, fractional): the planner clamps it. */
  readonly desiredInstances: number;
  /** invalidate_after_secs; null or 0 = no expiry; negative is treated as no expiry (with a warning). */
  readonly ttlSeconds: number | null;
  readonly prebuildStatus: PrebuildStatus;
  /** IANA time zone for the schedules; "" = none. */
  readonly schedulingTimezone: string;
  readonly lastInvalidatedAt: Date | null;
  /** The template's cancel policy (issue #13); absent = "pending". */
  readonly cancelPolicy?: CancelPolicy;
}

export interface ScheduleRow {
  readonly presetId: string;
  readonly cronExpression: string;
  readonly desiredInstances: number;
}

/** A prebuild whose latest build is start + succeeded, owned by the prebuilds user, not deleted. */
export interface RunningPrebuild {
  readonly workspaceId: string;
  readonly name: string;
  readonly templateId: string;
  readonly templateVersionId: string;
  /** The preset of the most recent start build that had one; null rows belong to no preset. */
  readonly presetId: string | null;
  readonly ready: boolean;
  readonly createdAt: Date;
}

/** Pending or running prebuild jobs of active versions, grouped. */
export interface InProgressCount {
  readonly templateId: string;
  readonly templateVersionId: string;
  readonly presetId: string | null;
  readonly transition: Transition;
  readonly count: number;
}

/** Pending first builds (build_number 1, start) of inactive presets, per preset. */
/** Stale first builds of one inactive preset (CountPendingNonActivePrebuilds). */
export interface PendingCount {
  readonly presetId: string;
  /** Pending, never acquired: what CancelPending cancels (policies pending and running). */
  readonly count: number;
  /** Acquired and running, not asked to cancel yet: what policy `running` asks to cancel. */
  readonly runningCount?: number;
  /** Ended as canceled after a worker had acquired them, workspace not deleted yet: each needs
   *  a delete build through a provisioner (something may have been provisioned). */
  readonly canceledCount?: number;
}

export interface BackoffRow {
  readonly presetId: string;
  readonly numFailed: number;
  readonly lastBuildAt: Date;
  /** The oldest failure counted in num_failed: when it leaves the lookback, the count drops. */
  readonly firstFailedAt?: Date | null;
}

/** A pause of a whole template (`presetName` "") or of one preset name in it, every version
 *  (`prebuildsd pause --template/--preset`, issue #15). */
export interface PauseRow {
  readonly templateId: string;
  readonly presetName: string;
  readonly pausedAt: Date;
}

/** `prebuildsd scale`: the count that replaces a preset's static desired_instances. */
export interface DesiredOverrideRow {
  readonly presetId: string;
  readonly desiredInstances: number;
}

export type RolloutStrategy = "replace" | "surge";

/** A template's rollout strategy and its last promotion (either may be missing). */
export interface RolloutRow {
  readonly templateId: string;
  readonly strategy: RolloutStrategy;
  /** When the active version was last promoted (the rollout's start); null if never recorded. */
  readonly promotedAt: Date | null;
  /** The version that was active before that promotion: the one a surge keeps serving. */
  readonly previousVersionId: string | null;
}

/** The operator's pool controls, read whole (a handful of rows) each cycle. */
export interface PoolControls {
  readonly pauses: readonly PauseRow[];
  readonly desiredOverrides: readonly DesiredOverrideRow[];
  readonly rollouts: readonly RolloutRow[];
}

export const NO_POOL_CONTROLS: PoolControls = { pauses: [], desiredOverrides: [], rollouts: [] };

/** An unclaimed prebuild whose latest build is a stop that succeeded or failed (read only with
 *  PREBUILDS_REPLACE_STOPPED, issue #15). */
export interface StoppedPrebuild {
  readonly workspaceId: string;
  readonly name: string;
  readonly templateId: string;
  readonly templateVersionId: string;
  readonly presetId: string | null;
  /** The stop build's job status. */
  readonly stopStatus: "succeeded" | "failed";
  readonly createdAt: Date;
}

/**
 * A surge rollout holding back the deletion of an old version's eligible prebuilds (issue #15):
 * computed per preset of the template's previous version by src/plan/surge.ts.
 */
export interface SurgeHold {
  /** The active version's preset of the same name, whose eligible prebuilds replace these. */
  readonly newPresetId: string;
  readonly newDesired: number;
  /** Its eligible prebuilds (non-expired, ready) at the planned instant. */
  readonly newEligible: number;
  /** This (old) preset's eligible prebuilds. */
  readonly oldEligible: number;
  /** The promotion that started the rollout, and its bound (+ PREBUILDS_ROLLOUT_MAX_WAIT). */
  readonly startedAt: Date;
  readonly deadline: Date;
  /** Old eligible prebuilds kept this cycle: min(oldEligible, newDesired − newEligible) before the
   *  deadline, 0 from it on. */
  readonly keep: number;
}

export interface GlobalSnapshot {
  readonly presets: readonly PresetRow[];
  readonly schedules: readonly ScheduleRow[];
  readonly running: readonly RunningPrebuild[];
  readonly inProgress: readonly InProgressCount[];
  readonly pendingNonActive: readonly PendingCount[];
  readonly backoffs: readonly BackoffRow[];
  readonly hardLimitedPresetIds: ReadonlySet<string>;
  /** Prebuild jobs pending, running or canceling, of any preset (issue #13's cap); absent = 0. */
  readonly inflightPrebuildJobs?: number;
  /** Absent: no pool controls (NO_POOL_CONTROLS). */
  readonly controls?: PoolControls;
  /** Stopped prebuilds to replace; absent or empty unless PREBUILDS_REPLACE_STOPPED is on. */
  readonly stopped?: readonly StoppedPrebuild[];
}

/** A snapshot with nothing in it: no preset wants prebuilds. */
export const EMPTY_GLOBAL_SNAPSHOT: GlobalSnapshot = {
  presets: [],
  schedules: [],
  running: [],
  inProgress: [],
  pendingNonActive: [],
  backoffs: [],
  hardLimitedPresetIds: new Set(),
};

export interface PresetSnapshot {
  readonly preset: PresetRow;
  readonly schedules: readonly ScheduleRow[];
  /** Running prebuilds of this preset that are not expired at `now`. */
  readonly running: readonly RunningPrebuild[];
  /** Running prebuilds of this preset that are expired at `now` (TTL or manual invalidation). */
  readonly expired: readonly RunningPrebuild[];
  readonly inProgress: readonly InProgressCount[];
  readonly pendingCount: number;
  /** Running first builds of this inactive preset not asked to cancel yet (absent = 0). */
  readonly staleRunningCount?: number;
  /** Canceled first builds of this inactive preset that a worker had acquired, whose workspace
   *  still needs a delete build (absent = 0). */
  readonly canceledOrphanCount?: number;
  readonly backoff: BackoffRow | null;
  readonly isHardLimited: boolean;
  /** The pause that covers this preset (issue #15); absent or null: not paused. */
  readonly pause?: PauseRow | null;
  /** `prebuildsd scale`'s count for this preset; absent or null: none. */
  readonly desiredOverride?: number | null;
  /** Stopped prebuilds of this preset to replace (PREBUILDS_REPLACE_STOPPED). */
  readonly stopped?: readonly StoppedPrebuild[];
  /** Set for a preset of a surge rollout's previous version (planAll attaches it). */
  readonly surge?: SurgeHold | null;
}

/** The global snapshot grouped by preset id, built once per cycle. */
export interface SnapshotIndex {
  readonly global: GlobalSnapshot;
  readonly schedulesByPreset: ReadonlyMap<string, readonly ScheduleRow[]>;
  readonly runningByPreset: ReadonlyMap<string, readonly RunningPrebuild[]>;
  readonly inProgressByPreset: ReadonlyMap<string, readonly InProgressCount[]>;
  readonly pendingByPreset: ReadonlyMap<string, number>;
  readonly staleRunningByPreset: ReadonlyMap<string, number>;
  readonly canceledOrphansByPreset: ReadonlyMap<string, number>;
  readonly backoffByPreset: ReadonlyMap<string, BackoffRow>;
  /** Running prebuilds with no preset id: counted by no preset, so never created for nor deleted. */
  readonly runningWithoutPreset: number;
  /** Pauses by template id, then by preset name ("" = the whole template). */
  readonly pausesByTemplate: ReadonlyMap<string, ReadonlyMap<string, PauseRow>>;
  readonly overrideByPreset: ReadonlyMap<string, number>;
  readonly rolloutByTemplate: ReadonlyMap<string, RolloutRow>;
  /** Presets of active versions by template id and preset name (a surge's pairs). */
  readonly activePresetByName: ReadonlyMap<string, PresetRow>;
  readonly stoppedByPreset: ReadonlyMap<string, readonly StoppedPrebuild[]>;
}

const EMPTY: readonly never[] = Object.freeze([]);

function groupBy<T>(rows: readonly T[], key: (row: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    if (k === null) continue;
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [row]);
    else group.push(row);
  }
  return groups;
}

export function indexSnapshot(global: GlobalSnapshot): SnapshotIndex {
  const pendingByPreset = new Map<string, number>();
  const staleRunningByPreset = new Map<string, number>();
  const canceledOrphansByPreset = new Map<string, number>();
  for (const row of global.pendingNonActive) {
    // Duplicate rows add up; the planner clamps hostile (negative, NaN) totals.
    pendingByPreset.set(row.presetId, (pendingByPreset.get(row.presetId) ?? 0) + row.count);
    if (row.runningCount !== undefined) {
      const sum = (staleRunningByPreset.get(row.presetId) ?? 0) + row.runningCount;
      staleRunningByPreset.set(row.presetId, sum);
    }
    if (row.canceledCount !== undefined) {
      const sum = (canceledOrphansByPreset.get(row.presetId) ?? 0) + row.canceledCount;
      canceledOrphansByPreset.set(row.presetId, sum);
    }
  }
  const backoffByPreset = new Map<string, BackoffRow>();
  for (const row of global.backoffs) {
    // The query yields one row per preset; should it ever yield two, the first wins.
    if (!backoffByPreset.has(row.presetId)) backoffByPreset.set(row.presetId, row);
  }
  let runningWithoutPreset = 0;
  for (const row of global.running) if (row.presetId === null) runningWithoutPreset++;
  const controls = global.controls ?? NO_POOL_CONTROLS;
  const pausesByTemplate = new Map<string, Map<string, PauseRow>>();
  for (const row of controls.pauses) {
    const byName = pausesByTemplate.get(row.templateId) ?? new Map<string, PauseRow>();
    byName.set(row.presetName, row);
    pausesByTemplate.set(row.templateId, byName);
  }
  return {
    global,
    schedulesByPreset: groupBy(global.schedules, (s) => s.presetId),
    runningByPreset: groupBy(global.running, (r) => r.presetId),
    inProgressByPreset: groupBy(global.inProgress, (r) => r.presetId),
    pendingByPreset,
    staleRunningByPreset,
    canceledOrphansByPreset,
    backoffByPreset,
    runningWithoutPreset,
    pausesByTemplate,
    overrideByPreset: new Map(
      controls.desiredOverrides.map((o) => [o.presetId, o.desiredInstances]),
    ),
    rolloutByTemplate: new Map(controls.rollouts.map((r) => [r.templateId, r])),
    activePresetByName: new Map(
      global.presets
        .filter((p) => p.usingActiveVersion)
        .map((p) => [presetNameKey(p.templateId, p.presetName), p]),
    ),
    stoppedByPreset: groupBy(global.stopped ?? EMPTY, (r) => r.presetId),
  };
}

/** The key of `SnapshotIndex.activePresetByName`. */
export function presetNameKey(templateId: string, presetName: string): string {
  return `${templateId}\u0000${presetName}`;
}

/** The pause covering `preset`: its template's, else its preset name's; null when none. */
function pauseOf(index: SnapshotIndex, preset: PresetRow): PauseRow | null {
  const byName = index.pausesByTemplate.get(preset.templateId);
  return byName?.get("") ?? byName?.get(preset.presetName) ?? null;
}

/**
 * The slice of the snapshot that concerns one preset, with its running prebuilds split into
 * non-expired and expired at `now`. `index` comes from `indexSnapshot`, built once per snapshot.
 */
export function filterByPreset(index: SnapshotIndex, preset: PresetRow, now: Date): PresetSnapshot {
  const id = preset.presetId;
  const { running, expired } = splitExpired(preset, index.runningByPreset.get(id) ?? EMPTY, now);
  return {
    preset,
    schedules: index.schedulesByPreset.get(id) ?? EMPTY,
    running,
    expired,
    inProgress: index.inProgressByPreset.get(id) ?? EMPTY,
    pendingCount: index.pendingByPreset.get(id) ?? 0,
    staleRunningCount: index.staleRunningByPreset.get(id) ?? 0,
    canceledOrphanCount: index.canceledOrphansByPreset.get(id) ?? 0,
    backoff: index.backoffByPreset.get(id) ?? null,
    isHardLimited: index.global.hardLimitedPresetIds.has(id),
    pause: pauseOf(index, preset),
    desiredOverride: index.overrideByPreset.get(id) ?? null,
    stopped: index.stoppedByPreset.get(id) ?? EMPTY,
  };
}
