// The snapshot room: everything a cycle decides from, read in a constant number of statements
// (seven, reference §2.2) inside the caller's REPEATABLE READ transaction, so every read sees the
// same instant of the database however many presets there are.
import type { SqlClient } from "../db/pool.ts";
import {
  countInProgressPrebuilds,
  countPendingNonActivePrebuilds,
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

export const EMPTY_SNAPSHOT: GlobalSnapshot = {
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
export async function takeSnapshot(
  client: SqlClient,
  options: SnapshotOptions,
): Promise<GlobalSnapshot> {
  const presets = (await getTemplatePresetsWithPrebuilds(client)).map(toPresetRow);
  // No preset wants prebuilds: nothing else can matter (the reference stops here too).
  if (presets.length === 0) return EMPTY_SNAPSHOT;
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
    presets,
    schedules,
    running,
    inProgress,
    pendingNonActive,
    backoffs,
    hardLimitedPresetIds: new Set(hardLimited.map((r) => r.presetId).filter(present)),
  };
}
