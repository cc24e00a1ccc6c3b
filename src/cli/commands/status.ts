// `prebuildsd status`: what an operator asks first. Everything comes from the database, so any
// replica (or a laptop with DATABASE_URL) gives the same answer.
import type pg from "pg";
import { formatDuration } from "../../config/duration.ts";
import { autocommit } from "../../db/pool.ts";
import { listNonDefaultCancelPolicies } from "../../db/sql/cancellation_sql.ts";
import { listDesiredOverrides, listPauses, listRollouts } from "../../db/sql/controls_sql.ts";
import { countPresetsInFleet } from "../../db/sql/status_sql.ts";
import {
  countActivePresetsByStatus,
  listUnhealthyActivePresets,
} from "../../db/sql/templates_sql.ts";
import { rolloutProgress } from "../../plan/index.ts";
import { type PlanNextCycleDeps, planNextCycle } from "../../reconciler/planNextCycle.ts";
import { lastReconciliationRun, type ReconciliationRun } from "../../reconciler/runs.ts";
import { readPrebuildsSettings } from "../../snapshot/prebuildsSettings.ts";
import { describeEffects, describeVisited } from "./cycleSummary.ts";
import type { JsonRollout } from "./planOutput.ts";

const STATUSES = ["healthy", "hard_limited", "validation_failed"] as const;

/**
 * A template as `status` names it: "organization/template". A template name is unique only within
 * its organization, so the name alone is ambiguous across organizations; every entry of `status
 * --json` carries `organization` beside `template` for the same reason.
 */
export function qualifiedTemplate(t: {
  readonly organization: string;
  readonly template: string;
}): string {
  return `${t.organization}/${t.template}`;
}

export interface Status {
  readonly paused: boolean;
  readonly presetsByStatus: Readonly<Record<(typeof STATUSES)[number], number>>;
  readonly unhealthyPresets: readonly {
    readonly organization: string;
    readonly template: string;
    readonly version: string;
    readonly preset: string;
    readonly status: string;
  }[];
  readonly lastCycle: ReconciliationRun | null;
  /** Presets with prebuilds configured, in every version: what `plan` lists ("the fleet"); the last
   *  cycle's `presetsTotal` counts those it visited (an incremental cycle: the changed or due). */
  readonly presetsInFleet: number;
  /** Live templates whose cancel policy is not the default "pending" (issue #13). */
  readonly cancelPolicies: readonly {
    readonly organization: string;
    readonly template: string;
    readonly policy: string;
  }[];
  /** `pause --template/--preset` in force (issue #15); preset "" = the whole template. */
  readonly scopedPauses: readonly {
    readonly organization: string;
    readonly template: string;
    readonly preset: string;
    readonly since: Date;
  }[];
  /** Templates that roll out with surge, and the progress of the rollouts in progress. */
  readonly rollouts: readonly {
    readonly organization: string;
    readonly template: string;
    readonly strategy: string;
    readonly promotedAt: Date | null;
    readonly progress: JsonRollout | null;
  }[];
  /** `scale` overrides on active versions. */
  readonly scaleOverrides: readonly {
    readonly organization: string;
    readonly template: string;
    readonly preset: string;
    readonly desired: number;
    readonly configured: number;
  }[];
}

/**
 * Everything `status` shows. `options`: the planner settings, for the rollout progress (read
 * through one dry-run plan, and only when some template rolls out with surge).
 */
export async function readStatus(
  pool: pg.Pool,
  options: PlanNextCycleDeps["options"] = {},
): Promise<Status> {
  const [paused, counts, unhealthy, lastCycle, policies, pauses, overrides, fleet] =
    await Promise.all([
      readPrebuildsSettings(autocommit({ pool })).then((s) => s.reconciliationPaused),
      countActivePresetsByStatus(pool),
      listUnhealthyActivePresets(pool),
      lastReconciliationRun(pool),
      listNonDefaultCancelPolicies(pool),
      listPauses(pool),
      listDesiredOverrides(pool),
      countPresetsInFleet(pool),
    ]);
  const rollouts = await readRollouts(pool, options);
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
      organization: r.organizationName,
      template: r.templateName,
      version: r.templateVersionName,
      preset: r.presetName,
      status: r.prebuildStatus,
    })),
    lastCycle,
    presetsInFleet: fleet?.presets ?? 0,
    cancelPolicies: policies.map((r) => ({
      organization: r.organizationName,
      template: r.templateName,
      policy: r.policy,
    })),
    scopedPauses: pauses.map((p) => ({
      organization: p.organizationName,
      template: p.templateName,
      preset: p.presetName,
      since: p.pausedAt,
    })),
    rollouts,
    scaleOverrides: overrides.map((o) => ({
      organization: o.organizationName,
      template: o.templateName,
      preset: o.presetName,
      desired: o.desiredInstances,
      configured: o.configured,
    })),
  };
}

async function readRollouts(
  pool: pg.Pool,
  options: PlanNextCycleDeps["options"],
): Promise<Status["rollouts"]> {
  const policies = await listRollouts(pool);
  if (policies.length === 0) return [];
  const preview = await planNextCycle({ pool, ...(options && { options }) });
  const progress = rolloutProgress(preview.presets).map((r) => ({
    ...r,
    startedAt: r.startedAt.toISOString(),
    deadline: r.deadline.toISOString(),
  }));
  return policies.map((r) => ({
    organization: r.organizationName,
    template: r.templateName,
    strategy: r.strategy,
    promotedAt: r.promotedAt,
    // By id: two organizations may each have a template of this name.
    progress: progress.find((p) => p.templateId === r.templateId) ?? null,
  }));
}

/** How to get a preset out of its state, for the status lines. */
function recovery(p: Status["unhealthyPresets"][number]): string {
  if (p.status === "hard_limited") {
    return ` (recovers by itself once its failed prebuilds are deleted; or now: \`prebuildsd reset ${JSON.stringify(qualifiedTemplate(p))} --preset ${JSON.stringify(p.preset)}\`)`;
  }
  if (p.status === "validation_failed")
    return " (promote a version whose preset sets the required parameters)";
  return "";
}

function describeCycle(run: ReconciliationRun, now: Date, presetsInFleet: number): string[] {
  const ago = formatDuration(
    Math.max(0, Math.round((now.getTime() - run.finishedAt.getTime()) / 1000) * 1000),
  );
  const took = ((run.finishedAt.getTime() - run.startedAt.getTime()) / 1000).toFixed(3);
  const lines = [
    `last cycle:   ${run.outcome}${run.kind ? ` (${run.kind})` : ""} at ${run.finishedAt.toISOString()} (${ago} ago) in ${took}s${run.replica ? ` by ${run.replica}` : ""}`,
  ];
  if (run.outcome === "completed") {
    lines.push(
      `              ${describeVisited(run.presetsTotal, run.kind, presetsInFleet)}; actions: ${run.actionsSucceeded} succeeded, ${run.actionsFailed} failed, ${run.actionsSkipped} skipped; ${describeEffects(run)}`,
    );
  }
  if (run.error) lines.push(`              error: ${run.error}`);
  return lines;
}

function describePolicies(policies: Status["cancelPolicies"]): string {
  if (policies.length === 0) return "pending for every template (the default)";
  const named = policies.map((p) => `${qualifiedTemplate(p)} ${p.policy}`).join(", ");
  return `${named}; pending for the others`;
}

export function describeStatus(status: Status, now: Date = new Date()): string {
  const counts = STATUSES.map((s) => `${status.presetsByStatus[s]} ${s}`).join(", ");
  const lines = [
    `reconciliation: ${status.paused ? "PAUSED (run `prebuildsd resume` to act again)" : "active"}`,
    `presets:      ${counts} (active versions of live templates)`,
    ...status.unhealthyPresets.map(
      (p) =>
        `              ${p.status}: ${qualifiedTemplate(p)} / ${p.version} / ${p.preset}${recovery(p)}`,
    ),
    ...status.scopedPauses.map(
      (p) =>
        `paused:       ${p.preset === "" ? `template ${qualifiedTemplate(p)}` : `${qualifiedTemplate(p)} / ${p.preset}`} since ${p.since.toISOString()}`,
    ),
    ...status.rollouts.map((r) =>
      r.progress === null
        ? `rollout:      ${qualifiedTemplate(r)} (${r.strategy}; no rollout in progress${r.promotedAt ? `, last promotion ${r.promotedAt.toISOString()}` : ""})`
        : `rollout:      ${qualifiedTemplate(r)} (${r.strategy}, started ${r.progress.startedAt}, bound ${r.progress.deadline}): previous version ${r.progress.oldEligible} eligible, new version ${r.progress.newEligible} eligible of ${r.progress.newDesired}`,
    ),
    ...status.scaleOverrides.map(
      (o) =>
        `scaled:       ${qualifiedTemplate(o)} / ${o.preset}: ${o.desired} (configured ${o.configured})`,
    ),
    `cancel policy: ${describePolicies(status.cancelPolicies)}`,
    ...(status.lastCycle
      ? describeCycle(status.lastCycle, now, status.presetsInFleet)
      : ["last cycle:   none recorded yet"]),
  ];
  return lines.join("\n");
}
