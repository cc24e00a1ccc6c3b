// What one cycle did, for the CLI summary, metrics, and prebuild_reconciliation_runs.
import {
  type ActionEffects,
  type ActionEvent,
  addEffects,
  NO_EFFECTS,
} from "../execute/outcome.ts";
import { ACTION_OUTCOMES, ACTION_TAGS, type Action, type ActionOutcome } from "../plan/action.ts";
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
  /** Presets read and planned: on a full resync those that want prebuilds and can have work (every
   *  active one, and inactive ones with something to clean up); incremental, the marked ones'
   *  templates. */
  readonly presetsTotal: number;
  /** Presets given a worker slot (not skipped as inactive with nothing to do). */
  readonly presetsReconciled: number;
  readonly actions: ActionCounts;
  readonly effects: ActionEffects;
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
  readonly presetsTotal: number;
  readonly presetsReconciled: number;
  readonly actionsSucceeded: number;
  readonly actionsFailed: number;
  readonly actionsSkipped: number;
  readonly prebuildsCreated: number;
  readonly prebuildsDeleted: number;
  readonly jobsCanceled: number;
  readonly statements: number;
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
  };
}
