// Maps the generated rows of queries/snapshot.sql to the planner's types, and is where values the
// database should never hand us are caught (issue #17: the planner trusts its types). Enums are
// checked, so a value the planner does not know never reaches it; counts are non-negative whole
// numbers; times are valid and not later than the database's clock read in the snapshot's
// transaction (issue #11: such a time was written by a clock ahead of the database's and is read
// as that clock). Each repair adds a problem naming the row; the caller logs problems as errors.
// What stays with the planner is configuration it interprets (a desired count out of range, a
// negative TTL, a cron it cannot use): storable values with a documented fallback.
import type {
  CountInProgressPrebuildsRow,
  CountPendingNonActivePrebuildsRow,
  GetActivePresetPrebuildSchedulesRow,
  GetLatestPrebuildStartBuildsRow,
  GetTemplatePresetsWithPrebuildsRow,
} from "../db/sql/snapshot_sql.ts";
import type {
  BackoffRow,
  InProgressCount,
  LatestStartBuild,
  PendingCount,
  PrebuildStatus,
  PresetRow,
  RunningPrebuild,
  ScheduleRow,
  Transition,
} from "../plan/index.ts";
import { DEFAULT_CANCEL_POLICY, isCancelPolicy } from "../plan/index.ts";

const PREBUILD_STATUSES: ReadonlySet<string> = new Set([
  "healthy",
  "hard_limited",
  "validation_failed",
]);
const TRANSITIONS: ReadonlySet<string> = new Set(["start", "stop", "delete"]);

function decodePrebuildStatus(value: string | null): PrebuildStatus {
  // The column is an enum with these three values; anything else is treated as healthy.
  return value !== null && PREBUILD_STATUSES.has(value) ? (value as PrebuildStatus) : "healthy";
}

function decodeTransition(value: string | null): Transition | null {
  return value !== null && TRANSITIONS.has(value) ? (value as Transition) : null;
}

/**
 * The database's clock as read in the snapshot's transaction, and where problems go. Every
 * decoder that reads a stored time takes one.
 */
export interface DecodeClock {
  readonly now: Date;
  readonly problems: string[];
}

function isValidTime(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

/**
 * A stored time: `value`; `clock.now` when it is later than the clock, or when it is not a valid
 * time at all ('infinity', a driver returning something else), with a problem naming `what`.
 */
export function notAfterClock(value: Date, clock: DecodeClock, what: string): Date {
  if (!isValidTime(value)) {
    clock.problems.push(
      `${what} is ${String(value)}, not a valid time; reading it as the database's clock (${clock.now.toISOString()})`,
    );
    return clock.now;
  }
  if (!(value.getTime() > clock.now.getTime())) return value;
  clock.problems.push(
    `${what} is ${value.toISOString()}, later than the database's clock (${clock.now.toISOString()}): it was written by a clock ahead of the database's; reading it as ${clock.now.toISOString()} — every time prebuildsd writes now comes from the database, so only rows written before that fix or by other tools are affected`,
  );
  return clock.now;
}

function asNumber(value: number | string | null): number | null {
  if (value === null) return null;
  return typeof value === "number" ? value : Number(value);
}

/**
 * A count (count(*), a counter column): a non-negative whole number. Anything else cannot come
 * from the queries as written, so it is read as its whole non-negative part (0 for NaN or a
 * negative), with a problem naming `what`.
 */
function decodeCount(value: number | string | null, clock: DecodeClock, what: string): number {
  const n = asNumber(value) ?? 0;
  if (Number.isSafeInteger(n) && n >= 0) return n;
  const repaired =
    Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
  clock.problems.push(`${what} is ${String(value)}, not a count; using ${repaired}`);
  return repaired;
}

export function toPresetRow(
  row: GetTemplatePresetsWithPrebuildsRow,
  clock: DecodeClock,
): PresetRow {
  const where = `preset "${row.presetName}" (${row.presetId}) of template "${row.templateName ?? ""}"`;
  let lastInvalidatedAt: Date | null = null;
  if (row.lastInvalidatedAt !== null && row.lastInvalidatedAt !== undefined) {
    if (isValidTime(row.lastInvalidatedAt)) {
      lastInvalidatedAt = notAfterClock(
        row.lastInvalidatedAt,
        clock,
        `${where}: last_invalidated_at`,
      );
    } else {
      // Read as the clock it would invalidate every prebuild: ignore it instead.
      clock.problems.push(
        `${where}: last_invalidated_at is ${String(row.lastInvalidatedAt)}, not a valid time; ignoring it`,
      );
    }
  }
  return {
    presetId: row.presetId,
    presetName: row.presetName,
    templateId: row.templateId,
    templateName: row.templateName ?? "",
    organizationId: row.organizationId,
    organizationName: row.organizationName,
    templateVersionId: row.templateVersionId,
    templateVersionName: row.templateVersionName,
    usingActiveVersion: row.usingActiveVersion === true,
    templateDeleted: row.templateDeleted === true,
    templateDeprecated: row.templateDeprecated === true,
    desiredInstances: asNumber(row.desiredInstances) ?? 0,
    ttlSeconds: asNumber(row.ttlSeconds),
    prebuildStatus: decodePrebuildStatus(row.prebuildStatus),
    schedulingTimezone: row.schedulingTimezone ?? "",
    lastInvalidatedAt,
    // The column's CHECK admits only the three; anything else reads as the default.
    cancelPolicy: isCancelPolicy(row.cancelPolicy) ? row.cancelPolicy : DEFAULT_CANCEL_POLICY,
  };
}

export function toScheduleRow(row: GetActivePresetPrebuildSchedulesRow): ScheduleRow {
  return {
    presetId: row.presetId,
    cronExpression: row.cronExpression,
    desiredInstances: asNumber(row.desiredInstances) ?? 0,
  };
}

/** The columns every prebuild read shares (running and stopped prebuilds). */
type PrebuildColumns = Pick<
  GetLatestPrebuildStartBuildsRow,
  | "workspaceId"
  | "workspaceName"
  | "templateId"
  | "templateVersionId"
  | "currentPresetId"
  | "createdAt"
>;

/** A prebuild's identity, preset and age, decoded; shared by running and stopped prebuilds. */
export function toPrebuildIdentity(row: PrebuildColumns, clock: DecodeClock) {
  return {
    workspaceId: row.workspaceId,
    name: row.workspaceName ?? "",
    templateId: row.templateId,
    templateVersionId: row.templateVersionId,
    // Typed non-null by the generator (the column is a cast expression), but null when no start
    // build of the workspace had a preset.
    presetId: row.currentPresetId ?? null,
    createdAt: notAfterClock(
      row.createdAt,
      clock,
      `prebuild "${row.workspaceName ?? ""}" (${row.workspaceId}): created_at`,
    ),
  };
}

/** A live prebuild's latest start build: what the failure rules count, and (when it succeeded)
 *  a running prebuild. */
export interface DecodedStartBuild {
  readonly build: LatestStartBuild;
  /** Null unless the build succeeded. */
  readonly running: RunningPrebuild | null;
}

export function toLatestStartBuild(
  row: GetLatestPrebuildStartBuildsRow,
  clock: DecodeClock,
): DecodedStartBuild {
  // Ranked by the stored time, later than the clock or not (as the database would rank it); only
  // the times a backoff reports are checked against the clock (toBackoffTimes). A time that is no
  // time at all cannot be ranked: it reads as the clock, with a problem.
  const createdAt = isValidTime(row.buildCreatedAt)
    ? row.buildCreatedAt
    : notAfterClock(
        row.buildCreatedAt,
        clock,
        `prebuild "${row.workspaceName ?? ""}" (${row.workspaceId}): its latest build's created_at`,
      );
  const build: LatestStartBuild = {
    presetId: row.buildPresetId ?? null,
    templateVersionId: row.templateVersionId,
    failed: row.failed === true,
    createdAt,
    countsTowardFailures: row.countsTowardFailures !== false,
  };
  if (row.succeeded !== true) return { build, running: null };
  return { build, running: { ...toPrebuildIdentity(row, clock), ready: row.ready === true } };
}

/**
 * A backoff row's times as the planner may use them: the latest counted failure not later than
 * the clock (a failure dated ahead of the database's clock would hold the preset back for as long
 * as that clock is ahead), with a problem naming the preset.
 */
export function toBackoffTimes(row: BackoffRow, clock: DecodeClock): BackoffRow {
  return {
    ...row,
    lastBuildAt: notAfterClock(
      row.lastBuildAt,
      clock,
      `the latest failed build of preset ${row.presetId}: created_at`,
    ),
  };
}

export function toInProgressCount(
  row: CountInProgressPrebuildsRow,
  clock: DecodeClock,
): InProgressCount | null {
  const transition = decodeTransition(row.transition);
  if (transition === null) return null;
  return {
    templateId: row.templateId,
    templateVersionId: row.templateVersionId,
    presetId: row.presetId ?? null,
    transition,
    count: decodeCount(
      row.count,
      clock,
      `the in-progress ${transition} count of preset ${row.presetId ?? "(none)"}`,
    ),
  };
}

export function toPendingCount(
  row: CountPendingNonActivePrebuildsRow,
  clock: DecodeClock,
): PendingCount | null {
  if (row.presetId === null) return null;
  return {
    presetId: row.presetId,
    count: decodeCount(row.count, clock, `the pending count of preset ${row.presetId}`),
    runningCount: decodeCount(
      row.runningCount,
      clock,
      `the stale running count of preset ${row.presetId}`,
    ),
    canceledCount: decodeCount(
      row.canceledCount,
      clock,
      `the canceled first-build count of preset ${row.presetId}`,
    ),
  };
}
