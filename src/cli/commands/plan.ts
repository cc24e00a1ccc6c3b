// `prebuildsd plan [--json] [--at <time>]`: what the next cycle would do, from one read-only
// REPEATABLE READ snapshot, written nowhere (the transaction is READ ONLY, so it cannot write).
// Lists every preset that wants prebuilds, those needing nothing with no actions.
import { ConfigError } from "../../config/configError.ts";
import type { SettingKey } from "../../config/settings.ts";
import { reconcilerOptions } from "../../daemon/reconcilerOptions.ts";
import { planNextCycle } from "../../reconciler/index.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { withDatabase } from "../withDatabase.ts";
import { planJson, planTable } from "./planOutput.ts";

export function parseAt(raw: unknown): Date {
  if (raw === undefined) return new Date();
  const text = String(raw);
  // ISO 8601 with a date; Date.parse alone would accept "1" or "March".
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw new ConfigError(
      `--at must be an ISO 8601 time like "2025-06-01T09:30:00Z" (got ${JSON.stringify(text)})`,
    );
  }
  return at;
}

export async function planCommand(
  options: Record<string, unknown>,
  keys: readonly SettingKey[],
): Promise<number> {
  const at = parseAt(options.at);
  const context = commandContext(options, keys);
  const result = await withDatabase(context, (pool) =>
    planNextCycle({ pool, options: reconcilerOptions(context.config) }, { at }),
  );
  if (result.paused) {
    process.stderr.write(
      "note: reconciliation is paused, so the next cycle does nothing; this is what it would do once resumed\n",
    );
  }
  process.stdout.write(
    `${options.json ? JSON.stringify(planJson(result.presets)) : planTable(result.presets, at)}\n`,
  );
  return EXIT_OK;
}
