// `prebuildsd plan [--json] [--at <time>]`: what the next cycle would do, from one read-only
// REPEATABLE READ snapshot, written nowhere (the transaction is READ ONLY, so it cannot write).
// Lists every preset that wants prebuilds, those needing nothing with no actions.
import { ConfigError } from "../../config/configError.ts";
import type { SettingKey } from "../../config/settings.ts";
import { reconcilerOptions } from "../../daemon/reconcilerOptions.ts";
import { printJson, printLine } from "../../observe/output.ts";
import { planNextCycle } from "../../reconciler/index.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { withDatabase } from "../withDatabase.ts";
import { planJson, planTable } from "./planOutput.ts";

/** ISO 8601 with a date, a time and an explicit offset; without an offset the machine's time zone
 *  would silently decide the instant (issue #14), so that is refused. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** `--at`'s instant; undefined without `--at` (then the database's clock is planned for). */
export function parseAt(raw: unknown): Date | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const example = `like "2025-06-01T09:30:00Z" or "2025-06-01T11:30:00+02:00"`;
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?$/.test(text)) {
    throw new ConfigError(
      `--at needs a time zone offset (Z for UTC, or +02:00), ${example} (got ${JSON.stringify(text)})`,
    );
  }
  const at = ISO_WITH_OFFSET.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw new ConfigError(`--at must be an ISO 8601 time ${example} (got ${JSON.stringify(text)})`);
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
    planNextCycle(
      { pool, options: reconcilerOptions(context.config) },
      at === undefined ? {} : { at },
    ),
  );
  // Bad data the cycle logs as errors (issues #8, #11), each naming its row.
  for (const problem of result.problems) process.stderr.write(`warning: ${problem}\n`);
  if (result.paused) {
    process.stderr.write(
      "note: reconciliation is paused, so the next cycle does nothing; this is what it would do once resumed\n",
    );
  }
  if (options.json) printJson(planJson(result));
  else printLine(planTable(result));
  return EXIT_OK;
}
