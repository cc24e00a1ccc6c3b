// The snapshot room: everything a cycle decides from, read in a constant number of statements
// (seven, reference §2.2) inside the caller's REPEATABLE READ transaction, so every read sees the
// same instant of the database however many presets there are.
import type { SqlClient } from "../db/pool.ts";
import {
  countInProgressPrebuilds,
  countPendingNonActivePrebuilds,
  type GetTemplatePresetsWithPrebuildsRow,
  getActivePresetPrebuildSchedules,
  getPresetsAtFailureLimit,
  getPresetsBackoff,
  getRunningPrebuiltWorkspaces,
  getTemplatePresetsWithPrebuilds,
} from "../db/sql/snapshot_sql.ts";
import type { GlobalSnapshot } from "../plan/index.ts";
import {
  toBackoffRow,
  toInProgressCount,
  toPendingCount,
  toPresetRow,
  toRunningPrebuild,
  toScheduleRow,
} from "./decode.ts";

export interface SnapshotOptions {
  /** The cycle's time; failures since `now − backoffLookback` count toward backoff. */
  readonly now: Date;
  /** Milliseconds. */
  readonly backoffLookback: number;
  /** Consecutive failed builds that hard-limit a preset; 0 disables the limit. */
  readonly failureHardLimit: number;
}

/** The snapshot, and bad data found while reading it (one sentence each, naming the row). */
export interface Snapshot extends GlobalSnapshot {
  readonly problems: readonly string[];
}

export const EMPTY_SNAPSHOT: Snapshot = {
  problems: [],
  presets: [],
  schedules: [],
  running: [],
  inProgress: [],
  pendingNonActive: [],
  backoffs: [],
  hardLimitedPresetIds: new Set(),
};

function present<T>(value: T | null): value is T {
  return value !== null;
}

/** Reads the global snapshot with `client` (which should hold a REPEATABLE READ transaction). */
export async function takeSnapshot(client: SqlClient, options: SnapshotOptions): Promise<Snapshot> {
  const presetRows = await getTemplatePresetsWithPrebuilds(client);
  const presets = presetRows.map(toPresetRow);
  // No preset wants prebuilds: nothing else can matter (the reference stops here too).
  if (presets.length === 0) return EMPTY_SNAPSHOT;
  const problems = danglingActiveVersions(presetRows);
  const schedules = (await getActivePresetPrebuildSchedules(client)).map(toScheduleRow);
  const running = (await getRunningPrebuiltWorkspaces(client)).map(toRunningPrebuild);
  const inProgress = (await countInProgressPrebuilds(client))
    .map(toInProgressCount)
    .filter(present);
  const pendingNonActive = (await countPendingNonActivePrebuilds(client))
    .map(toPendingCount)
    .filter(present);
  const lookback = new Date(options.now.getTime() - options.backoffLookback);
  const backoffs = (await getPresetsBackoff(client, { lookback }))
    .map(toBackoffRow)
    .filter(present);
  const hardLimited = await getPresetsAtFailureLimit(client, {
    hardLimit: Math.max(0, Math.floor(options.failureHardLimit)),
  });
  return {
    problems,
    presets,
    schedules,
    running,
    inProgress,
    pendingNonActive,
    backoffs,
    hardLimitedPresetIds: new Set(hardLimited.map((r) => r.presetId).filter(present)),
  };
}

/**
 * Templates whose active_version_id (no foreign key, as in the reference) is none of their
 * versions. Their presets all read as inactive: nothing is created and their prebuilds, which
 * nobody can claim without an active version, are deleted. Said once per template and cycle.
 */
function danglingActiveVersions(rows: readonly GetTemplatePresetsWithPrebuildsRow[]): string[] {
  const named = new Map<string, string>();
  for (const row of rows) {
    if (row.activeVersionExists || row.templateDeleted) continue;
    named.set(
      row.templateId,
      `template "${row.templateName ?? ""}" (${row.templateId}) has an active_version_id that is none of its versions: its presets are treated as inactive (no prebuild is created; its existing prebuilds are deleted); promote a real version with \`prebuildsd promote\``,
    );
  }
  return [...named.values()];
}
