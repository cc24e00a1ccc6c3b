// `prebuildsd status`: what an operator asks first. Everything comes from the database, so any
// replica (or a laptop with DATABASE_URL) gives the same answer.
import type pg from "pg";
import { formatDuration } from "../../config/duration.ts";
import { autocommit } from "../../db/pool.ts";
import { listNonDefaultCancelPolicies } from "../../db/sql/cancellation_sql.ts";
import {
  type GetLastReconciliationRunRow,
  getLastReconciliationRun,
} from "../../db/sql/reconciliation_sql.ts";
import {
  countActivePresetsByStatus,
  listUnhealthyActivePresets,
} from "../../db/sql/templates_sql.ts";
import { readPrebuildsSettings } from "../../snapshot/prebuildsSettings.ts";
import { describeEffects } from "./cycleSummary.ts";

const STATUSES = ["healthy", "hard_limited", "validation_failed"] as const;

export interface Status {
  readonly paused: boolean;
  readonly presetsByStatus: Readonly<Record<(typeof STATUSES)[number], number>>;
  readonly unhealthyPresets: readonly {
    readonly template: string;
    readonly version: string;
    readonly preset: string;
    readonly status: string;
  }[];
  readonly lastCycle: GetLastReconciliationRunRow | null;
  /** Live templates whose cancel policy is not the default "pending" (issue #13). */
  readonly cancelPolicies: readonly { readonly template: string; readonly policy: string }[];
}

export async function readStatus(pool: pg.Pool): Promise<Status> {
  const [paused, counts, unhealthy, lastCycle, policies] = await Promise.all([
    readPrebuildsSettings(autocommit({ pool })).then((s) => s.reconciliationPaused),
    countActivePresetsByStatus(pool),
    listUnhealthyActivePresets(pool),
    getLastReconciliationRun(pool),
    listNonDefaultCancelPolicies(pool),
  ]);
  const presetsByStatus = { healthy: 0, hard_limited: 0, validation_failed: 0 };
  for (const row of counts) {
    if (row.prebuildStatus in presetsByStatus) {
      presetsByStatus[row.prebuildStatus as keyof typeof presetsByStatus] = row.presets;
    }
  }
  return {
    paused,
    presetsByStatus,
    unhealthyPresets: unhealthy.map((r) => ({
      template: r.templateName,
      version: r.templateVersionName,
      preset: r.presetName,
      status: r.prebuildStatus,
    })),
    lastCycle,
    cancelPolicies: policies.map((r) => ({ template: r.templateName, policy: r.policy })),
  };
}

function describeCycle(run: GetLastReconciliationRunRow, now: Date): string[] {
  const ago = formatDuration(
    Math.max(0, Math.round((now.getTime() - run.finishedAt.getTime()) / 1000) * 1000),
  );
  const took = ((run.finishedAt.getTime() - run.startedAt.getTime()) / 1000).toFixed(3);
  const lines = [
    `last cycle:   ${run.outcome} at ${run.finishedAt.toISOString()} (${ago} ago) in ${took}s${run.replica ? ` by ${run.replica}` : ""}`,
  ];
  if (run.outcome === "completed") {
    lines.push(
      `              ${run.presetsReconciled}/${run.presetsTotal} presets reconciled; actions: ${run.actionsSucceeded} succeeded, ${run.actionsFailed} failed, ${run.actionsSkipped} skipped; ${describeEffects(run)}`,
    );
  }
  if (run.error) lines.push(`              error: ${run.error}`);
  return lines;
}

function describePolicies(policies: Status["cancelPolicies"]): string {
  if (policies.length === 0) return "pending for every template (the default)";
  const named = policies.map((p) => `${p.template} ${p.policy}`).join(", ");
  return `${named}; pending for the others`;
}

export function describeStatus(status: Status, now: Date = new Date()): string {
  const counts = STATUSES.map((s) => `${status.presetsByStatus[s]} ${s}`).join(", ");
  const lines = [
    `reconciliation: ${status.paused ? "PAUSED (run `prebuildsd resume` to act again)" : "active"}`,
    `presets:      ${counts} (active versions of live templates)`,
    ...status.unhealthyPresets.map(
      (p) => `              ${p.status}: ${p.template} / ${p.version} / ${p.preset}`,
    ),
    `cancel policy: ${describePolicies(status.cancelPolicies)}`,
    ...(status.lastCycle
      ? describeCycle(status.lastCycle, now)
      : ["last cycle:   none recorded yet"]),
  ];
  return lines.join("\n");
}
