// Each cycle's outcome, in prebuild_reconciliation_runs, so `status` reads the last cycle from the
// database (any replica, or an operator's laptop) rather than from one process's memory.
import type pg from "pg";
import { autocommit } from "../db/pool.ts";
import { insertReconciliationRun } from "../db/sql/reconciliation_sql.ts";
import {
  type ListRecentReconciliationRunsRow,
  listRecentReconciliationRuns,
} from "../db/sql/status_sql.ts";
import { withSingleStatement } from "../db/transaction.ts";

type ReconciliationRunOutcome = "completed" | "paused" | "failed";

export interface ReconciliationRunRecord {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly outcome: ReconciliationRunOutcome;
  /** "full" or "incremental"; null (or absent) when the cycle read nothing (paused, failed). */
  readonly kind?: "full" | "incremental" | null;
  readonly replica: string;
  readonly presetsTotal?: number;
  readonly presetsReconciled?: number;
  readonly actionsSucceeded?: number;
  readonly actionsFailed?: number;
  readonly actionsSkipped?: number;
  readonly prebuildsCreated?: number;
  readonly prebuildsDeleted?: number;
  readonly jobsCanceled?: number;
  readonly statements?: number;
  readonly createsHeldBack?: number;
  readonly inflightJobs?: number | null;
  readonly inflightCap?: number | null;
  readonly error?: string | null;
  /** Rows kept; older ones are pruned by the same statement. */
  readonly keepRuns: number;
}

/** Records one cycle; `signal` (shutdown) abandons the insert, e.g. while the database is silent. */
export async function recordReconciliationRun(
  pool: pg.Pool,
  run: ReconciliationRunRecord,
  signal?: AbortSignal,
): Promise<void> {
  await withSingleStatement({ pool }, { signal }, (client) =>
    insertReconciliationRun(client, {
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      outcome: run.outcome,
      replica: run.replica,
      presetsTotal: run.presetsTotal ?? 0,
      presetsReconciled: run.presetsReconciled ?? 0,
      actionsSucceeded: run.actionsSucceeded ?? 0,
      actionsFailed: run.actionsFailed ?? 0,
      actionsSkipped: run.actionsSkipped ?? 0,
      prebuildsCreated: run.prebuildsCreated ?? 0,
      prebuildsDeleted: run.prebuildsDeleted ?? 0,
      jobsCanceled: run.jobsCanceled ?? 0,
      statements: run.statements ?? 0,
      error: run.error ?? null,
      kind: run.kind ?? null,
      createsHeldBack: run.createsHeldBack ?? 0,
      inflightJobs: run.inflightJobs ?? null,
      inflightCap: run.inflightCap ?? null,
      keepRuns: Math.max(1, Math.floor(run.keepRuns)),
    }),
  );
}

export type ReconciliationRun = ListRecentReconciliationRunsRow;

/** The newest recorded cycle (any outcome), or null before the first. */
export async function lastReconciliationRun(pool: pg.Pool): Promise<ReconciliationRun | null> {
  const [run] = await listRecentReconciliationRuns(autocommit({ pool }), { maxRuns: 1 });
  return run ?? null;
}
