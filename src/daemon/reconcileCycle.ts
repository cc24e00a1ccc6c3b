// One cycle of the daemon's loop: the reconciler's cycle with this process's metrics and logs.
// It never rejects: a cycle that could not run is logged and counted, and the loop goes on.

import type { Config } from "../config/config.ts";
import { AbortedError } from "../db/transaction.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import { newCycleMemory } from "../reconciler/cycleKind.ts";
import { reconcileOnce } from "../reconciler/reconcileOnce.ts";
import type { CycleReport } from "../reconciler/report.ts";
import type { CycleFactory } from "./daemon.ts";
import { reconcilerObserver } from "./reconcilerObserver.ts";
import { reconcilerOptions } from "./reconcilerOptions.ts";

/** What else wants to hear about a cycle besides metrics and logs (the demo's live view). */
export interface CycleHooks {
  readonly onAction?: (event: ActionEvent) => void;
  /** After each cycle that ran (completed, paused or not the leader). */
  readonly onCycle?: (report: CycleReport) => void;
}

/** The daemon's (and the demo's) cycle: reconcileOnce with metrics, an overrun warning and hooks. */
export function reconcileCycleFactory(config: Config, hooks: CycleHooks = {}): CycleFactory {
  return (database, metrics, logger) => {
    const metricsObserver = reconcilerObserver(metrics);
    const observer = {
      ...metricsObserver,
      onAction: (event: ActionEvent) => {
        metricsObserver.onAction?.(event);
        hooks.onAction?.(event);
      },
    };
    const options = reconcilerOptions(config);
    // Across this daemon's cycles (issue #16): its first cycle with the lock, and any cycle after
    // a failed one, is a full resync.
    const memory = newCycleMemory();
    return async (signal) => {
      const started = performance.now();
      // Issue #11: a cycle that blocks must be visible while it blocks, not only when it ends.
      const overrun = setTimeout(() => {
        logger.warn(
          { intervalMs: config.reconciliationInterval },
          "reconciliation cycle still running after its interval; the next one starts only after it ends (a slow or silent database?)",
        );
      }, config.reconciliationInterval);
      overrun.unref();
      try {
        const report = await reconcileOnce(
          { pool: database.pool, logger, options, observer, memory },
          { signal },
        );
        const outcome = !report.lockAcquired
          ? "not_leader"
          : report.paused
            ? "paused"
            : "completed";
        metrics.recordCycle(outcome, report.durationMs / 1000, report.finishedAt);
        hooks.onCycle?.(report);
      } catch (error) {
        if (error instanceof AbortedError) {
          logger.info("cycle abandoned for shutdown: its transactions rolled back");
          return;
        }
        // reconcileOnce has logged it with its cause.
        metrics.recordCycle("failed", (performance.now() - started) / 1000, new Date());
        logger.debug({ err: error }, "cycle failed; retrying after the interval");
      } finally {
        clearTimeout(overrun);
        metrics.lockHeld.set(0);
      }
    };
  };
}
