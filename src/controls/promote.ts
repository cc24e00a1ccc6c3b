// Promotion (`prebuildsd promote`, the demo): make a version the template's active one. The next
// cycle cancels the old version's pending prebuilds, deletes its running ones (or, with a surge
// rollout, retires them as the new ones become ready) and fills the new version's presets.
// updated_at is the database's now() (one clock, issue #11).
import type pg from "pg";
import { promoteTemplateVersion } from "../db/sql/templates_sql.ts";
import { resolveTemplate, resolveVersion } from "./resolveTemplate.ts";

/** What a promotion did; `alreadyActive` means nothing was written. */
export interface PromoteResult {
  readonly templateName: string;
  readonly versionName: string;
  readonly versionId: string;
  readonly alreadyActive: boolean;
}

/**
 * Makes `versionRef` (a name or id) the active version of `templateRef` (a name or id).
 * Throws ConfigError when either is unknown or ambiguous (nothing written), Error when the
 * template changed under the write (deleted meanwhile).
 */
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
