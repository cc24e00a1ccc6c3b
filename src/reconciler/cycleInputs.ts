// The one step that reads what a cycle decides from: open the REPEATABLE READ transaction, (for
// the cycle) take the advisory lock, read the pause setting, (for the cycle) read its scope
// (cycleScope.ts: incremental or full, issue #16), snapshot, plan. Shared by the cycle
// (reconcileOnce.ts), the dry run (planNextCycle.ts) and the metrics sampler
// (src/daemon/stateSampler.ts), so all three see the same inputs the same way; the dry run and the
// sampler always read everything (`plan` shows the full picture).
import type { Database } from "../db/pool.ts";
import type { FinishCycleRow } from "../db/sql/change_tracking_sql.ts";
import { withTransaction } from "../db/transaction.ts";
import { withSpan } from "../observe/tracing.ts";
import { type PlannedPreset, planAll } from "../plan/index.ts";
import { type PrebuildsSettings, readPrebuildsSettings } from "../snapshot/prebuildsSettings.ts";
import { type Snapshot, takeSnapshot } from "../snapshot/takeSnapshot.ts";
import { type Bookkeeping, recordBookkeeping } from "./cycleBookkeeping.ts";
import { type CycleScope, readCycleScope, type ScopeRequest } from "./cycleScope.ts";
import { tryAcquireReconciliationLock } from "./lock.ts";
import type { ReconcilerOptions } from "./options.ts";

export interface InputsRequest {
  readonly options: Pick<
    ReconcilerOptions,
    "backoffInterval" | "backoffLookback" | "failureHardLimit"
  > &
    Partial<Pick<ReconcilerOptions, "maxInflightJobs">> &
    Partial<
      Pick<
        ReconcilerOptions,
        "planAt" | "replaceStopped" | "rolloutMaxWait" | "cancelPendingEnabled"
      >
    >;
  /** Take the reconciliation lock first (the cycle); a lost race reads nothing more. */
  readonly lock?: boolean;
  /** Stop after the settings when reconciliation is paused (the cycle reads no snapshot then). */
  readonly stopWhenPaused?: boolean;
  /** Plan for this instant instead of the database's clock read in the snapshot (`plan --at`). */
  readonly at?: Date;
  /** Read inactive presets with nothing to do too (`plan` lists every preset). */
  readonly everyPreset?: boolean;
  /** The cycle (with `lock`): read only what its scope names (an incremental cycle) and keep the
   *  transaction writable for its bookkeeping. Absent: read every preset, read-only. */
  readonly scope?: ScopeRequest;
  /** Aborting rolls the read transaction back (and ends whatever `use` is doing with it). */
  readonly signal?: AbortSignal | undefined;
  /** The read transaction's session ended or errored while open: with `lock`, the lock is gone. */
  readonly onSessionLost?: (error: Error) => void;
}

/** What one read found. "read" carries the plan of every preset in the snapshot. */
export type CycleInputs =
  | { readonly kind: "lock_not_acquired" }
  | { readonly kind: "paused"; readonly settings: PrebuildsSettings }
  | {
      readonly kind: "read";
      readonly settings: PrebuildsSettings;
      /** The instant planned for: the database's clock read in the snapshot (one clock, issue
       *  #11), unless `at` or `options.planAt` named another. */
      readonly at: Date;
      readonly snapshot: Snapshot;
      readonly planned: readonly PlannedPreset[];
      /** Bad data found by the snapshot and the planner, one sentence each naming its row. */
      readonly warnings: readonly string[];
      /** With `scope`: what was read (full or incremental), and the step that ends the cycle's
       *  bookkeeping in this same transaction (cycleBookkeeping.ts). */
      readonly cycle?: {
        readonly scope: CycleScope;
        readonly bookkeep: (bookkeeping: Bookkeeping) => Promise<FinishCycleRow>;
      };
    };

/**
 * Reads a cycle's inputs in one read-only REPEATABLE READ transaction and calls `use` with them
 * while that transaction (and, with `lock`, the advisory lock) is still held; the transaction ends
 * when `use` settles. Rejects with AbortedError when `signal` aborts.
 */
export function withCycleInputs<A>(
  db: Database,
  request: InputsRequest,
  use: (inputs: CycleInputs) => Promise<A>,
): Promise<A> {
  return withTransaction(
    db,
    {
      isolation: "repeatable read",
      // The cycle's bookkeeping (FinishCycle) writes in this transaction; nothing else does.
      readOnly: request.scope === undefined,
      signal: request.signal,
      onSessionLost: request.onSessionLost,
    },
    async (client) => {
      if (request.lock && !(await tryAcquireReconciliationLock(client))) {
        return use({ kind: "lock_not_acquired" });
      }
      const settings = await readPrebuildsSettings(client);
      if (request.stopWhenPaused && settings.reconciliationPaused) {
        return use({ kind: "paused", settings });
      }
      const { options } = request;
      const planAt = request.at ?? options.planAt?.();
      const scope =
        request.scope === undefined
          ? undefined
          : await readCycleScope(client, request.scope, planAt);
      const snapshot = await withSpan("prebuilds.snapshot", {}, async (setAttributes) => {
        const s = await takeSnapshot(client, {
          at: planAt,
          backoffLookback: options.backoffLookback,
          failureHardLimit: options.failureHardLimit,
          everyPreset: request.everyPreset ?? false,
          replaceStopped: options.replaceStopped,
          presetIds: scope?.presetIds,
        });
        setAttributes({
          "prebuilds.presets": s.presets.length,
          "prebuilds.running": s.running.length,
          "prebuilds.pending_non_active": s.pendingNonActive.length,
          "prebuilds.backoffs": s.backoffs.length,
          "prebuilds.hard_limited": s.hardLimitedPresetIds.size,
        });
        return s;
      });
      // One clock (issue #11): plan at the instant the snapshot resolved (the database's clock).
      const { at } = snapshot;
      const planned = planAll(snapshot, at, {
        backoffInterval: options.backoffInterval,
        maxInflightJobs: options.maxInflightJobs ?? null,
        rolloutMaxWait: options.rolloutMaxWait,
        cancelPendingEnabled: options.cancelPendingEnabled,
      });
      const warnings = [...snapshot.problems, ...planned.flatMap((p) => p.plan.warnings)];
      const cycle =
        scope === undefined
          ? undefined
          : {
              scope,
              bookkeep: (bookkeeping: Bookkeeping) =>
                recordBookkeeping(client, scope, at, bookkeeping),
            };
      return use({ kind: "read", settings, at, snapshot, planned, warnings, cycle });
    },
  );
}

/** The inputs alone, the transaction ended (the dry run and the metrics sampler). */
export function readCycleInputs(
  db: Database,
  request: Omit<InputsRequest, "lock" | "stopWhenPaused" | "onSessionLost">,
): Promise<Extract<CycleInputs, { kind: "read" }>> {
  return withCycleInputs(db, request, async (inputs) => {
    if (inputs.kind !== "read")
      throw new Error(`unreachable: ${inputs.kind} without lock or pause`);
    return inputs;
  });
}
