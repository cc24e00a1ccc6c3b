// `prebuildsd invalidate <template>`: every prebuild of the active version's presets created
// before now counts as expired, so the next cycles replace them. "Now" is the database's now(), the
// clock prebuilds are stamped with, never this host's (issue #11).
import type pg from "pg";
import { invalidateActiveVersionPresets } from "../../db/sql/templates_sql.ts";
import { resolveTemplate } from "./resolveTemplate.ts";

export interface InvalidateResult {
  readonly templateName: string;
  readonly presetNames: readonly string[];
}

export async function invalidate(pool: pg.Pool, templateRef: string): Promise<InvalidateResult> {
  const template = await resolveTemplate(pool, templateRef);
  const rows = await invalidateActiveVersionPresets(pool, { templateId: template.id });
  return { templateName: template.name, presetNames: rows.map((r) => r.name).sort() };
}

export function describeInvalidation(result: InvalidateResult): string {
  const template = JSON.stringify(result.templateName);
  if (result.presetNames.length === 0) {
    return `template ${template}'s active version has no presets: nothing to invalidate`;
  }
  return [
    `invalidated ${result.presetNames.length} preset(s) of template ${template}; their prebuilds are replaced from the next cycle:`,
    ...result.presetNames.map((name) => `  ${name}`),
  ].join("\n");
}
