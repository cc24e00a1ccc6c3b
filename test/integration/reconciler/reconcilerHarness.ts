// Builds reconciler deps for a test database and runs cycles: a silent logger, a fixed clock by
// default, and notifiers that work or always fail.
import type pg from "pg";
import { afterEach, expect } from "vitest";
import { type ExecuteOptions, executePreset } from "../../../src/execute/executePreset.ts";
import type { JobNotifier, PostedJob } from "../../../src/execute/notifier.ts";
import type { ActionEvent } from "../../../src/execute/outcome.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import type { ReconcilerOptions } from "../../../src/reconciler/options.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { type ReconcilerDeps, reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { Seed } from "./fixtures.ts";

/**
 * Records every job it is asked to announce; with `fails`, then throws (notifications are
 * advisory, so nothing else may change).
 */
export function recordingNotifier(
  options: { readonly fails?: boolean } = {},
): JobNotifier & { readonly posted: PostedJob[] } {
  const posted: PostedJob[] = [];
  return {
    posted,
    notifyJobsPosted: async (jobs) => {
      posted.push(...jobs);
      if (options.fails === true) throw new Error("pubsub is broken (injected)");
    },
  };
}

export function makeDeps(
  pool: pg.Pool,
  overrides: Partial<Omit<ReconcilerDeps, "pool" | "options">> & {
    options?: Partial<ReconcilerOptions>;
  } = {},
): ReconcilerDeps {
  return {
    pool,
    logger: silentLogger,
    ...overrides,
    options: { recordRuns: false, ...overrides.options },
  };
}

/** Runs `n` cycles one after another (the reference runs 8 to prove idempotence). */
export async function runCycles(deps: ReconcilerDeps, n = 8): Promise<CycleReport[]> {
  const reports: CycleReport[] = [];
  for (let i = 0; i < n; i++) reports.push(await reconcileOnce(deps));
  return reports;
}

/**
 * Runs `n` cycles and fails unless cycles 2..n PLANNED no action at all (issue #11): the first
 * cycle did everything, and a later one that keeps planning a write that matches nothing (a
 * CancelPending or Delete the database refuses every cycle) is not idempotent, even though it
 * changes no row. Returns the reports.
 */
export async function runCyclesSettled(deps: ReconcilerDeps, n = 8): Promise<CycleReport[]> {
  const planned: string[][] = [];
  const inner = deps.observer?.onPlanned;
  const watched: ReconcilerDeps = {
    ...deps,
    observer: {
      ...deps.observer,
      onPlanned: (presets, at) => {
        planned.push(
          presets.flatMap((p) =>
            p.plan.actions.map((a) => `${p.preset.presetName}: ${a._tag} (${a.reason})`),
          ),
        );
        inner?.(presets, at);
      },
    },
  };
  const reports = await runCycles(watched, n);
  expect(planned).toHaveLength(n);
  for (const [i, actions] of planned.entries()) {
    if (i > 0) expect({ cycle: i + 1, actions }).toEqual({ cycle: i + 1, actions: [] });
  }
  return reports;
}

/** Registers an afterEach that drops them; returns a function giving each test its own database. */
export function databasePerTest(): () => Promise<{ db: TestDatabase; seed: Seed }> {
  const open: TestDatabase[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.drop();
  });
  return async () => {
    const db = await freshDatabase();
    open.push(db);
    return { db, seed: new Seed(db.pool) };
  };
}

/**
 * Resolves once a statement whose text contains `fragment` runs on the server (state active in
 * pg_stat_activity of this database). Interrupting before that point would race the statement's
 * arrival: a pg_cancel_backend that lands first cancels nothing.
 */
export async function whenStatementActive(
  pool: pg.Pool,
  fragment: string,
  timeoutMs = 20_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
         AND position($1 in query) > 0`,
      [fragment],
    );
    const pid = r.rows[0]?.pid;
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no statement containing ${JSON.stringify(fragment)} became active`);
}

/** The preset's plan from a real snapshot, as the next cycle would make it (`maxInflightJobs`:
 *  the cap the plan applies; default none). */
export async function planFor(
  pool: pg.Pool,
  presetId: string,
  maxInflightJobs: number | null = null,
): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool, options: { maxInflightJobs } });
  const planned = preview.presets.find((p) => p.preset.presetId === presetId);
  if (planned === undefined) throw new Error(`preset ${presetId} not in the snapshot`);
  return planned;
}

/** Executes a (possibly stale) plan with the shipped executor, untagged jobs, a live-provisioner
 *  window of 90 s and no notifications. */
export function executePlanned(
  pool: pg.Pool,
  planned: PlannedPreset,
  options: Partial<ExecuteOptions> = {},
): Promise<readonly ActionEvent[]> {
  return executePreset({
    db: { pool },
    planned,
    options: {
      cancelPendingEnabled: true,
      provisionerStaleAfter: 90_000,
      jobTags: {},
      ...options,
    },
    logger: silentLogger,
    notifier: { notifyJobsPosted: async () => {} },
    onAction: () => {},
    signal: new AbortController().signal,
  });
}
