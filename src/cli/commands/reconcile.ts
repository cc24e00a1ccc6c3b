// `prebuildsd reconcile --once`: one cycle against the database, then a summary. Exit 0 even when
// some actions failed (they are reported); exit 1 when the cycle itself could not run.
import type { SettingKey } from "../../config/settings.ts";
import { reconcilerOptions } from "../../daemon/reconcilerOptions.ts";
import { ACTION_OUTCOMES, ACTION_TYPES } from "../../execute/outcome.ts";
import { reconcileOnce } from "../../reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../reconciler/report.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { withDatabase } from "../withDatabase.ts";

const TYPE_NAMES = {
  Create: "create",
  Delete: "delete",
  Backoff: "backoff",
  CancelPending: "cancel_pending",
} as const;

export function describeCycle(report: CycleReport): string {
  const took = `${(report.durationMs / 1000).toFixed(3)}s`;
  if (!report.lockAcquired) {
    return `another replica holds the reconciliation lock: this cycle did nothing (${took})`;
  }
  if (report.paused) {
    return `reconciliation is paused: this cycle did nothing (${took}); \`prebuildsd resume\` to act again`;
  }
  const lines = [
    `cycle completed in ${took}: ${report.presetsReconciled} of ${report.presetsTotal} preset(s) reconciled, ${report.statements} SQL statements`,
    `  ${"action".padEnd(15)}${ACTION_OUTCOMES.map((o) => o.padStart(9)).join("")}`,
  ];
  for (const type of ACTION_TYPES) {
    const counts = report.actions[type];
    lines.push(
      `  ${TYPE_NAMES[type].padEnd(15)}${ACTION_OUTCOMES.map((o) => String(counts[o]).padStart(9)).join("")}`,
    );
  }
  const e = report.effects;
  lines.push(
    `  ${e.created} prebuild(s) created, ${e.deleted} deleted, ${e.canceledJobs} pending job(s) cancelled, ${e.orphanDeleted} orphan(s) deleted, ${e.lostRaces} lost race(s)`,
  );
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
  const report = await withDatabase(context, (pool) =>
    reconcileOnce({ pool, logger: context.logger, options: reconcilerOptions(context.config) }),
  );
  process.stdout.write(
    `${options.json ? JSON.stringify(report, null, 2) : describeCycle(report)}\n`,
  );
  return EXIT_OK;
}
