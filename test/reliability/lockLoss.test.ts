// Losing the reconciliation lock mid-cycle (issue #11): the session that holds the advisory lock
// is terminated, or times out idle in its transaction, while the cycle's writes run on other
// connections. The cycle must start no further write, cancel the one in flight, and fail with the
// real cause at error level, while a second reconciler takes the lock and fills the pools exactly.
import { Writable } from "node:stream";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.ts";
import { createLogger, type Logger } from "../../src/observe/logger.ts";
import { LockLostError } from "../../src/reconciler/lockLoss.ts";
import { reconcileOnce } from "../../src/reconciler/reconcileOnce.ts";
import { lastReconciliationRun } from "../../src/reconciler/runs.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { Seed } from "../integration/reconciler/fixtures.ts";
import { makeDeps, whenStatementActive } from "../integration/reconciler/reconcilerHarness.ts";
import { halfCreatedPrebuilds, presetPools } from "./invariants.ts";

const CREATE = "-- name: CreatePrebuilds ";
const PRESETS = 6;
const DESIRED = 2;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  cleanup.push(() => db.drop());
  return db;
}

/** PRESETS active presets of DESIRED each, and builds that take `sleep` seconds to insert. */
async function slowFleet(db: TestDatabase, sleep: number): Promise<void> {
  const seed = new Seed(db.pool);
  for (let i = 0; i < PRESETS; i++) {
    const t = await seed.template({ name: `t${i}` });
    await seed.preset(t.versionId, { desired: DESIRED });
  }
  await seed.sql(`
    CREATE FUNCTION slow_build() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${sleep}); RETURN NEW; END $$;
    CREATE TRIGGER slow_build BEFORE INSERT ON workspace_builds FOR EACH ROW EXECUTE FUNCTION slow_build();`);
}

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level: "info", format: "json", destination }), lines };
}

async function lockHolder(pool: pg.Pool): Promise<number | undefined> {
  const r = await pool.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
     WHERE l.locktype = 'advisory' AND l.objid = 7 AND l.granted AND d.datname = current_database()`,
  );
  return r.rows[0]?.pid;
}

async function expectPoolsAtMost(db: TestDatabase): Promise<number> {
  const pools = await presetPools(db.pool);
  expect(pools).toHaveLength(PRESETS);
  for (const p of pools) expect(p.live).toBeLessThanOrEqual(p.desired);
  expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
  return pools.reduce((n, p) => n + p.everCreated, 0);
}

describe("the lock session is lost mid-cycle", () => {
  it("terminated: no further write starts, the one in flight rolls back, a second reconciler fills the pools exactly", async () => {
    const db = await database();
    await slowFleet(db, 0.3);
    const { logger, lines } = recordingLogger();
    let creates = 0;
    let terminated: Promise<void> | undefined;
    let second: Promise<unknown> | undefined;
    const a = makeDeps(db.pool, {
      logger,
      options: { concurrency: 1, recordRuns: true },
      onStatement: (text) => {
        if (!text.includes(CREATE)) return;
        creates++;
        // Once A's first Create runs on the server: terminate the lock holder, start B at once.
        terminated ??= whenStatementActive(db.pool, CREATE).then(async () => {
          const pid = await lockHolder(db.pool);
          expect(pid).toBeDefined();
          await db.pool.query("SELECT pg_terminate_backend($1)", [pid]);
          second = reconcileOnce(makeDeps(db.pool));
        });
      },
    });
    const failure = await reconcileOnce(a).then(
      () => null,
      (error: unknown) => error,
    );
    await terminated;
    const b = await second;

    expect(failure).toBeInstanceOf(LockLostError);
    expect(String((failure as Error).message)).toContain("terminating connection");
    expect(String((failure as Error).message)).toContain("57P01");
    // A's Create in flight was canceled and no other started: A created nothing.
    expect(creates).toBe(1);
    const everCreated = await expectPoolsAtMost(db);
    expect(everCreated).toBe((b as { effects: { created: number } }).effects.created);
    // Cause at error level, and the failed run recorded with it.
    const logged = lines.find(
      (l) => l.level === 50 && l.msg === "reconciliation cycle failed; the next cycle retries",
    );
    expect((logged?.err as { message?: string } | undefined)?.message).toContain(
      "lost the reconciliation lock",
    );
    const run = await lastReconciliationRun(db.pool);
    expect(run?.outcome).toBe("failed");
    expect(run?.error).toContain("terminating connection due to administrator command");

    // The pools converge exactly once B (or the next cycle) has run to the end.
    await db.pool.query("DROP TRIGGER slow_build ON workspace_builds");
    await reconcileOnce(makeDeps(db.pool));
    const pools = await presetPools(db.pool);
    for (const p of pools) expect(p).toMatchObject({ live: DESIRED, everCreated: DESIRED });
  }, 60_000);

  it("idle-in-transaction timeout on the lock session: the cycle stops writing and fails with that cause", async () => {
    const db = await database();
    await slowFleet(db, 0.3);
    // A's sessions time out after 1 s idle in a transaction: only the lock session ever idles
    // that long (each write is a single statement or a short transaction).
    const url = new URL(db.url);
    url.searchParams.set("options", "-c idle_in_transaction_session_timeout=1000");
    const pool = createPool({ connectionString: url.toString(), max: 4 });
    pool.on("error", () => {});
    cleanup.push(() => pool.end());
    const { logger, lines } = recordingLogger();
    let creates = 0;
    const a = makeDeps(pool, {
      logger,
      options: { concurrency: 1, recordRuns: true },
      onStatement: (text) => {
        if (text.includes(CREATE)) creates++;
      },
    });
    const failure = await reconcileOnce(a).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(LockLostError);
    expect(String((failure as Error).message)).toContain("idle-in-transaction timeout");
    expect(String((failure as Error).message)).toContain("25P03");
    // Each Create takes 0.6 s: the lock is gone after about 1 s, well before the sixth.
    expect(creates).toBeGreaterThan(0);
    expect(creates).toBeLessThan(PRESETS);
    const everCreated = await expectPoolsAtMost(db);
    expect(everCreated).toBeLessThan(PRESETS * DESIRED);
    expect(
      lines.some((l) => l.level === 50 && String((l.err as Error)?.message).includes("25P03")),
    ).toBe(true);
    const run = await lastReconciliationRun(db.pool);
    expect(run?.outcome).toBe("failed");
    expect(run?.error).toContain("idle-in-transaction timeout");
  }, 60_000);
});
