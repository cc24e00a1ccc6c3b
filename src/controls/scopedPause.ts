// `prebuildsd pause|resume [--template t] [--preset p]` (issue #15): without options the global
// switch every replica reads (site_configs, as the reference); with --template a pause of the whole
// template, with --preset too a pause of that preset name of the template. Scoped pauses are keyed
// by name (prebuild_pauses), so they outlast a promotion; a paused preset plans and executes
// nothing, its old versions' cleanup included.
import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import { autocommit } from "../db/pool.ts";
import { deletePauses, insertPause, listPauses } from "../db/sql/controls_sql.ts";
import { readPrebuildsSettings } from "../snapshot/prebuildsSettings.ts";
import { resolvePresetScope } from "./presetScope.ts";
import { setReconciliationPaused } from "./reconciliationPause.ts";

/** What to pause or resume; neither field = everything (the global switch). */
export interface PauseTarget {
  readonly template?: string | undefined;
  readonly preset?: string | undefined;
}

/** What a pause or resume did. `changed` false: it was already so (nothing written). */
export type PauseResult =
  | {
      readonly scope: "all";
      readonly paused: boolean;
      readonly changed: boolean;
      /** Scoped pauses still in force after a global resume. */
      readonly scopedPauses: number;
    }
  | {
      readonly scope: "template" | "preset";
      readonly paused: boolean;
      readonly changed: boolean;
      readonly templateName: string;
      /** "" for the whole template. */
      readonly presetName: string;
      /** Resuming a preset whose template is still paused as a whole. */
      readonly templateStillPaused: boolean;
    };

/** ConfigError (exit 2, nothing written) for --preset without --template, an unknown template or
 *  preset. */
export async function setPause(
  pool: pg.Pool,
  target: PauseTarget,
  paused: boolean,
): Promise<PauseResult> {
  if (target.preset !== undefined && target.template === undefined) {
    throw new ConfigError(
      "--preset needs --template <template>: preset names repeat across templates",
    );
  }
  if (target.template === undefined) {
    const before = (await readPrebuildsSettings(autocommit({ pool }))).reconciliationPaused;
    if (before !== paused) await setReconciliationPaused(pool, paused);
    const scopedPauses = paused ? 0 : (await listPauses(pool)).length;
    return { scope: "all", paused, changed: before !== paused, scopedPauses };
  }
  const scope = await resolvePresetScope(pool, target.template, target.preset);
  const base = {
    scope: target.preset === undefined ? ("template" as const) : ("preset" as const),
    paused,
    templateName: scope.template.name,
    presetName: scope.presetName,
  };
  if (paused) {
    const row = await insertPause(pool, {
      templateId: scope.template.id,
      presetName: scope.presetName,
    });
    return { ...base, changed: row !== null, templateStillPaused: false };
  }
  const removed = await deletePauses(pool, {
    templateId: scope.template.id,
    presetName: scope.presetName,
  });
  const templateStillPaused =
    scope.presetName !== "" &&
    (await listPauses(pool)).some((p) => p.templateId === scope.template.id && p.presetName === "");
  return { ...base, changed: removed.length > 0, templateStillPaused };
}
