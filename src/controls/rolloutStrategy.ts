// `prebuildsd rollout <template> <replace|surge>` (issue #15): how a promotion of the template
// retires the old version's prebuilds. `replace` (default, the reference's behaviour) deletes them
// at the next cycle; `surge` keeps the previous version's eligible prebuilds until the new
// version's same-named presets have as many eligible ones (one for one), or until
// PREBUILDS_ROLLOUT_MAX_WAIT after the promotion (src/plan/surge.ts).
import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import { getRolloutStrategy, upsertRolloutStrategy } from "../db/sql/controls_sql.ts";
import type { RolloutStrategy } from "../plan/index.ts";
import { resolveTemplate } from "./resolveTemplate.ts";

export interface RolloutResult {
  readonly templateName: string;
  readonly strategy: RolloutStrategy;
  readonly previous: RolloutStrategy;
}

/** The strategy argument, else ConfigError (exit 2). */
export function parseRolloutStrategy(text: string): RolloutStrategy {
  if (text === "replace" || text === "surge") return text;
  throw new ConfigError(
    `the rollout strategy must be replace or surge (got ${JSON.stringify(text)})`,
  );
}

/** Sets the template's strategy; ConfigError (nothing written) for an unknown template. */
export async function setRolloutStrategy(
  pool: pg.Pool,
  templateRef: string,
  strategy: RolloutStrategy,
): Promise<RolloutResult> {
  const template = await resolveTemplate(pool, templateRef);
  const before = (await getRolloutStrategy(pool, { templateId: template.id }))?.strategy;
  const previous: RolloutStrategy = before === "surge" ? "surge" : "replace";
  if (previous !== strategy) {
    await upsertRolloutStrategy(pool, { templateId: template.id, strategy });
  }
  return { templateName: template.name, strategy, previous };
}
