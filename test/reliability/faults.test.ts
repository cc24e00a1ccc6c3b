// Faults, end to end: the built daemon against real PostgreSQL while its connections are
// terminated, the database refuses connections, rows it needs are locked by other sessions, and
// SIGTERM arrives in the middle of a large Create. Each scenario ends by checking what was lost:
// no half-created prebuild, no duplicate, the pool exactly at its desired size.
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type Daemon, startDaemon } from "../e2e/cli.ts";
import {
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import {
  admin,
  daemonBase,
  exitWithin,
  get,
  halfCreatedPrebuilds,
  killIfRunning,
  logLines,
  metric,
  presetPools,
  waitFor,
} from "./support.ts";

const databases: TestDatabase[] = [];
const daemons: Daemon[] = [];
const holders: pg.Client[] = [];

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  // The test's own pool must outlive the terminations it provokes.
  db.pool.on("error", () => {});
  databases.push(db);
  return db;
}

function daemon(db: TestDatabase, env: Record<string, string> = {}): Daemon {
  const d = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
    PREBUILDS_LOG_LEVEL: "info",
    PREBUILDS_RECONCILIATION_INTERVAL: "300ms",
    PREBUILDS_METRICS_REFRESH_INTERVAL: "1h",
    ...env,
  });
  daemons.push(d);
  return d;
}

/** Another session holding row locks in an open transaction, as a provisioner or a claim would. */
async function holdLock(db: TestDatabase, sql: string, values: unknown[]): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url, application_name: "lock-holder" });
  client.on("error", () => {});
  await client.connect();
  holders.push(client);
  await client.query("BEGIN");
  const locked = await client.query(sql, values);
  expect(locked.rowCount).toBeGreaterThan(0);
  return client;
}

async function release(holder: pg.Client): Promise<void> {
  await holder.query("ROLLBACK").catch(() => {});
  await holder.end().catch(() => {});
}

/** Waits until one of the daemon's statements waits for a row lock (the cycle is mid-write). */
function waitForBlockedStatement(db: TestDatabase): Promise<string> {
  return waitFor("a prebuildsd statement waiting on a row lock", async () => {
    const rows = await admin(
      `SELECT query FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'prebuildsd' AND wait_event_type = 'Lock'`,
      [db.name],
    );
    return (rows.rows[0]?.query as string | undefined) ?? null;
  });
}

async function poolOf(db: TestDatabase, presetId: string) {
  const pools = await presetPools(db.pool);
  const found = pools.find((p) => p.presetId === presetId);
  if (!found) throw new Error(`preset ${presetId} not found`);
  return found;
}

afterEach(async () => {
  for (const d of daemons.splice(0)) killIfRunning(d);
  for (const h of holders.splice(0)) await release(h);
});

afterAll(async () => {
  for (const db of databases) {
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`).catch(() => {});
    await db.drop();
  }
});

describe("the database goes away in the middle of a cycle", () => {
  it("fails the cycle cleanly, reports not ready while away, keeps running and converges after", async () => {
    const db = await database();
    const org = await seedOrganization(db.pool);
    const big = await seedTemplate(db.pool, { organizationId: org.id, name: "big" });
    const bigPreset = await seedPreset(db.pool, {
      versionId: big.activeVersionId,
      desiredInstances: 40,
    });
    const small = await seedTemplate(db.pool, { organizationId: org.id, name: "small" });
    const smallPreset = await seedPreset(db.pool, {
      versionId: small.activeVersionId,
      desiredInstances: 3,
    });
    const user = await seedUser(db.pool);
    const usersOwn = await seedWorkspace(db.pool, { template: big, ownerId: user.id });

    // Pin the big Create mid-transaction: it waits on the template row another session holds.
    const holder = await holdLock(db, "SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", [
      big.templateId,
    ]);
    const d = daemon(db, { PREBUILDS_LOCK_TIMEOUT: "60s", PREBUILDS_STATEMENT_TIMEOUT: "60s" });
    const base = await daemonBase(d);
    expect(await waitForBlockedStatement(db)).toContain("FOR SHARE OF t");

    // The database goes away: no new connection is accepted and every one of ours is terminated.
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await admin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'prebuildsd'`,
      [db.name],
    );
    await release(holder);

    const notReady = await waitFor("/readyz to report not ready", async () => {
      const r = await get(base, "/readyz");
      return r.status === 503 ? r.body : null;
    });
    expect(notReady).toMatch(/database unreachable: .*not currently accepting connections/);
    expect((await get(base, "/healthz")).status).toBe(200);
    // The loop keeps trying (and failing) while the database is away.
    await waitFor("two failed cycles", async () => {
      const body = (await get(base, "/metrics")).body;
      return metric(body, "prebuildsd_reconciliation_cycles_total", { outcome: "failed" }) >= 2;
    });
    expect(d.child.exitCode).toBeNull();

    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    await waitFor("/readyz to report ready again", async () => {
      return (await get(base, "/readyz")).status === 200;
    });
    await waitFor("both pools filled", async () => {
      return (
        (await poolOf(db, bigPreset)).live === 40 && (await poolOf(db, smallPreset)).live === 3
      );
    });
    // A few more cycles change nothing: exactly the desired size, each prebuild created once.
    const completed = metric(
      (await get(base, "/metrics")).body,
      "prebuildsd_reconciliation_cycles_total",
      { outcome: "completed" },
    );
    await waitFor("two more completed cycles", async () => {
      const body = (await get(base, "/metrics")).body;
      return (
        metric(body, "prebuildsd_reconciliation_cycles_total", { outcome: "completed" }) >=
        completed + 2
      );
    });
    expect(await poolOf(db, bigPreset)).toMatchObject({ live: 40, everCreated: 40 });
    expect(await poolOf(db, smallPreset)).toMatchObject({ live: 3, everCreated: 3 });
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
    const mine = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [usersOwn]);
    expect(mine.rows[0]?.owner_id).toBe(user.id);

    const failures = logLines(d).filter(
      (l) => l.level === 50 && l.msg === "reconciliation cycle failed; the next cycle retries",
    );
    expect(failures.length).toBeGreaterThanOrEqual(2);
    d.child.kill("SIGTERM");
    expect(await exitWithin(d, 15_000)).toBe(0);
  });
});

describe("rows locked by other sessions", () => {
  it("fail only the affected actions after the lock timeout; cycles go on and never overlap", async () => {
    const db = await database();
    const org = await seedOrganization(db.pool);
    // A: its Create waits on the template row (a long promotion transaction holds it).
    const a = await seedTemplate(db.pool, { organizationId: org.id, name: "a" });
    const aPreset = await seedPreset(db.pool, {
      versionId: a.activeVersionId,
      desiredInstances: 2,
    });
    // B: nothing locked; must be created in the same cycles.
    const b = await seedTemplate(db.pool, { organizationId: org.id, name: "b" });
    const bPreset = await seedPreset(db.pool, {
      versionId: b.activeVersionId,
      desiredInstances: 2,
    });
    // C: an old version's two pending jobs to cancel; a provisioner holds one of the job rows.
    const c = await seedTemplate(db.pool, { organizationId: org.id, name: "c", versions: 2 });
    const cOld = await seedPreset(db.pool, { versionId: c.versionIds[0] as string });
    const cPending = [
      await seedPrebuild(db.pool, {
        template: c,
        presetId: cOld,
        versionId: c.versionIds[0] as string,
        state: "pending",
      }),
      await seedPrebuild(db.pool, {
        template: c,
        presetId: cOld,
        versionId: c.versionIds[0] as string,
        state: "pending",
      }),
    ];
    // D: an old version's two running prebuilds to delete; a claim holds one workspace row.
    const dTpl = await seedTemplate(db.pool, { organizationId: org.id, name: "d", versions: 2 });
    const dOld = await seedPreset(db.pool, { versionId: dTpl.versionIds[0] as string });
    const dRunning = [
      await seedPrebuild(db.pool, {
        template: dTpl,
        presetId: dOld,
        versionId: dTpl.versionIds[0] as string,
      }),
      await seedPrebuild(db.pool, {
        template: dTpl,
        presetId: dOld,
        versionId: dTpl.versionIds[0] as string,
      }),
    ];
    const user = await seedUser(db.pool);
    const usersOwn = await seedWorkspace(db.pool, { template: a, ownerId: user.id });

    const promotion = await holdLock(db, "SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", [
      a.templateId,
    ]);
    const provisioner = await holdLock(
      db,
      "SELECT 1 FROM provisioner_jobs WHERE id = $1 FOR UPDATE",
      [cPending[0]?.builds[0]?.jobId],
    );
    const claim = await holdLock(db, "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", [
      dRunning[0]?.workspaceId,
    ]);

    const d = daemon(db, {
      PREBUILDS_RECONCILIATION_INTERVAL: "200ms",
      PREBUILDS_LOCK_TIMEOUT: "1s",
    });
    const base = await daemonBase(d);
    const failed = (body: string, type: string) =>
      metric(body, "prebuildsd_actions_total", { type, outcome: "failure" });
    await waitFor("a failed create and cancel", async () => {
      const body = (await get(base, "/metrics")).body;
      return failed(body, "create") >= 1 && failed(body, "cancel_pending") >= 1;
    });
    // Cycles keep completing while the locks are held …
    await waitFor("three cycles recorded while the rows are locked", async () => {
      const runs = await db.pool.query("SELECT 1 FROM prebuild_reconciliation_runs");
      return (runs.rowCount ?? 0) >= 3;
    });
    // … and the unlocked work went on in them.
    expect((await poolOf(db, bPreset)).live).toBe(2);
    const deleted = await db.pool.query(
      "SELECT workspace_id FROM workspace_builds WHERE transition = 'delete' AND workspace_id = ANY($1)",
      [dRunning.map((p) => p.workspaceId)],
    );
    expect(deleted.rows.map((r) => r.workspace_id)).toEqual([dRunning[1]?.workspaceId]);
    expect((await poolOf(db, aPreset)).live).toBe(0);

    // Each failure is logged naming the preset (or workspace) and PostgreSQL's lock timeout.
    const errors = logLines(d).filter((l) => l.level === 50);
    const lockTimeout = (l: Record<string, unknown>) =>
      (l.err as { code?: string } | undefined)?.code === "55P03";
    expect(
      errors.some(
        (l) => l.preset && l.presetId === aPreset && l.action === "Create" && lockTimeout(l),
      ),
    ).toBe(true);
    expect(
      errors.some((l) => l.presetId === cOld && l.action === "CancelPending" && lockTimeout(l)),
    ).toBe(true);
    // The preset's deletes are one statement that skips a workspace another session holds (issue
    // #11, #17): no lock timeout, the held one is left for a later cycle.
    expect(errors.some((l) => l.presetId === dOld && l.action === "Delete")).toBe(false);

    await release(promotion);
    await release(provisioner);
    await release(claim);
    await waitFor("everything done once the locks are gone", async () => {
      const jobs = await db.pool.query(
        "SELECT 1 FROM provisioner_jobs WHERE id = ANY($1) AND job_status = 'canceled'",
        [cPending.map((p) => p.builds[0]?.jobId)],
      );
      const deletes = await db.pool.query(
        "SELECT 1 FROM workspace_builds WHERE transition = 'delete' AND workspace_id = ANY($1)",
        [dRunning.map((p) => p.workspaceId)],
      );
      return (
        jobs.rowCount === 2 && deletes.rowCount === 2 && (await poolOf(db, aPreset)).live === 2
      );
    });
    d.child.kill("SIGTERM");
    expect(await exitWithin(d, 15_000)).toBe(0);

    // One daemon's cycles never overlap: each starts after the previous one finished, even the
    // ones that took longer than the 200ms interval because they waited for a lock.
    const runs = await db.pool.query<{ startedAt: Date; finishedAt: Date }>(
      `SELECT started_at AS "startedAt", finished_at AS "finishedAt"
       FROM prebuild_reconciliation_runs ORDER BY id`,
    );
    // At least the cycle that met the locks and the one after them (how many more ran depends
    // on the machine's speed: exactly 3 under a loaded full suite once).
    expect(runs.rows.length).toBeGreaterThanOrEqual(2);
    const longer = runs.rows.filter((r) => r.finishedAt.getTime() - r.startedAt.getTime() > 200);
    expect(longer.length).toBeGreaterThan(0);
    for (let i = 1; i < runs.rows.length; i++) {
      const previous = runs.rows[i - 1] as { finishedAt: Date };
      expect((runs.rows[i] as { startedAt: Date }).startedAt.getTime()).toBeGreaterThanOrEqual(
        previous.finishedAt.getTime(),
      );
    }
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
    const mine = await db.pool.query("SELECT 1 FROM workspace_builds WHERE workspace_id = $1", [
      usersOwn,
    ]);
    expect(mine.rowCount).toBe(0);
  });

  it("with no lock timeout, the statement timeout bounds the wait instead", async () => {
    const db = await database();
    const t = await seedTemplate(db.pool, { name: "slow" });
    const preset = await seedPreset(db.pool, { versionId: t.activeVersionId, desiredInstances: 1 });
    const other = await seedTemplate(db.pool, { name: "fast" });
    const otherPreset = await seedPreset(db.pool, {
      versionId: other.activeVersionId,
      desiredInstances: 1,
    });
    const holder = await holdLock(db, "SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", [
      t.templateId,
    ]);
    const d = daemon(db, { PREBUILDS_LOCK_TIMEOUT: "0", PREBUILDS_STATEMENT_TIMEOUT: "1s" });
    await daemonBase(d);
    const timedOut = await waitFor("a create failed by the statement timeout", async () => {
      return (
        logLines(d).find(
          (l) =>
            l.presetId === preset &&
            l.action === "Create" &&
            (l.err as { code?: string } | undefined)?.code === "57014",
        ) ?? null
      );
    });
    expect(timedOut.level).toBe(50);
    expect((await poolOf(db, otherPreset)).live).toBe(1);
    await release(holder);
    await waitFor("the create to succeed once the lock is gone", async () => {
      return (await poolOf(db, preset)).live === 1;
    });
    d.child.kill("SIGTERM");
    expect(await exitWithin(d, 15_000)).toBe(0);
  });
});

describe("SIGTERM during a large Create", () => {
  it("exits 0 promptly, leaves nothing half-done, and a restart converges to exactly the desired size", async () => {
    const db = await database();
    const t = await seedTemplate(db.pool, { name: "large" });
    const preset = await seedPreset(db.pool, {
      versionId: t.activeVersionId,
      desiredInstances: 1000,
      parameters: { cpu: "4", region: "eu" },
    });

    // 1. The 1000-prebuild Create is mid-transaction (waiting on a lock) when SIGTERM arrives.
    const holder = await holdLock(db, "SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", [
      t.templateId,
    ]);
    const first = daemon(db, { PREBUILDS_LOCK_TIMEOUT: "60s", PREBUILDS_STATEMENT_TIMEOUT: "60s" });
    await daemonBase(first);
    await waitForBlockedStatement(db);
    first.child.kill("SIGTERM");
    expect(await exitWithin(first, 10_000)).toBe(0);
    expect(first.output()).toContain("stopped cleanly");
    await release(holder);
    expect((await poolOf(db, preset)).everCreated).toBe(0);

    // 2. SIGTERM while the INSERT of 1000 prebuilds is running (or just after it committed).
    const second = daemon(db);
    await daemonBase(second);
    await waitFor(
      "the large INSERT to start",
      async () => {
        const rows = await admin(
          `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'prebuildsd'
           AND state = 'active' AND query LIKE '%inserted_workspaces%'`,
          [db.name],
        );
        return (rows.rowCount ?? 0) > 0 || (await poolOf(db, preset)).everCreated > 0;
      },
      30_000,
      5,
    );
    second.child.kill("SIGTERM");
    expect(await exitWithin(second, 10_000)).toBe(0);
    // All or nothing.
    expect([0, 1000]).toContain((await poolOf(db, preset)).everCreated);
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);

    // 3. After a restart: exactly 1000, each created once, and it stays so.
    const third = daemon(db);
    const base = await daemonBase(third);
    await waitFor("the pool at 1000", async () => (await poolOf(db, preset)).live === 1000);
    const completed = metric(
      (await get(base, "/metrics")).body,
      "prebuildsd_reconciliation_cycles_total",
      { outcome: "completed" },
    );
    await waitFor("two more completed cycles", async () => {
      const body = (await get(base, "/metrics")).body;
      return (
        metric(body, "prebuildsd_reconciliation_cycles_total", { outcome: "completed" }) >=
        completed + 2
      );
    });
    expect(await poolOf(db, preset)).toMatchObject({ live: 1000, everCreated: 1000 });
    const parameters = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM workspace_build_parameters",
    );
    expect(parameters.rows[0]?.n).toBe(2000);
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
    third.child.kill("SIGTERM");
    expect(await exitWithin(third, 10_000)).toBe(0);
  });
});
