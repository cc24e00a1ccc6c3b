// One reconciliation cycle (reference §2.1) as a handful of named steps:
//   beginCycle      the cycle's clock, statement counter and abort signal (shutdown or lost lock)
//   readAndAct      withCycleInputs (lock, pause, scope, snapshot, plan; cycleInputs.ts) then,
//                   while the lock transaction stays open, executePlan (executePlan.ts),
//                   recoverHungJobsStep (one statement: jobs without a heartbeat, issue #12) and
//                   bookkeep (one statement: consume the marks read, re-mark failed presets, store
//                   wake-ups; cycleBookkeeping.ts, issue #16)
//   finishCycle     the report, its log line and its row in prebuild_reconciliation_runs
//   failCycle       a cycle that could not run: logged at error level with its cause, recorded
// A cycle is incremental (only the presets marked dirty or due, and the rest of their templates)
// or a full resync (every preset): cycleKind.ts says when, docs/architecture.md why.
// Writes use other pooled connections, each in a short transaction. Aborting (shutdown) or losing
// the lock session stops new writes, cancels the ones in flight, rolls back every open
// transaction and only then releases the lock. Concurrency model: plain Promises and one
// AbortSignal per cycle; Effect only at the daemon's edge (docs/architecture.md).
import { hostname } from "node:os";
import type pg from "pg";
import { type Database, poolMaxSize } from "../db/pool.ts";
import { AbortedError, sqlState } from "../db/transaction.ts";
import { type JobNotifier, pgJobNotifier } from "../execute/notifier.ts";
import type { ActionEvent } from "../execute/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import { withSpan } from "../observe/tracing.ts";
import { describeHeldBack, type HeldBack, heldBackCreates } from "../plan/index.ts";
import {
  type Bookkeeping,
  presetsToRetry,
  requestFullResync,
  wakeUpsOf,
} from "./cycleBookkeeping.ts";
import { type CycleInputs, withCycleInputs } from "./cycleInputs.ts";
import type { CycleMemory } from "./cycleKind.ts";
import type { CycleScope } from "./cycleScope.ts";
import { executePlan, needsWork } from "./executePlan.ts";
import { LockLostError } from "./lockLoss.ts";
import { NO_OBSERVER, type ReconcilerObserver } from "./observer.ts";
import { type ReconcilerOptions, resolveOptions } from "./options.ts";
import { recoverHungJobsStep } from "./recoverHungJobsStep.ts";
import {
  type CycleReport,
  cycleLogFields,
  cycleWorthLogging,
  emptyActionCounts,
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
  /** The process's memory across cycles (the daemon's loop keeps one): its first cycle with the
   *  lock, and the one after a failure, are full resyncs. Absent: a one-shot cycle. */
  readonly memory?: CycleMemory;
}

/** One cycle's request. */
export interface CycleRun {
  /** Aborting ends the cycle (shutdown): writes in flight are canceled, transactions rolled back. */
  readonly signal?: AbortSignal;
  /** Read every preset whatever the marks say (`reconcile --once --full`). */
  readonly full?: boolean;
}

const REPLICA = `${hostname()}:${process.pid}`;

type CycleResult =
  | { readonly kind: "lock_not_acquired" }
  | { readonly kind: "paused" }
  | {
      readonly kind: "completed";
      readonly scope: CycleScope;
      /** The bookkeeping failed (logged): the next cycle must be a full resync. */
      readonly bookkeepingFailed: boolean;
      readonly presetsTotal: number;
      readonly presetsReconciled: number;
      readonly events: readonly ActionEvent[];
      readonly heldBack: HeldBack | null;
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
  readonly forceFull: boolean;
  readonly memory: CycleMemory | undefined;
  readonly loseLock: (cause: Error) => void;
  readonly lockLost: () => LockLostError | undefined;
  readonly statements: () => number;
  readonly startedAt: Date;
  readonly clockStart: number;
  readonly end: () => void;
}

function beginCycle(deps: ReconcilerDeps, run: CycleRun): Cycle {
  const outer = run.signal;
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
    forceFull: run.full ?? false,
    memory: deps.memory,
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
    scope: {
      fullResyncInterval: options.fullResyncInterval,
      forceFull: cycle.forceFull,
      memory: cycle.memory,
    },
  };
  return withCycleInputs(cycle.db, request, async (inputs): Promise<CycleResult> => {
    if (cycle.memory !== undefined) cycle.memory.heldLock = inputs.kind !== "lock_not_acquired";
    observeInputs(cycle, inputs);
    if (inputs.kind !== "read") return inputs;
    if (inputs.cycle === undefined)
      throw new Error("unreachable: a cycle's read without its scope");
    const { scope, bookkeep } = inputs.cycle;
    const work = inputs.planned.filter(needsWork);
    setAttributes({
      "prebuilds.cycle_kind": scope.kind,
      "prebuilds.presets_marked": scope.presetsMarked,
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
    const bookkept = await bookkeepStep(cycle, bookkeep, {
      retryPresetIds: presetsToRetry(inputs.planned, work, events),
      wakeUps: wakeUpsOf(inputs.planned, inputs.at, options),
    });
    return {
      kind: "completed",
      scope,
      bookkeepingFailed: !bookkept,
      presetsTotal: inputs.planned.length,
      presetsReconciled: inputs.planned.filter((p) => !p.skipped).length,
      events,
      heldBack: heldBackCreates(inputs.planned.map((p) => p.plan.capped)),
      warnings: inputs.warnings,
    };
  });
}

/**
 * The cycle's bookkeeping (cycleBookkeeping.ts), last in the lock transaction. The server refusing
 * it (a read-only database, a serialization failure against another replica's bookkeeping) does
 * not fail a cycle that already acted (a lost connection does, like any other statement's): the marks it read stay (its transaction rolls back), and so
 * that the wake-ups it could not store are not missed, the next cycle is a full resync (this
 * process's memory, and a NULL mark for any replica, best effort). Returns false on failure.
 */
async function bookkeepStep(
  cycle: Cycle,
  bookkeep: (bookkeeping: Bookkeeping) => Promise<unknown>,
  bookkeeping: Bookkeeping,
): Promise<boolean> {
  try {
    await bookkeep(bookkeeping);
    return true;
  } catch (error) {
    // Only a statement the server refused: a lost connection (no SQLSTATE, class 08, 57) fails the
    // cycle as any other statement's would.
    const code = sqlState(error);
    if (
      error instanceof AbortedError ||
      cycle.signal.aborted ||
      code === undefined ||
      code.startsWith("08") ||
      code.startsWith("57")
    ) {
      throw error;
    }
    cycle.logger.error(
      { err: error },
      "could not record the cycle's bookkeeping (dirty marks, wake-ups); the next cycle is a full resync",
    );
    await requestFullResync(cycle.db, cycle.signal).catch((markError: unknown) =>
      cycle.logger.warn({ err: markError }, "could not ask other replicas for a full resync"),
    );
    return false;
  }
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
  if (cycle.memory !== undefined) cycle.memory.lastCycleFailed = true;
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
    kind: completed?.scope.kind ?? null,
    fullResyncReason: completed?.scope.reason ?? null,
    presetsMarked: completed?.scope.presetsMarked ?? 0,
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
    heldBack: completed?.heldBack ?? null,
    failures: summary?.failures ?? 0,
    statements: cycle.statements(),
    warnings: completed?.warnings ?? [],
  };
}

/** The report of a cycle that ran: logged (info when it acted), recorded, observed. */
async function finishCycle(cycle: Cycle, result: CycleResult): Promise<CycleReport> {
  const { logger, options } = cycle;
  const report = cycleReport(cycle, result, options.now());
  if (result.kind === "completed") {
    if (cycle.memory !== undefined) cycle.memory.lastCycleFailed = result.bookkeepingFailed;
    (cycleWorthLogging(report) ? logger.info.bind(logger) : logger.debug.bind(logger))(
      cycleLogFields(report),
      report.heldBack === null
        ? "reconciliation cycle completed"
        : `reconciliation cycle completed; ${describeHeldBack(report.heldBack)}`,
    );
  }
  if (report.lockAcquired && options.recordRuns) {
    await recordReconciliationRun(
      cycle.pool,
      {
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        outcome: report.paused ? "paused" : "completed",
        kind: report.kind,
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
  run: CycleRun = {},
): Promise<CycleReport> {
  const cycle = beginCycle(deps, run);
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
