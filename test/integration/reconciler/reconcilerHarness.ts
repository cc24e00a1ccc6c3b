// Builds reconciler deps for a test database and runs cycles: a silent logger, a fixed clock by
// default, and notifiers that work or always fail.
import type pg from "pg";
import type { JobNotifier, PostedJob } from "../../../src/execute/notifier.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { ReconcilerOptions } from "../../../src/reconciler/options.ts";
import { type ReconcilerDeps, reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";

/** A notifier that always fails: notifications are advisory, so nothing else may change. */
export const failingNotifier: JobNotifier = {
  notifyJobsPosted: async () => {
    throw new Error("pubsub is broken (injected)");
  },
};

export function recordingNotifier(): JobNotifier & { readonly posted: PostedJob[] } {
  const posted: PostedJob[] = [];
  return {
    posted,
    notifyJobsPosted: async (jobs) => {
      posted.push(...jobs);
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
 * A fresh database whose pool tolerates the FATAL its idle connections receive when drop() runs
 * DROP DATABASE ... WITH (FORCE) (without a listener pg reports it as an unhandled error).
 */
export async function freshReconcilerDatabase(): Promise<TestDatabase> {
  const db = await freshDatabase();
  db.pool.on("error", () => {});
  return db;
}
