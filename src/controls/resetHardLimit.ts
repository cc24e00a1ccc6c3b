// `prebuildsd reset <template> [--preset p]` (issue #15): a hard-limited preset returns to healthy
// and the failures built before the reset stop counting toward its backoff and hard limit. The
// limit itself keeps the reference's rule (the N most recent builds all failed); the cycle also
// marks a preset healthy by itself once the limit no longer holds (src/execute/executePreset.ts).
import type pg from "pg";
import { resetPresetFailures } from "../db/sql/controls_sql.ts";
import { resolvePresetScope } from "./presetScope.ts";

export interface ResetResult {
  readonly templateName: string;
  /** Each preset reset, with the status it had ("hard_limited" ones are now "healthy"). */
  readonly presets: readonly { readonly presetName: string; readonly previousStatus: string }[];
}

/** ConfigError (exit 2, nothing written) for an unknown template or preset. */
export async function resetHardLimit(
  pool: pg.Pool,
  templateRef: string,
  presetRef: string | undefined,
): Promise<ResetResult> {
  const scope = await resolvePresetScope(pool, templateRef, presetRef);
  const rows = await resetPresetFailures(pool, {
    templateId: scope.template.id,
    presetIds: scope.presets.map((p) => p.id),
  });
  return {
    templateName: scope.template.name,
    presets: rows.map((r) => ({ presetName: r.presetName, previousStatus: r.previousStatus })),
  };
}
