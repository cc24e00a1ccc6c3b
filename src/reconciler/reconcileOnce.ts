// One reconciliation cycle end to end (reference §2.1): in a read-only REPEATABLE READ transaction,
// take the advisory lock (lost race: quiet return), read the pause setting, snapshot in a constant
// number of statements, plan, then execute presets in parallel with bounded concurrency while the
// lock transaction stays open. Writes use other pooled connections, each in a short transaction.
// Interrupting the Effect (or aborting the signal) stops new work, rolls back every open
// transaction, and only then releases the lock.
import { hostname } from "node:os";
import { context } from "@opentelemetry/api";
import { Data, Effect } from "effect";
import type pg from "pg";
import { type Database, poolMaxSize } from "../db/pool.ts";
import { AbortedError, fromAbortable, withTransaction } from "../db/transaction.ts";
import { executePreset } from "../execute/executePreset.ts";
import {
  type BufferedNotifier,
  bufferedNotifier,
  type JobNotifier,
  pgJobNotifier,
} from "../execute/notifier.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import { withSpan } from "../observe/tracing.ts";
import { type PlannedPreset, planAll } from "../plan/index.ts";
import { readPrebuildsSettings } from "../snapshot/settings.ts";
import { takeSnapshot } from "../snapshot/takeSnapshot.ts";
import { tryAcquireReconciliationLock } from "./lock.ts";
import { NO_OBSERVER, type ReconcilerObserver } from "./observer.ts";
import { type ReconcilerOptions, resolveOptions } from "./options.ts";
import { type CycleReport, emptyActionCounts, outcomeTotals, summarizeEvents } from "./report.ts";
import { recordReconciliationRun } from "./runs.ts";

export interface ReconcilerDeps {
  /** Pool for the lock transaction and, on other connections, the writes. */
  readonly pool: pg.Pool;
  readonly logger: Logger;
  readonly options?: Partial<ReconcilerOptions>;
  readonly observer?: ReconcilerObserver;
  /** Default: pg_notify on the pool. Inject one that fails to prove notifications are advisory. */
  readonly notifier?: JobNotifier;
  /** Sees the text of every statement the cycle sends (they are also counted in the report). */
  readonly onStatement?: (text: string) => void;
}

/** The cycle itself could not run (database unreachable, snapshot failed); actions never fail it. */
export class ReconcileError extends Data.TaggedError("ReconcileError")<{
  readonly message: string;
  readonly cause: unknown;
}> {}

export const REPLICA = `${hostname()}:${process.pid}`;

type CycleBody =
  | { readonly kind: "lock_not_acquired" }
  | { readonly kind: "paused" }
  | {
      readonly kind: "completed";
      readonly presetsTotal: number;
      readonly presetsReconciled: number;
      readonly events: readonly ActionEvent[];
      readonly warnings: readonly string[];
    };

function notify<T>(logger: Logger, hook: ((value: T) => void) | undefined, value: T): void {
  if (hook === undefined) return;
  try {
    hook(value);
  } catch (error) {
    logger.error({ err: error }, "a reconciler observer hook threw; ignoring it");
  }
}

/** After every write of the cycle committed; advisory (provisioners poll too), so never throws. */
async function notifyProvisioners(logger: Logger, notifier: BufferedNotifier): Promise<void> {
  try {
    await notifier.flush();
  } catch (error) {
    logger.warn(
      { err: error },
      "could not notify provisioners of new jobs; they will find them by polling",
    );
  }
}

/** A preset needs a worker slot when it has actions, or a hard limit to persist. */
function needsWork(p: PlannedPreset): boolean {
  if (p.skipped) return false;
  return (
    p.plan.actions.length > 0 ||
    (p.snapshot.isHardLimited && p.preset.prebuildStatus !== "hard_limited")
  );
}

/**
 * Runs one cycle. Resolves with what it did (lock lost and paused included); rejects only when
 * the cycle could not run, or with AbortedError when `signal` aborted it (everything rolled back).
 */
export async function reconcileOnce(
  deps: ReconcilerDeps,
  run: { readonly signal?: AbortSignal } = {},
): Promise<CycleReport> {
  const options = resolveOptions(deps.options, poolMaxSize(deps.pool));
  const { logger } = deps;
  const observer = deps.observer ?? NO_OBSERVER;
  const signal = run.signal ?? new AbortController().signal;
  let statements = 0;
  const db: Database = {
    pool: deps.pool,
    onStatement: (text) => {
      statements++;
      deps.onStatement?.(text);
    },
  };
  // Writes report their jobs here; they are sent in one go once every preset is done.
  const notifier = bufferedNotifier(deps.notifier ?? pgJobNotifier(db));
  const startedAt = options.now();
  const clockStart = performance.now();

  let body: CycleBody;
  try {
    body = await withSpan("prebuilds.reconcile", {}, async (setCycleAttributes) => {
      const parentContext = context.active();
      const result = await withTransaction(
        db,
        { isolation: "repeatable read", readOnly: true, signal },
        async (lockClient): Promise<CycleBody> => {
          const acquired = await tryAcquireReconciliationLock(lockClient);
          notify(logger, observer.onLock, acquired);
          if (!acquired) {
            logger.debug("another replica holds the reconciliation lock; skipping this cycle");
            return { kind: "lock_not_acquired" };
          }
          const settings = await readPrebuildsSettings(lockClient);
          if (settings.problem !== undefined) logger.error(settings.problem);
          notify(logger, observer.onPaused, settings.reconciliationPaused);
          if (settings.reconciliationPaused) {
            logger.info(
              "reconciliation is paused: doing nothing (queued jobs keep running); `prebuildsd resume` to act again",
            );
            return { kind: "paused" };
          }
          const now = options.now();
          const snapshot = await withSpan("prebuilds.snapshot", {}, async (setAttributes) => {
            const s = await takeSnapshot(lockClient, {
              now,
              backoffLookback: options.backoffLookback,
              failureHardLimit: options.failureHardLimit,
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
          const planned = planAll(snapshot, now, { backoffInterval: options.backoffInterval });
          // Bad data (issue #8): each sentence names its row and the fallback taken. Logged as
          // errors, every cycle, because only an operator fixing the row makes them stop.
          const warnings = [...snapshot.problems, ...planned.flatMap((p) => p.plan.warnings)];
          for (const warning of warnings) logger.error(warning);
          const onPlanned = observer.onPlanned;
          if (onPlanned)
            notify(logger, (p: readonly PlannedPreset[]) => onPlanned(p, now), planned);
          const work = planned.filter(needsWork);
          setCycleAttributes({
            "prebuilds.presets_total": planned.length,
            "prebuilds.presets_with_work": work.length,
            "prebuilds.concurrency": options.concurrency,
          });
          const events: ActionEvent[] = [];
          const reconcilePreset = (p: PlannedPreset) =>
            fromAbortable(
              (presetSignal) =>
                context.with(parentContext, () =>
                  executePreset({
                    db,
                    planned: p,
                    options,
                    logger,
                    notifier,
                    onAction: (event) => notify(logger, observer.onAction, event),
                    signal: presetSignal,
                  }).then(
                    (presetEvents) => {
                      events.push(...presetEvents);
                    },
                    (error: unknown) => {
                      // Isolation: one preset's unexpected failure never stops the others.
                      if (error instanceof AbortedError || presetSignal.aborted) throw error;
                      logger.error(
                        {
                          err: error,
                          preset: p.preset.presetName,
                          presetId: p.preset.presetId,
                          template: p.preset.templateName,
                        },
                        "reconciling preset failed unexpectedly",
                      );
                    },
                  ),
                ),
              (cause) => cause,
            );
          await Effect.runPromise(
            Effect.forEach(work, reconcilePreset, {
              concurrency: options.concurrency,
              discard: true,
            }),
            { signal },
          );
          await notifyProvisioners(logger, notifier);
          return {
            kind: "completed",
            presetsTotal: planned.length,
            presetsReconciled: planned.filter((p) => !p.skipped).length,
            events,
            warnings,
          };
        },
      );
      setCycleAttributes({ "prebuilds.statements": statements, "prebuilds.outcome": result.kind });
      return result;
    });
  } catch (error) {
    const aborted = error instanceof AbortedError || signal.aborted;
    if (!aborted) {
      logger.error({ err: error }, "reconciliation cycle failed; the next cycle retries");
      notify(logger, observer.onCycleError, error);
      if (options.recordRuns) {
        await recordReconciliationRun(deps.pool, {
          startedAt,
          finishedAt: options.now(),
          outcome: "failed",
          replica: REPLICA,
          error: error instanceof Error ? error.message : String(error),
          keepRuns: options.keepRuns,
        }).catch((recordError: unknown) =>
          logger.warn({ err: recordError }, "could not record the failed cycle"),
        );
      }
    }
    throw aborted && !(error instanceof AbortedError) ? new AbortedError(signal.reason) : error;
  }

  const finishedAt = options.now();
  const summary = body.kind === "completed" ? summarizeEvents(body.events) : null;
  const report: CycleReport = {
    startedAt,
    finishedAt,
    durationMs: performance.now() - clockStart,
    lockAcquired: body.kind !== "lock_not_acquired",
    paused: body.kind === "paused",
    presetsTotal: body.kind === "completed" ? body.presetsTotal : 0,
    presetsReconciled: body.kind === "completed" ? body.presetsReconciled : 0,
    actions: summary?.actions ?? emptyActionCounts(),
    effects: summary?.effects ?? {
      created: 0,
      deleted: 0,
      canceledJobs: 0,
      orphanDeleted: 0,
      lostRaces: 0,
    },
    failures: summary?.failures ?? 0,
    statements,
    warnings: body.kind === "completed" ? body.warnings : [],
  };
  if (body.kind === "completed") {
    const totals = outcomeTotals(report.actions);
    const acted = totals.success + totals.failure + totals.skipped > 0;
    (acted ? logger.info.bind(logger) : logger.debug.bind(logger))(
      {
        durationMs: Math.round(report.durationMs),
        presetsTotal: report.presetsTotal,
        presetsReconciled: report.presetsReconciled,
        ...report.effects,
        actionsSucceeded: totals.success,
        actionsFailed: totals.failure,
        actionsSkipped: totals.skipped,
        statements,
      },
      "reconciliation cycle completed",
    );
  }
  if (report.lockAcquired && options.recordRuns) {
    const totals = outcomeTotals(report.actions);
    await recordReconciliationRun(deps.pool, {
      startedAt,
      finishedAt,
      outcome: report.paused ? "paused" : "completed",
      replica: REPLICA,
      presetsTotal: report.presetsTotal,
      presetsReconciled: report.presetsReconciled,
      actionsSucceeded: totals.success,
      actionsFailed: totals.failure,
      actionsSkipped: totals.skipped,
      prebuildsCreated: report.effects.created,
      prebuildsDeleted: report.effects.deleted + report.effects.orphanDeleted,
      jobsCanceled: report.effects.canceledJobs,
      statements,
      keepRuns: options.keepRuns,
    }).catch((error: unknown) =>
      logger.warn(
        { err: error },
        "could not record the cycle in prebuild_reconciliation_runs; `status` will show an older one",
      ),
    );
  }
  notify(logger, observer.onCycle, report);
  return report;
}

/**
 * The cycle as an Effect, for the daemon's loop. Interrupting the fiber aborts the cycle: open
 * write transactions roll back, then the lock transaction; the interruption completes after that.
 */
export function reconcileCycle(deps: ReconcilerDeps): Effect.Effect<CycleReport, ReconcileError> {
  return fromAbortable(
    (signal) => reconcileOnce(deps, { signal }),
    (cause) =>
      new ReconcileError({
        message: `reconciliation cycle failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      }),
  );
}
