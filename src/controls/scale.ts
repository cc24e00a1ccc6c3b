// `prebuildsd scale <template> <n>|--clear [--preset p]` (issue #15): a runtime override of the
// desired count of the active version's presets, kept per preset id (so a newly promoted version
// starts from its own configured count) until cleared. It replaces the static desired_instances;
// a schedule that covers the instant still wins (docs/pool-controls.md).
import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import { deleteDesiredOverrides, upsertDesiredOverrides } from "../db/sql/controls_sql.ts";
import { MAX_DESIRED_INSTANCES } from "../plan/maxDesiredInstances.ts";
import { resolvePresetScope } from "./presetScope.ts";

/** One preset's override before and after (null = none). */
interface ScaledPreset {
  readonly presetName: string;
  readonly configured: number;
  readonly before: number | null;
  readonly after: number | null;
}

export interface ScaleResult {
  readonly templateName: string;
  readonly presets: readonly ScaledPreset[];
}

/** The count argument: a whole number from 0 to MAX_DESIRED_INSTANCES, else ConfigError. */
export function parseDesiredCount(text: string): number {
  const trimmed = text.trim();
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_DESIRED_INSTANCES) {
    throw new ConfigError(
      `the count must be a whole number from 0 to ${MAX_DESIRED_INSTANCES} (got ${JSON.stringify(text)}); \`--clear\` removes the override`,
    );
  }
  return n;
}

/**
 * Sets (`count` a number) or clears (`"clear"`) the override of `presetRef`, or of every preset of
 * the template's active version that wants prebuilds. ConfigError: unknown template or preset.
 */
export async function scale(
  pool: pg.Pool,
  templateRef: string,
  count: number | "clear",
  presetRef: string | undefined,
): Promise<ScaleResult> {
  const scope = await resolvePresetScope(pool, templateRef, presetRef);
  const ids = scope.presets.map((p) => p.id);
  const configured = new Map(scope.presets.map((p) => [p.id, p.desiredInstances]));
  if (count === "clear") {
    const removed = new Map(
      (await deleteDesiredOverrides(pool, { presetIds: ids })).map((r) => [
        r.presetId,
        r.desiredInstances,
      ]),
    );
    return {
      templateName: scope.template.name,
      presets: scope.presets.map((p) => ({
        presetName: p.name,
        configured: p.desiredInstances,
        before: removed.get(p.id) ?? null,
        after: null,
      })),
    };
  }
  const rows = await upsertDesiredOverrides(pool, {
    templateId: scope.template.id,
    presetIds: ids,
    desiredInstances: count,
  });
  if (rows.length === 0) {
    throw new Error(
      `template ${JSON.stringify(scope.template.name)} changed while scaling: try again`,
    );
  }
  return {
    templateName: scope.template.name,
    presets: rows.map((r) => ({
      presetName: r.presetName,
      configured: configured.get(r.presetId) ?? 0,
      before: r.previousOverride < 0 ? null : r.previousOverride,
      after: count,
    })),
  };
}
