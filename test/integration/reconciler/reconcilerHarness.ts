// Builds reconciler deps for a test database and runs cycles: a silent logger, a fixed clock by
// default, and notifiers that work or always fail.
import type pg from "pg";
import { afterEach } from "vitest";
import type { JobNotifier, PostedJob } from "../../../src/execute/notifier.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { ReconcilerOptions } from "../../../src/reconciler/options.ts";
import { type ReconcilerDeps, reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { Seed } from "./fixtures.ts";

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
