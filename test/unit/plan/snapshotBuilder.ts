// Builders for planner tests: rows with sensible defaults, overridden per case.

import type {
  Action,
  BackoffRow,
  GlobalSnapshot,
  InProgressCount,
  PresetRow,
  PresetSnapshot,
  RunningPrebuild,
  Transition,
} from "../../../src/plan/index.ts";
import { EMPTY_GLOBAL_SNAPSHOT } from "../../../src/plan/index.ts";

export const NOW = new Date("2025-06-02T12:00:00Z"); // a Monday
export const BACKOFF_INTERVAL = 5_000;
export const OPTIONS = { backoffInterval: BACKOFF_INTERVAL } as const;
export const TEMPLATE_ID = "tpl-1";

export function presetRow(overrides: Partial<PresetRow> = {}): PresetRow {
  return {
    presetId: "preset-1",
    presetName: "my-preset",
    templateId: TEMPLATE_ID,
    templateName: "my-template",
    organizationId: "org-1",
    organizationName: "acme",
    templateVersionId: "tv-1",
    templateVersionName: "v1",
    usingActiveVersion: true,
    templateDeleted: false,
    templateDeprecated: false,
    desiredInstances: 1,
    ttlSeconds: null,
    prebuildStatus: "healthy",
    schedulingTimezone: "",
    lastInvalidatedAt: null,
    ...overrides,
  };
}

let nextId = 0;

export function prebuild(
  preset: PresetRow,
  overrides: Partial<RunningPrebuild> = {},
): RunningPrebuild {
  nextId++;
  return {
    workspaceId: `ws-${nextId}`,
    name: `prebuild-${nextId}`,
    templateId: preset.templateId,
    templateVersionId: preset.templateVersionId,
    presetId: preset.presetId,
    ready: true,
    createdAt: NOW,
    ...overrides,
  };
}

/** `count` prebuilds of `preset`, the first created `stepMs` before the second, and so on. */
export function prebuilds(
  preset: PresetRow,
  count: number,
  overrides: Partial<RunningPrebuild> = {},
  stepMs = 60_000,
): RunningPrebuild[] {
  return Array.from({ length: count }, (_, i) =>
    prebuild(preset, { createdAt: new Date(NOW.getTime() - (count - i) * stepMs), ...overrides }),
  );
}

export function inProgress(
  preset: PresetRow,
  transition: Transition,
  count: number,
): InProgressCount {
  return {
    templateId: preset.templateId,
    templateVersionId: preset.templateVersionId,
    presetId: preset.presetId,
    transition,
    count,
  };
}

export function backoff(preset: PresetRow, numFailed: number, lastBuildAt: Date): BackoffRow {
  return { presetId: preset.presetId, numFailed, lastBuildAt };
}

export function globalSnapshot(partial: Partial<GlobalSnapshot> = {}): GlobalSnapshot {
  return { ...EMPTY_GLOBAL_SNAPSHOT, ...partial };
}

export function presetSnapshot(
  preset: PresetRow,
  partial: Partial<Omit<PresetSnapshot, "preset">> = {},
): PresetSnapshot {
  return {
    preset,
    schedules: [],
    running: [],
    expired: [],
    inProgress: [],
    pendingCount: 0,
    backoff: null,
    isHardLimited: false,
    ...partial,
  };
}

function shape(a: Action): unknown {
  switch (a._tag) {
    case "Create":
      return { Create: a.count };
    case "Delete":
      return { Delete: [...a.workspaceIds] };
    case "Backoff":
      return { Backoff: a.until.toISOString() };
    case "CancelPending":
      return { CancelPending: a.pendingCount, presetId: a.presetId };
  }
}

/** Actions without their reasons, compact enough to compare with `toEqual`. */
export function shapes(actions: readonly Action[]): unknown[] {
  return actions.map(shape);
}

export const ZERO_STATE = {
  desired: 0,
  actual: 0,
  eligible: 0,
  expired: 0,
  extraneous: 0,
  starting: 0,
  stopping: 0,
  deleting: 0,
} as const;
