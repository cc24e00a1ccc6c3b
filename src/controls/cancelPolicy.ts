// `prebuildsd cancel-policy` (issue #13): sets what the reconciler does with the jobs of a
// template's stale versions (docs/cancellation.md). One UPDATE of the template row, which the
// template's change-tracking trigger (migration 0042) turns into dirty marks for every preset of
// every version of the template, so the next cycle, incremental or not, applies it.
import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import { setTemplateCancelPolicy } from "../db/sql/cancellation_sql.ts";
import type { CancelPolicy } from "../plan/index.ts";
import { resolveTemplate } from "./resolveTemplate.ts";

/** The template's policy before and after. */
export interface CancelPolicyChange {
  readonly templateName: string;
  readonly previous: string;
  readonly policy: CancelPolicy;
}

/** Sets `templateRef`'s policy; ConfigError (exit 2, nothing changed) when the template is
 *  unknown or was deleted meanwhile. */
export async function setCancelPolicy(
  pool: pg.Pool,
  templateRef: string,
  policy: CancelPolicy,
): Promise<CancelPolicyChange> {
  const template = await resolveTemplate(pool, templateRef);
  const row = await setTemplateCancelPolicy(pool, { templateId: template.id, policy });
  if (row === null) {
    throw new ConfigError(
      `template ${JSON.stringify(template.name)} was deleted meanwhile: nothing changed`,
    );
  }
  return { templateName: row.name, previous: row.previousPolicy, policy };
}
