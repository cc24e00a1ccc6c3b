// The snapshot room: everything a cycle decides from, read in a constant number of statements
// (the database's clock, the in-flight prebuild jobs, then five reads — the reference's seven, with
// the running prebuilds, backoff and hard limit read in one walk of the latest builds — then the
// operator's pool controls, issue #15)
// inside the caller's REPEATABLE READ transaction, so every read sees the same instant of the
// database however many presets there are. The cycle plans at the database's clock read here
// (`Snapshot.at`), never the process's (issue #11: one clock). The presets are read after the running prebuilds and pending first builds, so that
// inactive presets with nothing of either (most of a long-lived fleet, and exactly those the
// planner's canSkip would skip) are not read at all.
import type { SqlClient } from "../db/pool.ts";
import {
  countInflightPrebuildJobs,
  countInProgressPrebuilds,
  countPendingNonActivePrebuilds,
  type GetTemplatePresetsWithPrebuildsRow,
  getActivePresetPrebuildSchedules,
  getDatabaseClock,
  getLatestPrebuildStartBuilds,
  getTemplatePresetsWithPrebuilds,
} from "../db/sql/snapshot_sql.ts";
import {
  EMPTY_GLOBAL_SNAPSHOT,
  type GlobalSnapshot,
  type LatestStartBuild,
  presetFailures,
  type RunningPrebuild,
} from "../plan/index.ts";
import {
  type DecodeClock,
  toBackoffTimes,
  toInProgressCount,
  toLatestStartBuild,
  toPendingCount,
  toPresetRow,
  toScheduleRow,
} from "./decode.ts";
import { readPoolControls, readStoppedPrebuilds } from "./poolControls.ts";

export interface SnapshotOptions {
  /** Plan for this instant instead of the database's clock (`plan --at`, tests); failures since
   *  `at − backoffLookback` count toward backoff. Stored times are still checked against the
   *  database's clock, not this. */
  readonly at?: Date | undefined;
  /** Milliseconds. */
  readonly backoffLookback: number;
  /** Consecutive failed builds that hard-limit a preset; 0 disables the limit. */
  readonly failureHardLimit: number;
  /** Read the inactive presets with nothing to do too (`plan` lists them; a cycle need not). */
  readonly everyPreset?: boolean;
  /**
   * Read only these presets (an incremental cycle, issue #16): every one of them that wants
   * prebuilds, active or not, with its running prebuilds, schedules, jobs and failures. Absent:
   * every preset that can have something to do.
   */
  readonly presetIds?: readonly string[];
  /** Read the prebuilds whose latest build is a finished stop (PREBUILDS_REPLACE_STOPPED). */
  readonly replaceStopped?: boolean;
}

/** The snapshot, and bad data found while reading it (one sentence each, naming the row). */
export interface Snapshot extends GlobalSnapshot {
  readonly problems: readonly string[];
  /** The database's clock (statement_timestamp()) read in the snapshot's transaction. */
  readonly clock: Date;
  /** The instant to plan for: `options.at` when given, else `clock`. A cycle plans with this
   *  (`planAll(snapshot, snapshot.at, …)`). */
  readonly at: Date;
}

function present<T>(value: T | null): value is T {
  return value !== null;
}

/**
 * Reads the global snapshot with `client` (which should hold a REPEATABLE READ transaction).
 * `presets` holds every active preset and every inactive one with a running prebuild or a pending
 * first build; the inactive presets left out have nothing to do (see GetTemplatePresetsWithPrebuilds),
 * unless `everyPreset` asks for them.
 */
export async function takeSnapshot(client: SqlClient, options: SnapshotOptions): Promise<Snapshot> {
  const clockRow = await getDatabaseClock(client);
  if (clockRow === null) throw new Error("SELECT statement_timestamp() returned no row");
  const clock: DecodeClock = { now: clockRow.now, problems: [] };
  const at = options.at ?? clock.now;
  const empty = (inflightPrebuildJobs: number): Snapshot => ({
    ...EMPTY_GLOBAL_SNAPSHOT,
    problems: clock.problems,
    clock: clock.now,
    at,
    inflightPrebuildJobs,
  });
  // Global (the in-flight cap, issue #13): read whatever subset of presets the cycle plans.
  const inflightPrebuildJobs = (await countInflightPrebuildJobs(client))?.inflight ?? 0;
  const only = options.presetIds !== undefined;
  const subset = { onlyPresets: only, presetIds: only ? [...(options.presetIds ?? [])] : [] };
  if (only && subset.presetIds.length === 0) return empty(inflightPrebuildJobs);
  const latestStartBuilds: LatestStartBuild[] = [];
  const running: RunningPrebuild[] = [];
  for (const row of await getLatestPrebuildStartBuilds(client, subset)) {
    const decoded = toLatestStartBuild(row, clock);
    latestStartBuilds.push(decoded.build);
    if (decoded.running !== null) running.push(decoded.running);
  }
  const pendingNonActive = (await countPendingNonActivePrebuilds(client, subset))
    .map((r) => toPendingCount(r, clock))
    .filter(present);
  const stopped = options.replaceStopped ? await readStoppedPrebuilds(client, subset, clock) : [];
  // Inactive presets worth reading: something of theirs is running, stopped or pending. A full
  // read adds them to the active ones; a subset read keeps only these and its active presets.
  const keepPresetIds = new Set<string>();
  for (const r of running) if (r.presetId !== null) keepPresetIds.add(r.presetId);
  for (const p of pendingNonActive) keepPresetIds.add(p.presetId);
  for (const r of stopped) if (r.presetId !== null) keepPresetIds.add(r.presetId);
  const presetRows = await getTemplatePresetsWithPrebuilds(client, {
    onlyPresets: only,
    everyPreset: options.everyPreset ?? false,
    presetIds: only ? subset.presetIds : [...keepPresetIds],
    keepPresetIds: only ? [...keepPresetIds] : [],
  });
  const presets = presetRows.map((r) => toPresetRow(r, clock));
  // No preset has anything to do: nothing else can matter (the reference stops here too).
  if (presets.length === 0) return empty(inflightPrebuildJobs);
  const dangling = danglingActiveVersions(presetRows);
  const schedules = (await getActivePresetPrebuildSchedules(client, subset)).map(toScheduleRow);
  const inProgress = (await countInProgressPrebuilds(client, subset))
    .map((r) => toInProgressCount(r, clock))
    .filter(present);
  const failures = presetFailures(latestStartBuilds, presets, {
    lookback: new Date(at.getTime() - options.backoffLookback),
    hardLimit: Math.max(0, Math.floor(options.failureHardLimit)),
  });
  const backoffs = failures.backoffs.map((row) => toBackoffTimes(row, clock));
  const controls = await readPoolControls(client, clock.problems);
  return {
    problems: [...dangling, ...clock.problems],
    clock: clock.now,
    at,
    presets,
    schedules,
    running,
    inProgress,
    pendingNonActive,
    backoffs,
    hardLimitedPresetIds: failures.hardLimitedPresetIds,
    inflightPrebuildJobs,
    controls,
    stopped,
  };
}

/**
 * Templates whose active_version_id (no foreign key, as in the reference) is none of their
 * versions (possibly a version of another template, named then: issue #11). Their presets all read as inactive: nothing is created and their prebuilds, which
 * nobody can claim without an active version, are deleted. Said once per template and cycle.
 */
function danglingActiveVersions(rows: readonly GetTemplatePresetsWithPrebuildsRow[]): string[] {
  const named = new Map<string, string>();
  for (const row of rows) {
    if (row.activeVersionExists || row.templateDeleted) continue;
    if (row.activeVersionOfTemplate !== "") {
      named.set(
        row.templateId,
        `template "${row.templateName ?? ""}" (${row.templateId}) has an active_version_id that is a version of another template, ${row.activeVersionOfTemplate}: its presets are treated as inactive (no prebuild is created; its existing prebuilds are deleted) and nothing of that version is counted for it; promote one of its own versions with \`prebuildsd promote\``,
      );
      continue;
    }
    named.set(
      row.templateId,
      `template "${row.templateName ?? ""}" (${row.templateId}) has an active_version_id that is none of its versions: its presets are treated as inactive (no prebuild is created; its existing prebuilds are deleted); promote a real version with \`prebuildsd promote\``,
    );
  }
  return [...named.values()];
}
