// Maps the generated rows of queries/snapshot.sql to the planner's types. Enums are checked here,
// so a value the planner does not know never reaches it; so are stored times against the
// database's clock (issue #11): a time later than the clock read in the snapshot's transaction was
// written by a clock ahead of the database's, and is read as that clock, with a problem naming
// the row (the caller logs problems as errors).
import type {
  CountInProgressPrebuildsRow,
  CountPendingNonActivePrebuildsRow,
  GetActivePresetPrebuildSchedulesRow,
  GetPresetFailuresRow,
  GetRunningPrebuiltWorkspacesRow,
  GetTemplatePresetsWithPrebuildsRow,
} from "../db/sql/snapshot_sql.ts";
import type {
  BackoffRow,
  InProgressCount,
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

/** `value`, or `clock.now` when `value` is later (with a problem naming `what`). */
function notAfterClock(value: Date, clock: DecodeClock, what: string): Date {
  if (!(value instanceof Date) || !(value.getTime() > clock.now.getTime())) return value;
  clock.problems.push(
    `${what} is ${value.toISOString()}, later than the database's clock (${clock.now.toISOString()}): it was written by a clock ahead of the database's; reading it as ${clock.now.toISOString()} — every time prebuildsd writes now comes from the database, so only rows written before that fix or by other tools are affected`,
  );
  return clock.now;
}

function asNumber(value: number | string | null): number | null {
  if (value === null) return null;
  return typeof value === "number" ? value : Number(value);
}

export function toPresetRow(
  row: GetTemplatePresetsWithPrebuildsRow,
  clock: DecodeClock,
): PresetRow {
  const lastInvalidatedAt =
    row.lastInvalidatedAt === null || row.lastInvalidatedAt === undefined
      ? null
      : notAfterClock(
          row.lastInvalidatedAt,
          clock,
          `preset "${row.presetName}" (${row.presetId}) of template "${row.templateName ?? ""}": last_invalidated_at`,
        );
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

export function toRunningPrebuild(
  row: GetRunningPrebuiltWorkspacesRow,
  clock: DecodeClock,
): RunningPrebuild {
  return {
    workspaceId: row.workspaceId,
    name: row.workspaceName ?? "",
    templateId: row.templateId,
    templateVersionId: row.templateVersionId,
    // Typed non-null by the generator (the column is a cast expression), but null when no start
    // build of the workspace had a preset.
    presetId: row.currentPresetId ?? null,
    ready: row.ready === true,
    createdAt: notAfterClock(
      row.createdAt,
      clock,
      `prebuild "${row.workspaceName ?? ""}" (${row.workspaceId}): created_at`,
    ),
  };
}

export function toInProgressCount(row: CountInProgressPrebuildsRow): InProgressCount | null {
  const transition = decodeTransition(row.transition);
  if (transition === null) return null;
  return {
    templateId: row.templateId,
    templateVersionId: row.templateVersionId,
    presetId: row.presetId ?? null,
    transition,
    count: asNumber(row.count) ?? 0,
  };
}

export function toPendingCount(row: CountPendingNonActivePrebuildsRow): PendingCount | null {
  if (row.presetId === null) return null;
  return {
    presetId: row.presetId,
    count: asNumber(row.count) ?? 0,
    runningCount: asNumber(row.runningCount) ?? 0,
    canceledCount: asNumber(row.canceledCount) ?? 0,
  };
}

/** A GetPresetFailures row of kind 'backoff'; null for the other kind. */
export function toBackoffRow(row: GetPresetFailuresRow, clock: DecodeClock): BackoffRow | null {
  if (row.kind !== "backoff" || row.presetId === null || row.lastBuildAt === null) return null;
  return {
    presetId: row.presetId,
    numFailed: asNumber(row.numFailed) ?? 0,
    lastBuildAt: notAfterClock(
      row.lastBuildAt,
      clock,
      `the latest failed build of preset ${row.presetId}: created_at`,
    ),
    firstFailedAt: row.firstFailedAt,
  };
}

/** The preset of a GetPresetFailures row of kind 'hard_limit'; null for the other kind. */
export function toHardLimitedPresetId(row: GetPresetFailuresRow): string | null {
  return row.kind === "hard_limit" ? row.presetId : null;
}
