// Maps the generated rows of queries/snapshot.sql to the planner's types. Enums are checked here,
// so a value the planner does not know never reaches it.
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

const PREBUILD_STATUSES: ReadonlySet<string> = new Set([
  "healthy",
  "hard_limited",
  "validation_failed",
]);
const TRANSITIONS: ReadonlySet<string> = new Set(["start", "stop", "delete"]);

export function decodePrebuildStatus(value: string | null): PrebuildStatus {
  // The column is an enum with these three values; anything else is treated as healthy.
  return value !== null && PREBUILD_STATUSES.has(value) ? (value as PrebuildStatus) : "healthy";
}

function decodeTransition(value: string | null): Transition | null {
  return value !== null && TRANSITIONS.has(value) ? (value as Transition) : null;
}

function asNumber(value: number | string | null): number | null {
  if (value === null) return null;
  return typeof value === "number" ? value : Number(value);
}

export function toPresetRow(row: GetTemplatePresetsWithPrebuildsRow): PresetRow {
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
    lastInvalidatedAt: row.lastInvalidatedAt ?? null,
  };
}

export function toScheduleRow(row: GetActivePresetPrebuildSchedulesRow): ScheduleRow {
  return {
    presetId: row.presetId,
    cronExpression: row.cronExpression,
    desiredInstances: asNumber(row.desiredInstances) ?? 0,
  };
}

export function toRunningPrebuild(row: GetRunningPrebuiltWorkspacesRow): RunningPrebuild {
  return {
    workspaceId: row.workspaceId,
    name: row.workspaceName ?? "",
    templateId: row.templateId,
    templateVersionId: row.templateVersionId,
    // Typed non-null by the generator (the column is a cast expression), but null when no start
    // build of the workspace had a preset.
    presetId: row.currentPresetId ?? null,
    ready: row.ready === true,
    createdAt: row.createdAt,
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
  return { presetId: row.presetId, count: asNumber(row.count) ?? 0 };
}

/** A GetPresetFailures row of kind 'backoff'; null for the other kind. */
export function toBackoffRow(row: GetPresetFailuresRow): BackoffRow | null {
  if (row.kind !== "backoff" || row.presetId === null || row.lastBuildAt === null) return null;
  return {
    presetId: row.presetId,
    numFailed: asNumber(row.numFailed) ?? 0,
    lastBuildAt: row.lastBuildAt,
    firstFailedAt: row.firstFailedAt,
  };
}

/** The preset of a GetPresetFailures row of kind 'hard_limit'; null for the other kind. */
export function toHardLimitedPresetId(row: GetPresetFailuresRow): string | null {
  return row.kind === "hard_limit" ? row.presetId : null;
}
