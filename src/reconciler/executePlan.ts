// The cycle's write step: every preset with work, in parallel up to the concurrency, each on its
// own pooled connections; then one round of provisioner notifications. One preset's failure never
// stops the others; an abort (shutdown, lost lock) starts nothing new and waits for what runs.
import { context } from "@opentelemetry/api";
import type { Database } from "../db/pool.ts";
import { AbortedError } from "../db/transaction.ts";
import { executePreset } from "../execute/executePreset.ts";
import { bufferedNotifier, type JobNotifier } from "../execute/notifier.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import type { PlannedPreset } from "../plan/index.ts";
import type { ReconcilerOptions } from "./options.ts";
import { runBounded } from "./runBounded.ts";

export interface PlanExecution {
  readonly db: Database;
  readonly options: ReconcilerOptions & { readonly concurrency: number };
  readonly logger: Logger;
  readonly notifier: JobNotifier;
  readonly onAction: (event: ActionEvent) => void;
  readonly signal: AbortSignal;
}

/** A preset needs a worker slot when it has actions, or a stored status that no longer follows
 *  the hard limit (first detection, or recovery: issue #15). A paused preset has neither. */
export function needsWork(p: PlannedPreset): boolean {
  if (p.skipped) return false;
  const statusBehind = p.snapshot.isHardLimited !== (p.preset.prebuildStatus === "hard_limited");
  return p.plan.actions.length > 0 || (p.plan.paused === null && statusBehind);
}

/**
 * Carries out `work` (presets that `needsWork`). Resolves with one event per action attempted;
 * rejects with AbortedError once `signal` aborted, after every started write has settled.
 */
export async function executePlan(
  run: PlanExecution,
  work: readonly PlannedPreset[],
): Promise<readonly ActionEvent[]> {
  // Writes report their jobs here; they are sent in one go once every preset is done.
  const notifier = bufferedNotifier(run.notifier);
  const parentContext = context.active();
  const events: ActionEvent[] = [];
  await runBounded(work, run.options.concurrency, run.signal, async (p) => {
    try {
      const presetEvents = await context.with(parentContext, () =>
        executePreset({
          db: run.db,
          planned: p,
          options: run.options,
          logger: run.logger,
          notifier,
          onAction: run.onAction,
          signal: run.signal,
        }),
      );
      events.push(...presetEvents);
    } catch (error) {
      if (error instanceof AbortedError || run.signal.aborted) throw error;
      // Isolation: one preset's unexpected failure never stops the others.
      run.logger.error(
        {
          err: error,
          preset: p.preset.presetName,
          presetId: p.preset.presetId,
          template: p.preset.templateName,
        },
        "reconciling preset failed unexpectedly",
      );
    }
  });
  if (run.signal.aborted) throw new AbortedError(run.signal.reason);
  // After every write of the cycle committed; advisory (provisioners poll too), so never throws.
  try {
    await notifier.flush();
  } catch (error) {
    run.logger.warn(
      { err: error },
      "could not notify provisioners of new jobs; they will find them by polling",
    );
  }
  return events;
}
