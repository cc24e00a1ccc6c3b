// One reconciliation cycle (reference §2.1) as a handful of named steps:
//   beginCycle      the cycle's clock, statement counter and abort signal (shutdown or lost lock)
//   readAndAct      withCycleInputs (lock, pause, snapshot, plan; cycleInputs.ts) then, while the
//                   lock transaction stays open, executePlan (executePlan.ts) and
//                   recoverHungJobsStep (one statement: jobs without a heartbeat, issue #12)
//   finishCycle     the report, its log line and its row in prebuild_reconciliation_runs
//   failCycle       a cycle that could not run: logged at error level with its cause, recorded
// Writes use other pooled connections, each in a short transaction. Aborting (shutdown) or losing
// the lock session stops new writes, cancels the ones in flight, rolls back every open
// transaction and only then releases the lock. Concurrency model: plain Promises and one
// AbortSignal per cycle; Effect only at the daemon's edge (docs/architecture.md).
import { hostname } from "node:os";
import type pg from "pg";
import { type Database, poolMaxSize } from "../db/pool.ts";
import { AbortedError } from "../db/transaction.ts";
import { type JobNotifier, pgJobNotifier } from "../execute/notifier.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import { withSpan } from "../observe/tracing.ts";
import { type CycleInputs, withCycleInputs } from "./cycleInputs.ts";
import { executePlan, needsWork } from "./executePlan.ts";
import { LockLostError } from "./lockLoss.ts";
import { NO_OBSERVER, type ReconcilerObserver } from "./observer.ts";
import { type ReconcilerOptions, resolveOptions } from "./options.ts";
import { recoverHungJobsStep } from "./recoverHungJobsStep.ts";
import {
  type CycleReport,
  emptyActionCounts,
  outcomeTotals,
  runCounts,
  summarizeEvents,
} from "./report.ts";
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

const REPLICA = `${hostname()}:${process.pid}`;

type CycleResult =
  | { readonly kind: "lock_not_acquired" }
  | { readonly kind: "paused" }
  | {
      readonly kind: "completed";
      readonly presetsTotal: number;
      readonly presetsReconciled: number;
      readonly events: readonly ActionEvent[];
      readonly warnings: readonly string[];
    };

interface Cycle {
  readonly options: ReconcilerOptions & { readonly concurrency: number };
  readonly logger: Logger;
  readonly observer: ReconcilerObserver;
  readonly pool: pg.Pool;
  /** Counts the statements the cycle sends. */
  readonly db: Database;
  readonly notifier: JobNotifier;
  /** Aborts on shutdown (the caller's signal) or when the lock session is lost. */
  readonly signal: AbortSignal;
  /** The caller's signal alone (shutdown): bounds recording the cycle, even after a lost lock. */
  readonly shutdown: AbortSignal | undefined;
  readonly loseLock: (cause: Error) => void;
  readonly lockLost: () => LockLostError | undefined;
  readonly statements: () => number;
  readonly startedAt: Date;
  readonly clockStart: number;
  readonly end: () => void;
}

function beginCycle(deps: ReconcilerDeps, outer: AbortSignal | undefined): Cycle {
  const options = resolveOptions(deps.options, poolMaxSize(deps.pool));
  let statements = 0;
  const db: Database = {
    pool: deps.pool,
    onStatement: (text) => {
      statements++;
      deps.onStatement?.(text);
    },
  };
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  let lost: LockLostError | undefined;
  return {
    options,
    logger: deps.logger,
    observer: deps.observer ?? NO_OBSERVER,
    pool: deps.pool,
    db,
    notifier: deps.notifier ?? pgJobNotifier(db),
    signal: controller.signal,
    shutdown: outer,
    loseLock: (cause) => {
      if (controller.signal.aborted) return;
      lost = new LockLostError(cause);
      controller.abort(lost);
    },
    lockLost: () => lost,
    statements: () => statements,
    startedAt: options.now(),
    clockStart: performance.now(),
    end: () => outer?.removeEventListener("abort", onOuterAbort),
  };
}

function notify<T>(logger: Logger, hook: ((value: T) => void) | undefined, value: T): void {
  if (hook === undefined) return;
  try {
    hook(value);
  } catch (error) {
    logger.error({ err: error }, "a reconciler observer hook threw; ignoring it");
  }
}

/** Logs what the read found and tells the observer (lock, pause, plan). */
function observeInputs(cycle: Cycle, inputs: CycleInputs): void {
  const { logger, observer } = cycle;
  notify(logger, observer.onLock, inputs.kind !== "lock_not_acquired");
  if (inputs.kind === "lock_not_acquired") {
    logger.debug("another replica holds the reconciliation lock; skipping this cycle");
    return;
  }
  if (inputs.settings.problem !== undefined) logger.error(inputs.settings.problem);
  notify(logger, observer.onPaused, inputs.settings.reconciliationPaused);
  if (inputs.kind === "paused") {
    logger.info(
      "reconciliation is paused: doing nothing (queued jobs keep running); `prebuildsd resume` to act again",
    );
    return;
  }
  // Bad data (issue #8): each sentence names its row and the fallback taken. Logged as errors,
  // every cycle, because only an operator fixing the row makes them stop.
  for (const warning of inputs.warnings) logger.error(warning);
  const { onPlanned } = observer;
  if (onPlanned)
    notify(logger, (p: typeof inputs.planned) => onPlanned(p, inputs.at), inputs.planned);
}

/** Reads the inputs under the lock and, with the lock transaction still open, acts on them. */
function readAndAct(
  cycle: Cycle,
  setAttributes: (attributes: Record<string, string | number>) => void,
): Promise<CycleResult> {
  const { options } = cycle;
  const request = {
    options,
    lock: true,
    stopWhenPaused: true,
    signal: cycle.signal,
    onSessionLost: cycle.loseLock,
  };
  return withCycleInputs(cycle.db, request, async (inputs): Promise<CycleResult> => {
    observeInputs(cycle, inputs);
    if (inputs.kind !== "read") return inputs;
    const work = inputs.planned.filter(needsWork);
    setAttributes({
      "prebuilds.presets_total": inputs.planned.length,
      "prebuilds.presets_with_work": work.length,
      "prebuilds.concurrency": options.concurrency,
    });
    const events = await executePlan(
      {
        db: cycle.db,
        options,
        logger: cycle.logger,
        notifier: cycle.notifier,
        onAction: (event) => notify(cycle.logger, cycle.observer.onAction, event),
        signal: cycle.signal,
      },
      work,
    );
    await recoverHungJobsStep(cycle.db, options.jobHangTimeout, cycle.logger, (job) =>
      notify(cycle.logger, cycle.observer.onHungJobRecovered, job),
    );
    return {
      kind: "completed",
      presetsTotal: inputs.planned.length,
      presetsReconciled: inputs.planned.filter((p) => !p.skipped).length,
      events,
      warnings: inputs.warnings,
    };
  });
}

/**
 * A cycle that could not run. Shutdown: AbortedError, nothing recorded. Otherwise (the database
 * failed, the lock was lost) the cause is logged at error level and recorded as a failed run;
 * returns the error for the caller to throw.
 */
async function failCycle(cycle: Cycle, error: unknown): Promise<unknown> {
  const lost = cycle.lockLost();
  if (lost === undefined && (error instanceof AbortedError || cycle.signal.aborted)) {
    return error instanceof AbortedError ? error : new AbortedError(cycle.signal.reason);
  }
  const failure = lost ?? error;
  cycle.logger.error({ err: failure }, "reconciliation cycle failed; the next cycle retries");
  notify(cycle.logger, cycle.observer.onCycleError, failure);
  if (cycle.options.recordRuns) {
    await recordReconciliationRun(
      cycle.pool,
      {
        startedAt: cycle.startedAt,
        finishedAt: cycle.options.now(),
        outcome: "failed",
        replica: REPLICA,
        error: failure instanceof Error ? failure.message : String(failure),
        keepRuns: cycle.options.keepRuns,
      },
      cycle.shutdown,
    ).catch((recordError: unknown) =>
      cycle.logger.warn({ err: recordError }, "could not record the failed cycle"),
    );
  }
  return failure;
}

function cycleReport(cycle: Cycle, result: CycleResult, finishedAt: Date): CycleReport {
  const completed = result.kind === "completed" ? result : undefined;
  const summary = completed ? summarizeEvents(completed.events) : undefined;
  return {
    startedAt: cycle.startedAt,
    finishedAt,
    durationMs: performance.now() - cycle.clockStart,
    lockAcquired: result.kind !== "lock_not_acquired",
    paused: result.kind === "paused",
    presetsTotal: completed?.presetsTotal ?? 0,
    presetsReconciled: completed?.presetsReconciled ?? 0,
    actions: summary?.actions ?? emptyActionCounts(),
    effects: summary?.effects ?? {
      created: 0,
      deleted: 0,
      canceledJobs: 0,
      orphanDeleted: 0,
      lostRaces: 0,
    },
    failures: summary?.failures ?? 0,
    statements: cycle.statements(),
    warnings: completed?.warnings ?? [],
  };
}

/** The report of a cycle that ran: logged (info when it acted), recorded, observed. */
async function finishCycle(cycle: Cycle, result: CycleResult): Promise<CycleReport> {
  const { logger, options } = cycle;
  const report = cycleReport(cycle, result, options.now());
  const totals = outcomeTotals(report.actions);
  if (result.kind === "completed") {
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
        statements: report.statements,
      },
      "reconciliation cycle completed",
    );
  }
  if (report.lockAcquired && options.recordRuns) {
    await recordReconciliationRun(
      cycle.pool,
      {
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        outcome: report.paused ? "paused" : "completed",
        replica: REPLICA,
        ...runCounts(report),
        keepRuns: options.keepRuns,
      },
      cycle.shutdown,
    ).catch((error: unknown) =>
      logger.warn(
        { err: error },
        "could not record the cycle in prebuild_reconciliation_runs; `status` will show an older one",
      ),
    );
  }
  notify(logger, cycle.observer.onCycle, report);
  return report;
}

/**
 * Runs one cycle. Resolves with what it did (lock held by another replica and paused included).
 * Rejects when the cycle could not run (the database failed, the lock session was lost:
 * LockLostError), or with AbortedError when `signal` aborted it; either way every write it had
 * in flight was canceled or rolled back first.
 */
export async function reconcileOnce(
  deps: ReconcilerDeps,
  run: { readonly signal?: AbortSignal } = {},
): Promise<CycleReport> {
  const cycle = beginCycle(deps, run.signal);
  let result: CycleResult;
  try {
    result = await withSpan("prebuilds.reconcile", {}, async (setAttributes) => {
      const r = await readAndAct(cycle, setAttributes);
      setAttributes({ "prebuilds.statements": cycle.statements(), "prebuilds.outcome": r.kind });
      return r;
    });
  } catch (error) {
    throw await failCycle(cycle, error);
  } finally {
    cycle.end();
  }
  return finishCycle(cycle, result);
}
