// Reads the operator's pool controls (issue #15: scoped pauses, scale overrides, rollout
// strategies with their last promotion, and, when asked, the stopped prebuilds to replace) in the
// snapshot's transaction (one statement each) and
// decodes them into the planner's types. The rows are written by src/controls/ and checked by the
// tables' constraints; a row that still does not decode (edited by hand) is dropped with a problem
// naming it, never passed on.
import type { SqlClient } from "../db/pool.ts";
import {
  type GetStoppedPrebuildsRow,
  getPoolControls,
  getStoppedPrebuilds,
} from "../db/sql/controls_snapshot_sql.ts";
import {
  type DesiredOverrideRow,
  MAX_DESIRED_INSTANCES,
  NO_POOL_CONTROLS,
  type PauseRow,
  type PoolControls,
  type RolloutRow,
  type StoppedPrebuild,
} from "../plan/index.ts";
import { type DecodeClock, toPrebuildIdentity } from "./decode.ts";

type Json = Record<string, unknown>;

function parseList(text: string, what: string, problems: string[]): Json[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value))
      return value.filter((v): v is Json => typeof v === "object" && v !== null);
  } catch {
    // reported below
  }
  problems.push(`the ${what} could not be read as a JSON list; ignoring them this cycle`);
  return [];
}

function text(row: Json, key: string): string | null {
  const v = row[key];
  return typeof v === "string" ? v : null;
}

function time(row: Json, key: string): Date | null {
  const v = text(row, key);
  if (v === null) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

function decodePause(row: Json, problems: string[]): PauseRow | null {
  const templateId = text(row, "template_id");
  const presetName = text(row, "preset_name");
  const pausedAt = time(row, "paused_at");
  if (templateId === null || presetName === null || pausedAt === null) {
    problems.push(`prebuild_pauses row ${JSON.stringify(row)} is malformed; ignoring it`);
    return null;
  }
  return { templateId, presetName, pausedAt };
}

function decodeOverride(row: Json, problems: string[]): DesiredOverrideRow | null {
  const presetId = text(row, "preset_id");
  const n = row.desired_instances;
  if (
    presetId === null ||
    typeof n !== "number" ||
    !Number.isInteger(n) ||
    n < 0 ||
    n > MAX_DESIRED_INSTANCES
  ) {
    problems.push(
      `prebuild_desired_overrides row ${JSON.stringify(row)} is not a preset id with a count from 0 to ${MAX_DESIRED_INSTANCES}; ignoring it (fix it with \`prebuildsd scale\`)`,
    );
    return null;
  }
  return { presetId, desiredInstances: n };
}

function decodeRollout(row: Json, problems: string[]): RolloutRow | null {
  const templateId = text(row, "template_id");
  const strategy = text(row, "strategy");
  if (templateId === null || (strategy !== "replace" && strategy !== "surge")) {
    problems.push(
      `prebuild_rollout_policies row ${JSON.stringify(row)} is malformed; treating the template as 'replace'`,
    );
    return null;
  }
  return {
    templateId,
    strategy,
    promotedAt: time(row, "promoted_at"),
    previousVersionId: text(row, "previous_version_id"),
  };
}

function present<T>(value: T | null): value is T {
  return value !== null;
}

/** One statement; `problems` receives a sentence per row that could not be used. */
export async function readPoolControls(
  client: SqlClient,
  problems: string[],
): Promise<PoolControls> {
  const row = await getPoolControls(client);
  if (row === null) return NO_POOL_CONTROLS;
  return {
    pauses: parseList(row.pausesJson, "pauses", problems)
      .map((r) => decodePause(r, problems))
      .filter(present),
    desiredOverrides: parseList(row.overridesJson, "scale overrides", problems)
      .map((r) => decodeOverride(r, problems))
      .filter(present),
    rollouts: parseList(row.rolloutsJson, "rollout policies", problems)
      .map((r) => decodeRollout(r, problems))
      .filter(present),
  };
}

function toStoppedPrebuild(row: GetStoppedPrebuildsRow, clock: DecodeClock): StoppedPrebuild {
  return {
    ...toPrebuildIdentity(row, clock),
    stopStatus: row.stopStatus === "failed" ? "failed" : "succeeded",
  };
}

/** PREBUILDS_REPLACE_STOPPED: the stopped and failed-stop prebuilds (of `subset` when given). */
export async function readStoppedPrebuilds(
  client: SqlClient,
  subset: { readonly onlyPresets: boolean; readonly presetIds: string[] },
  clock: DecodeClock,
): Promise<StoppedPrebuild[]> {
  return (await getStoppedPrebuilds(client, subset)).map((r) => toStoppedPrebuild(r, clock));
}
