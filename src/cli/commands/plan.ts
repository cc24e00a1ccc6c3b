// `prebuildsd plan [--json] [--at <time>]`: what the next cycle would do, from one read-only
// REPEATABLE READ snapshot, written nowhere (the transaction is READ ONLY, so it cannot write).
import type pg from "pg";
import type { Config } from "../../config/config.ts";
import { ConfigError } from "../../config/configError.ts";
import type { SettingKey } from "../../config/settings.ts";
import { withTransaction } from "../../db/transaction.ts";
import { type PlannedPreset, planAll } from "../../plan/index.ts";
import { readPrebuildsSettings } from "../../snapshot/settings.ts";
import { takeSnapshot } from "../../snapshot/takeSnapshot.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { withDatabase } from "../withDatabase.ts";
import { planJson, planTable } from "./planOutput.ts";

export interface PlanResult {
  readonly planned: readonly PlannedPreset[];
  readonly paused: boolean;
  readonly at: Date;
}

export async function planNextCycle(pool: pg.Pool, config: Config, at: Date): Promise<PlanResult> {
  return withTransaction(
    { pool },
    { isolation: "repeatable read", readOnly: true },
    async (client) => {
      const settings = await readPrebuildsSettings(client);
      const snapshot = await takeSnapshot(client, {
        now: at,
        backoffLookback: config.backoffLookback,
        failureHardLimit: config.failureHardLimit,
      });
      return {
        planned: planAll(snapshot, at, { backoffInterval: config.backoffInterval }),
        paused: settings.reconciliationPaused,
        at,
      };
    },
  );
}

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
  const result = await withDatabase(context, (pool) => planNextCycle(pool, context.config, at));
  if (result.paused) {
    process.stderr.write(
      "note: reconciliation is paused, so the next cycle does nothing; this is what it would do once resumed\n",
    );
  }
  process.stdout.write(
    `${options.json ? JSON.stringify(planJson(result.planned)) : planTable(result.planned, at)}\n`,
  );
  return EXIT_OK;
}
