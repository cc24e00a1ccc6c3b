// `prebuildsd reconcile --once`: one cycle against the database, then a summary. Exit 0 even when
// some actions failed (they are reported); exit 1 when the cycle itself could not run. The cycle is
// incremental unless a full resync is due; `--full` forces one (issue #16).
import type { SettingKey } from "../../config/settings.ts";
import { reconcilerOptions } from "../../daemon/reconcilerOptions.ts";
import { countPresetsInFleet } from "../../db/sql/status_sql.ts";
import { printJson, printLine } from "../../observe/output.ts";
import { reconcileOnce } from "../../reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../reconciler/report.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { withDatabase } from "../withDatabase.ts";
import { actionTable, describeEffects, describeVisited, summarizeCycle } from "./cycleSummary.ts";

const RESYNC_REASONS = {
  requested: "--full",
  lock_gained: "first cycle with the lock",
  previous_cycle_failed: "the previous cycle failed",
  everything_marked: "a change that concerns every preset",
  interval: "PREBUILDS_FULL_RESYNC_INTERVAL elapsed",
} as const;

/** "full resync: --full" or "incremental: 3 changed or due". */
function describeKind(report: CycleReport): string {
  if (report.kind === "full") {
    return `full resync${report.fullResyncReason === null ? "" : `: ${RESYNC_REASONS[report.fullResyncReason]}`}`;
  }
  return `incremental: ${report.presetsMarked} changed or due`;
}

export function describeCycle(report: CycleReport, presetsInFleet: number | null = null): string {
  const took = `${(report.durationMs / 1000).toFixed(3)}s`;
  if (!report.lockAcquired) {
    return `another replica holds the reconciliation lock: this cycle did nothing (${took})`;
  }
  if (report.paused) {
    return `reconciliation is paused: this cycle did nothing (${took}); \`prebuildsd resume\` to act again`;
  }
  const summary = summarizeCycle(report, presetsInFleet);
  const lines = [
    `cycle completed in ${took}: ${describeVisited(report.presetsTotal, describeKind(report), presetsInFleet)}, ${report.statements} SQL statements`,
    ...actionTable(summary),
    `  ${describeEffects(summary)}${summary.lostRaces > 0 ? `; ${summary.lostRaces} delete(s) found the prebuild claimed or changed` : ""}`,
  ];
  if (report.failures > 0) {
    lines.push(
      `  ${report.failures} action(s) failed: see the log lines above for each one's preset and error`,
    );
  }
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  return lines.join("\n");
}

export async function reconcileOnceCommand(
  options: Record<string, unknown>,
  keys: readonly SettingKey[],
): Promise<number> {
  const context = commandContext(options, keys);
  const { report, presetsInFleet } = await withDatabase(context, async (pool) => {
    const cycle = await reconcileOnce(
      { pool, logger: context.logger, options: reconcilerOptions(context.config) },
      { full: options.full === true },
    );
    // After the cycle, outside it (not one of its statements): how many presets `plan` lists.
    const fleet = await countPresetsInFleet(pool);
    return { report: cycle, presetsInFleet: fleet?.presets ?? null };
  });
  if (options.json) printJson(summarizeCycle(report, presetsInFleet));
  else printLine(describeCycle(report, presetsInFleet));
  return EXIT_OK;
}
