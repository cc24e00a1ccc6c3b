// `prebuildsd promote <template> <version>`: make a version the template's active one. The next
// cycle cancels the old version's pending prebuilds, deletes its running ones and fills the new
// version's presets. updated_at is the database's now() (one clock, issue #11).
import type pg from "pg";
import { promoteTemplateVersion } from "../../db/sql/templates_sql.ts";
import { resolveTemplate, resolveVersion } from "./resolveTemplate.ts";

export interface PromoteResult {
  readonly templateName: string;
  readonly versionName: string;
  readonly versionId: string;
  readonly alreadyActive: boolean;
}

export async function promote(
  pool: pg.Pool,
  templateRef: string,
  versionRef: string,
): Promise<PromoteResult> {
  const template = await resolveTemplate(pool, templateRef);
  const version = await resolveVersion(pool, template, versionRef);
  const base = { templateName: template.name, versionName: version.name, versionId: version.id };
  if (template.activeVersionId === version.id) return { ...base, alreadyActive: true };
  const row = await promoteTemplateVersion(pool, {
    templateId: template.id,
    templateVersionId: version.id,
  });
  if (row === null) {
    throw new Error(`template ${JSON.stringify(template.name)} changed while promoting: try again`);
  }
  return { ...base, alreadyActive: false };
}

export function describePromotion(result: PromoteResult): string {
  const what = `template ${JSON.stringify(result.templateName)} version ${JSON.stringify(result.versionName)} (${result.versionId})`;
  return result.alreadyActive
    ? `${what} is already the active version: nothing changed`
    : `promoted ${what}: the next cycle cancels the old version's pending prebuilds and fills the new version's presets`;
}
