// Manual invalidation (`prebuildsd invalidate`): every prebuild of the active version's presets
// created before now counts as expired, so the next cycles replace them. "Now" is the database's
// now(), the clock prebuilds are stamped with, never this host's (issue #11).
import type pg from "pg";
import { invalidateActiveVersionPresets } from "../db/sql/templates_sql.ts";
import { resolveTemplate } from "./resolveTemplate.ts";

/** The template invalidated and its active version's preset names, sorted. */
export interface InvalidateResult {
  readonly templateName: string;
  readonly presetNames: readonly string[];
}

/** Invalidates `templateRef`'s active version; ConfigError when the template is unknown. */
export async function invalidate(pool: pg.Pool, templateRef: string): Promise<InvalidateResult> {
  const template = await resolveTemplate(pool, templateRef);
  const rows = await invalidateActiveVersionPresets(pool, { templateId: template.id });
  return { templateName: template.name, presetNames: rows.map((r) => r.name).sort() };
}
