// One vocabulary for what a cycle did (issue #14: `reconcile` and `status` used to count the same
// cycle's deletes differently). The names are prebuild_reconciliation_runs' columns, which
// `status --json` prints and the daemon's log line carries; "deleted" always includes the orphans
// of cancelled jobs, as stored. A cycle *visits* presets (all of them on a full resync, those
// changed or due on an incremental one); "the fleet" is every preset with prebuilds configured,
// what `plan` lists.

import { alignColumns } from "../../observe/columns.ts";
import {
  ACTION_NAMES,
  ACTION_OUTCOMES,
  ACTION_TAGS,
  type ActionName,
  type ActionOutcome,
} from "../../plan/action.ts";
import { describeHeldBack } from "../../plan/index.ts";
import { type CycleReport, type RunCounts, runCounts } from "../../reconciler/report.ts";

/** prebuildsd_reconciliation_cycles_total's outcomes, which a one-shot cycle can end with. */
type CycleOutcome = "completed" | "paused" | "not_leader";

/** `reconcile --once --json`: the run row's fields, plus what only this process knows. */
export interface CycleSummary extends RunCounts {
  readonly outcome: CycleOutcome;
  /** "full" (every preset read) or "incremental" (only those changed or due); null when the
   *  cycle read nothing (paused, another replica's lock). Issue #16. */
  readonly kind: "full" | "incremental" | null;
  /** Why a full cycle was one (requested, lock_gained, previous_cycle_failed, everything_marked,
   *  interval); null otherwise. */
  readonly fullResyncReason: string | null;
  /** Presets marked dirty or due that the cycle read (before widening to surge partners). */
  readonly presetsMarked: number;
  /** Presets with prebuilds configured, in every version (what `plan` lists), counted after the
   *  cycle; `presetsTotal` is how many of them (or fewer) the cycle visited. */
  readonly presetsInFleet: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** Of `prebuildsDeleted` (every prebuild deleted, as stored for `status`), those orphaned by
   *  cancelled pending jobs. */
  readonly orphansDeleted: number;
  /** Deletes that found the prebuild claimed or changed since the snapshot (not errors). */
  readonly lostRaces: number;
  /** Per action type (create, delete, backoff, cancel_pending) and outcome. */
  readonly actions: Readonly<Record<ActionName, Readonly<Record<ActionOutcome, number>>>>;
  readonly warnings: readonly string[];
}

function cycleOutcome(report: CycleReport): CycleOutcome {
  if (!report.lockAcquired) return "not_leader";
  return report.paused ? "paused" : "completed";
}

export function summarizeCycle(
  report: CycleReport,
  presetsInFleet: number | null = null,
): CycleSummary {
  const actions = Object.fromEntries(
    ACTION_TAGS.map((type) => [ACTION_NAMES[type], { ...report.actions[type] }]),
  ) as Record<ActionName, Record<ActionOutcome, number>>;
  return {
    outcome: cycleOutcome(report),
    kind: report.kind,
    fullResyncReason: report.fullResyncReason,
    presetsMarked: report.presetsMarked,
    presetsInFleet,
    startedAt: report.startedAt.toISOString(),
    finishedAt: report.finishedAt.toISOString(),
    durationMs: Math.round(report.durationMs),
    ...runCounts(report),
    orphansDeleted: report.effects.orphanDeleted,
    lostRaces: report.effects.lostRaces,
    actions,
    warnings: report.warnings,
  };
}

/**
 * "3 prebuild(s) created, 2 deleted (1 of them orphaned by cancelled jobs), 4 job(s) cancelled".
 * The jobs are the stale versions' prebuild jobs the cycle cancelled (pending) or asked to cancel
 * (running, cancel policy "running", issue #13): the run row's `jobs_canceled`.
 */
export function describeEffects(effects: {
  readonly prebuildsCreated: number;
  readonly prebuildsDeleted: number;
  readonly jobsCanceled: number;
  /** Known only to the process that ran the cycle. */
  readonly orphansDeleted?: number;
  /** Creates the in-flight cap held back (issue #13 follow-up), with the numbers behind it. */
  readonly createsHeldBack?: number;
  readonly inflightJobs?: number | null;
  readonly inflightCap?: number | null;
}): string {
  const orphans =
    effects.orphansDeleted !== undefined && effects.orphansDeleted > 0
      ? ` (${effects.orphansDeleted} of them orphaned by cancelled jobs)`
      : "";
  const held =
    effects.createsHeldBack !== undefined && effects.createsHeldBack > 0
      ? `; ${describeHeldBack({ creates: effects.createsHeldBack, inflight: effects.inflightJobs ?? null, cap: effects.inflightCap ?? null })}`
      : "";
  return `${effects.prebuildsCreated} prebuild(s) created, ${effects.prebuildsDeleted} deleted${orphans}, ${effects.jobsCanceled} job(s) cancelled${held}`;
}

/**
 * "2 preset(s) visited (incremental; 4 in the fleet)": how many presets a cycle read and planned,
 * what kind of cycle decided that, and, when known, how many presets have prebuilds configured
 * (what `plan` lists). `kindText` is the kind, or the kind with its detail.
 */
export function describeVisited(
  visited: number,
  kindText: string | null,
  presetsInFleet: number | null,
): string {
  const detail = [
    ...(kindText === null ? [] : [kindText]),
    ...(presetsInFleet === null ? [] : [`${presetsInFleet} in the fleet`]),
  ];
  return `${visited} preset(s) visited${detail.length > 0 ? ` (${detail.join("; ")})` : ""}`;
}

/** The action table of `reconcile --once`: one row per type, one column per outcome. */
export function actionTable(summary: CycleSummary): string[] {
  const rows = ACTION_TAGS.map((type) => {
    const counts = summary.actions[ACTION_NAMES[type]];
    return [ACTION_NAMES[type], ...ACTION_OUTCOMES.map((o) => String(counts[o]))];
  });
  const numbers = ACTION_OUTCOMES.map((_, i) => i + 1);
  return alignColumns([["action", ...ACTION_OUTCOMES], ...rows], { rightAligned: numbers }).map(
    (line) => `  ${line}`,
  );
}
