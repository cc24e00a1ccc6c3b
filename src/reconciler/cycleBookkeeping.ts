// The last step of a cycle that read and acted (issue #16), in its lock transaction: consume the
// dirty marks the cycle read, mark again the presets whose action failed, and store for every
// preset it read the next instant its decision can change by the clock alone. One statement
// (FinishCycle). See docs/architecture.md, "Incremental cycles".
import type { Database, SqlClient } from "../db/pool.ts";
import {
  type FinishCycleRow,
  finishCycle,
  markEverythingDirty,
} from "../db/sql/change_tracking_sql.ts";
import { withSingleStatement } from "../db/transaction.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import {
  nextDecisionChange,
  type PlannedPreset,
  ScheduleCache,
  type WakeOptions,
} from "../plan/index.ts";
import type { CycleScope } from "./cycleScope.ts";

/** A preset's next visit (prebuild_preset_wakeups). */
export interface WakeUp {
  readonly presetId: string;
  readonly dueAt: Date;
}

/** What a cycle leaves for the next one. */
export interface Bookkeeping {
  /** Presets to visit next cycle whatever else happens: an action of theirs failed. */
  readonly retryPresetIds: readonly string[];
  readonly wakeUps: readonly WakeUp[];
}

/**
 * The presets to visit again next cycle whatever else happens:
 * - those of `work` with a failed action, a lost race (the write that won marks the preset too,
 *   but a retry costs one visit), or no event at all (their execution threw before reporting): a
 *   write that failed marks nothing by itself;
 * - those whose creates the in-flight cap held back (`plan.capped`, issue #13): their decision
 *   depends on other presets' jobs finishing, which marks only those presets.
 * A write that succeeded marks its preset by itself (the triggers), and a deliberate skip (hard
 * limit, cancel disabled) would be skipped again.
 */
export function presetsToRetry(
  planned: readonly PlannedPreset[],
  work: readonly PlannedPreset[],
  events: readonly ActionEvent[],
): string[] {
  const reported = new Set<string>();
  const retry = new Set<string>();
  for (const event of events) {
    const id = event.preset.presetId;
    reported.add(id);
    if (event.outcome === "failure" || event.effects.lostRaces > 0) retry.add(id);
  }
  for (const p of work) if (!reported.has(p.preset.presetId)) retry.add(p.preset.presetId);
  for (const p of planned) if (p.plan.capped !== undefined) retry.add(p.preset.presetId);
  return [...retry];
}

/**
 * Each planned preset's next time-driven decision change after `at` (nextDecisionChange, given its
 * plan: a preset the in-flight cap held back is due at once, issue #13).
 */
export function wakeUpsOf(
  planned: readonly PlannedPreset[],
  at: Date,
  options: WakeOptions,
): WakeUp[] {
  const wakeUps: WakeUp[] = [];
  const cache = new ScheduleCache();
  for (const p of planned) {
    const dueAt = nextDecisionChange(p.snapshot, at, options, p.plan, cache);
    if (dueAt !== null) wakeUps.push({ presetId: p.preset.presetId, dueAt });
  }
  return wakeUps;
}

/**
 * Runs FinishCycle with `client`, the cycle's lock transaction (REPEATABLE READ: only the marks the
 * cycle's snapshot saw are consumed; a mark committed since stays for the next cycle). A full
 * resync replaces every wake-up and stamps last_full_resync_at with `at`; an incremental cycle
 * replaces those of the presets in its scope.
 */
export async function recordBookkeeping(
  client: SqlClient,
  scope: CycleScope,
  at: Date,
  bookkeeping: Bookkeeping,
): Promise<FinishCycleRow> {
  const row = await finishCycle(client, {
    retryPresetIds: [...bookkeeping.retryPresetIds],
    fullResync: scope.kind === "full",
    visitedPresetIds: [...(scope.presetIds ?? [])],
    duePresetIds: bookkeeping.wakeUps.map((w) => w.presetId),
    dueAts: bookkeeping.wakeUps.map((w) => w.dueAt),
    now: at,
  });
  if (row === null) throw new Error("FinishCycle returned no row");
  return row;
}

/**
 * Asks for a full resync on the next cycle of any replica (a NULL mark), on its own connection:
 * for a cycle whose bookkeeping failed after it acted (its lock transaction is then aborted, so
 * its wake-ups were not stored). Rejects when the database refuses too (then it is down or
 * read-only, and nothing else gets written either).
 */
export async function requestFullResync(db: Database, signal?: AbortSignal): Promise<void> {
  await withSingleStatement(db, { signal }, (client) => markEverythingDirty(client));
}
