// What one cycle did, for the CLI summary, metrics, and prebuild_reconciliation_runs.
import {
  type ActionEffects,
  type ActionEvent,
  addEffects,
  NO_EFFECTS,
} from "../execute/outcome.ts";
import { ACTION_OUTCOMES, ACTION_TAGS, type Action, type ActionOutcome } from "../plan/action.ts";
import type { HeldBack } from "../plan/index.ts";
import type { CycleKind, FullResyncReason } from "./cycleKind.ts";

type ActionType = Action["_tag"];

export type ActionCounts = Readonly<Record<ActionType, Readonly<Record<ActionOutcome, number>>>>;

export interface CycleReport {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  /** false: another replica held the lock; nothing was read or done (not an error). */
  readonly lockAcquired: boolean;
  /** true: reconciliation is paused; nothing was done after reading the setting. */
  readonly paused: boolean;
  /** What the cycle read (issue #16): every preset ("full") or only the presets marked dirty or
   *  due and the rest of their templates ("incremental"); null when it read nothing. */
  readonly kind: CycleKind | null;
  /** Why a full resync was one; null otherwise. */
  readonly fullResyncReason: FullResyncReason | null;
  /** Presets marked dirty or due when the cycle read (before widening to surge partners). */
  readonly presetsMarked: number;
  /** Presets *visited* (read and planned): on a full resync every active preset and every inactive
   *  one with something to clean up; incremental, those marked dirty or due (and their surge
   *  partners). `plan` lists more: every preset with prebuilds configured ("the fleet"). */
  readonly presetsTotal: number;
  /** Presets given a worker slot (not skipped as inactive with nothing to do). */
  readonly presetsReconciled: number;
  readonly actions: ActionCounts;
  readonly effects: ActionEffects;
  /** What the in-flight cap held back in the cycle's plan (PREBUILDS_MAX_INFLIGHT_JOBS); null when
   *  nothing was. A preset held back entirely has no action, so `actions` alone does not show it. */
  readonly heldBack: HeldBack | null;
  /** Failed actions (also in `actions`). A cycle with failures still completed. */
  readonly failures: number;
  /** SQL statements sent by the cycle (lock, settings, snapshot, writes, notifications). */
  readonly statements: number;
  /** Planner warnings about bad data (each names its preset). */
  readonly warnings: readonly string[];
}

export function emptyActionCounts(): Record<ActionType, Record<ActionOutcome, number>> {
  const counts = {} as Record<ActionType, Record<ActionOutcome, number>>;
  for (const type of ACTION_TAGS) {
    counts[type] = Object.fromEntries(ACTION_OUTCOMES.map((o) => [o, 0])) as Record<
      ActionOutcome,
      number
    >;
  }
  return counts;
}

export function summarizeEvents(events: readonly ActionEvent[]): {
  actions: ActionCounts;
  effects: ActionEffects;
  failures: number;
} {
  const actions = emptyActionCounts();
  let effects = NO_EFFECTS;
  let failures = 0;
  for (const event of events) {
    actions[event.action._tag][event.outcome]++;
    effects = addEffects(effects, event.effects);
    if (event.outcome === "failure") failures++;
  }
  return { actions, effects, failures };
}

/** Totals over every action type, by outcome. */
export function outcomeTotals(actions: ActionCounts): Record<ActionOutcome, number> {
  const totals = { success: 0, failure: 0, skipped: 0 };
  for (const type of ACTION_TAGS) {
    for (const outcome of ACTION_OUTCOMES) totals[outcome] += actions[type][outcome];
  }
  return totals;
}

/**
 * The counts of one cycle as prebuild_reconciliation_runs stores them and `reconcile --once --json`
 * prints them (issue #14: one vocabulary; "deleted" includes the orphans of cancelled jobs).
 */
export interface RunCounts {
  /** Presets visited (CycleReport.presetsTotal). */
  readonly presetsTotal: number;
  readonly presetsReconciled: number;
  readonly actionsSucceeded: number;
  readonly actionsFailed: number;
  readonly actionsSkipped: number;
  readonly prebuildsCreated: number;
  readonly prebuildsDeleted: number;
  readonly jobsCanceled: number;
  readonly statements: number;
  /** Creates the in-flight cap held back, and the in-flight count and cap planned with (null when
   *  nothing was held back). */
  readonly createsHeldBack: number;
  readonly inflightJobs: number | null;
  readonly inflightCap: number | null;
}

/** A report's `RunCounts`. */
export function runCounts(report: CycleReport): RunCounts {
  const totals = outcomeTotals(report.actions);
  return {
    presetsTotal: report.presetsTotal,
    presetsReconciled: report.presetsReconciled,
    actionsSucceeded: totals.success,
    actionsFailed: totals.failure,
    actionsSkipped: totals.skipped,
    prebuildsCreated: report.effects.created,
    prebuildsDeleted: report.effects.deleted + report.effects.orphanDeleted,
    jobsCanceled: report.effects.canceledJobs,
    statements: report.statements,
    createsHeldBack: report.heldBack?.creates ?? 0,
    inflightJobs: report.heldBack?.inflight ?? null,
    inflightCap: report.heldBack?.cap ?? null,
  };
}

/**
 * The fields of the daemon's "reconciliation cycle completed" log line: the same names and counts
 * as `reconcile --once --json` and prebuild_reconciliation_runs (`prebuildsDeleted` includes the
 * orphans of cancelled jobs, also given alone as `orphansDeleted`), so a log line, `status` and
 * the summary never disagree.
 */
export function cycleLogFields(report: CycleReport): Record<string, unknown> {
  return {
    kind: report.kind,
    ...(report.fullResyncReason === null ? {} : { fullResyncReason: report.fullResyncReason }),
    presetsMarked: report.presetsMarked,
    durationMs: Math.round(report.durationMs),
    ...runCounts(report),
    orphansDeleted: report.effects.orphanDeleted,
    lostRaces: report.effects.lostRaces,
  };
}

/** A cycle worth an info line: it acted, or the in-flight cap held creates back (a cycle that
 *  does nothing because of the cap is news to an operator, not debug noise). */
export function cycleWorthLogging(report: CycleReport): boolean {
  const totals = outcomeTotals(report.actions);
  return totals.success + totals.failure + totals.skipped > 0 || report.heldBack !== null;
}
