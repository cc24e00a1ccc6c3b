// The cycle's own guarantees: one replica at a time (TestReconciliationLock), a statement count
// that does not grow with presets, shutdown mid-cycle leaving nothing half-done (AbortSignal and
// Effect interruption), and each cycle recorded for `status`.
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { setReconciliationPaused } from "../../../src/controls/reconciliationPause.ts";
import { abortable } from "../../../src/daemon/abortable.ts";
import { autocommit } from "../../../src/db/pool.ts";
import { AbortedError } from "../../../src/db/transaction.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { lastReconciliationRun } from "../../../src/reconciler/runs.ts";
import { readPrebuildsSettings } from "../../../src/snapshot/prebuildsSettings.ts";
import type { TestDatabase } from "../../harness/freshDatabase.ts";
import { createdFor, PREBUILDS, Seed, seedAntagonists, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles, whenStatementActive } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
/** The shipped Create's name line: pg_stat_activity shows only the first 1 kB of its text. */
const CREATE = "-- name: CreatePrebuilds ";

async function pendingJobIds(db: TestDatabase): Promise<string[]> {
  const r = await db.pool.query(
    "SELECT id FROM provisioner_jobs WHERE job_status = 'pending' AND initiator_id = $1",
    [PREBUILDS],
  );
  return r.rows.map((x) => x.id);
}

/** Half-created prebuilds: a workspace of the prebuilds user without a build, or a build without a job. */
async function orphans(db: TestDatabase): Promise<number> {
  const r = await db.pool.query(
    `SELECT count(*)::int AS n FROM workspaces w
     WHERE NOT EXISTS (SELECT 1 FROM workspace_builds wb WHERE wb.workspace_id = w.id)`,
  );
  return r.rows[0].n;
}

describe("the reconciliation cycle", () => {
  it("TestReconciliationLock: of 5 concurrent reconcilers exactly one acts while the others lose the lock", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 3 });
    const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
    let release = (): void => {};
    const othersDone = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The winner's notification (sent while it still holds the lock) waits until every other
    // reconciler has returned, so they all tried while the lock was held.
    const deps = makeDeps(db.pool, { notifier: { notifyJobsPosted: () => othersDone } });
    let settled = 0;
    const runs = Array.from({ length: 5 }, () =>
      reconcileOnce(deps).then((report) => {
        if (!report.lockAcquired && ++settled === 4) release();
        return report;
      }),
    );
    const reports: CycleReport[] = await Promise.all(runs);
    expect(reports.filter((r) => r.lockAcquired)).toHaveLength(1);
    expect(reports.filter((r) => !r.lockAcquired)).toHaveLength(4);
    for (const r of reports.filter((x) => !x.lockAcquired)) {
      expect(r.statements).toBe(3); // BEGIN, the lock attempt, ROLLBACK: nothing read or written
    }
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(3);
    await antagonists.verify();
  });

  it("sends the same number of statements per no-op cycle for 10 and for 100 presets, full or incremental", async () => {
    const statementsFor = async (
      presets: number,
    ): Promise<{ full: number; marked: number; idle: number }> => {
      const { db, seed } = await fresh();
      for (let i = 0; i < presets; i++) {
        const t = await seed.template();
        await seed.preset(t.versionId, { desired: 1 }); // an old version's preset, skipped
        const v2 = await seed.version(t, { activate: true });
        await seed.preset(v2, { desired: 1 });
      }
      const deps = makeDeps(db.pool);
      const [first] = await runCycles(deps, 1);
      expect(first?.effects.created).toBe(presets);
      await new Seed(db.pool).finishJobs(await pendingJobIds(db), "succeeded");
      // The completions marked every preset: an incremental cycle reads them all, then nothing.
      const [marked, ...idle] = await runCycles(deps, 3);
      const full = await runCycles(makeDeps(db.pool, { options: { fullResyncInterval: 0 } }), 2);
      if (marked === undefined) throw new Error("no cycle ran");
      const all = [marked, ...idle, ...full];
      expect(all.map(outcomeCount)).toEqual([0, 0, 0, 0, 0]);
      expect(all.map((r) => r.kind)).toEqual([
        "incremental",
        "incremental",
        "incremental",
        "full",
        "full",
      ]);
      expect(marked.presetsMarked).toBe(presets);
      expect(new Set(idle.map((r) => r.statements)).size).toBe(1);
      expect(new Set(full.map((r) => r.statements)).size).toBe(1);
      await db.drop();
      return {
        full: full[0]?.statements ?? -1,
        marked: marked.statements,
        idle: idle[0]?.statements ?? -1,
      };
    };
    const ten = await statementsFor(10);
    const hundred = await statementsFor(100);
    expect(hundred).toEqual(ten);
    // BEGIN, lock, settings, the cycle's work (issue #16), the database's clock, the prebuild jobs
    // in flight (issue #13's cap, global, so every cycle reads it), 5 snapshot reads (the running
    // prebuilds, backoff and hard limit in one, #16), the pool controls (issue #15), the hung-job
    // recovery (issue #12), the cycle's bookkeeping (#16), COMMIT.
    expect(ten.full).toBe(15);
    expect(ten.marked).toBe(15);
    // Nothing marked nor due: no snapshot read after the clock and the jobs in flight.
    expect(ten.idle).toBe(9);
  });

  it("an aborted cycle rolls back the write in flight, writes nothing half-done and releases the lock", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 5 });
    await seed.sql(`
      CREATE FUNCTION slow_build() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.4); RETURN NEW; END $$;
      CREATE TRIGGER slow_build BEFORE INSERT ON workspace_builds FOR EACH ROW EXECUTE FUNCTION slow_build();`);
    const controller = new AbortController();
    const statements: string[] = [];
    let armed = false;
    const deps = makeDeps(db.pool, {
      onStatement: (text) => {
        statements.push(text);
        // Abort once the INSERT chain runs on the server (not merely sent: a cancel that
        // arrived first would cancel nothing, and the INSERT would commit). Only the first
        // cycle's: the later cycle's fast create could finish unseen and leave the watcher
        // polling a dropped database.
        if (text.includes(CREATE) && !armed) {
          armed = true;
          void whenStatementActive(db.pool, CREATE).then(() => controller.abort());
        }
      },
    });
    await expect(reconcileOnce(deps, { signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    // The create (preset lock, then one statement) is canceled on the server and its transaction
    // rolled back, as is the lock transaction.
    expect(statements.filter((s) => s === "ROLLBACK")).toHaveLength(2);
    expect(statements.filter((s) => s.startsWith("BEGIN"))).toHaveLength(2);
    expect(statements).not.toContain("COMMIT");
    expect(await workspacesOf(db.pool, t.templateId)).toHaveLength(0);
    expect(await orphans(db)).toBe(0);
    await seed.sql("DROP TRIGGER slow_build ON workspace_builds");
    const [next] = await runCycles(deps, 1);
    expect(next?.lockAcquired).toBe(true);
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(5);
  });

  it("interrupting the daemon's fiber mid-cycle rolls back before the interruption completes", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    await seed.preset(t.versionId, { desired: 3 });
    const other = await seed.template();
    await seed.preset(other.versionId, { desired: 3 });
    await seed.sql(`
      CREATE FUNCTION slow_build() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$;
      CREATE TRIGGER slow_build BEFORE INSERT ON workspace_builds FOR EACH ROW EXECUTE FUNCTION slow_build();`);
    const deps = makeDeps(db.pool);
    // The daemon's bridge: interrupting its fiber aborts the cycle and waits for it to unwind.
    const fiber = Effect.runFork(
      abortable(
        (signal) =>
          reconcileOnce(deps, { signal }).then(
            () => undefined,
            () => undefined,
          ),
        10_000,
      ),
    );
    await whenStatementActive(db.pool, CREATE);
    await Effect.runPromise(Fiber.interrupt(fiber));
    // By now every transaction has ended: nothing committed, no connection still busy.
    expect(db.pool.totalCount - db.pool.idleCount).toBe(0);
    const count = await db.pool.query("SELECT count(*)::int AS n FROM workspaces");
    expect(count.rows[0].n).toBe(0);
    const lock = await db.pool.query("SELECT pg_try_advisory_lock(7) AS ok");
    expect(lock.rows[0].ok).toBe(true);
    await db.pool.query("SELECT pg_advisory_unlock(7)");
  });

  it("records each cycle (completed, paused) for `status`, keeping only the newest runs", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    await seed.preset(t.versionId, { desired: 2 });
    const deps = makeDeps(db.pool, { options: { recordRuns: true, keepRuns: 3 } });
    await runCycles(deps, 1);
    const first = await lastReconciliationRun(db.pool);
    expect(first).toMatchObject({
      outcome: "completed",
      prebuildsCreated: 2,
      actionsSucceeded: 1,
      actionsFailed: 0,
    });
    expect(first?.statements).toBeGreaterThan(11);
    await seed.setPaused(true);
    await runCycles(deps, 5);
    expect((await lastReconciliationRun(db.pool))?.outcome).toBe("paused");
    const rows = await db.pool.query("SELECT count(*)::int AS n FROM prebuild_reconciliation_runs");
    expect(rows.rows[0].n).toBe(3);
  });
});

describe("the dry run and the switches the CLI uses", () => {
  it("planNextCycle shows every preset's state and actions with names, and writes nothing", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "python" });
    const preset = await seed.preset(t.versionId, { desired: 2, name: "small" });
    const running = await seed.prebuild(t, { versionId: t.versionId, presetId: preset });
    const v2 = await seed.version(t, { name: "v2", activate: true });
    const next = await seed.preset(v2, { desired: 3, name: "small" });
    const count = async () =>
      (
        await db.pool.query(
          "SELECT (SELECT count(*) FROM workspaces) + (SELECT count(*) FROM provisioner_jobs) AS n",
        )
      ).rows[0].n;
    const before = await count();
    const preview = await planNextCycle({ pool: db.pool });
    expect(await count()).toBe(before);
    expect(preview.paused).toBe(false);
    const old = preview.presets.find((p) => p.preset.presetId === preset);
    const newPreset = preview.presets.find((p) => p.preset.presetId === next);
    expect(old?.preset).toMatchObject({
      templateName: "python",
      templateVersionName: "v1",
      presetName: "small",
    });
    expect(old?.plan.actions).toMatchObject([
      { _tag: "Delete", workspaceIds: [running.workspaceId] },
    ]);
    expect(newPreset?.plan.actions).toMatchObject([{ _tag: "Create", count: 3 }]);
    expect(newPreset?.plan.state).toMatchObject({ desired: 3, actual: 0 });

    await setReconciliationPaused(db.pool, true);
    expect((await readPrebuildsSettings(autocommit({ pool: db.pool }))).reconciliationPaused).toBe(
      true,
    );
    expect((await planNextCycle({ pool: db.pool })).paused).toBe(true);
    await setReconciliationPaused(db.pool, false);
    const report = await reconcileOnce(makeDeps(db.pool));
    expect(report.effects).toMatchObject({ created: 3, deleted: 1 });
  });
});

function outcomeCount(r: CycleReport): number {
  return Object.values(r.actions).reduce(
    (n, byOutcome) => n + byOutcome.success + byOutcome.failure + byOutcome.skipped,
    0,
  );
}
