// Deadlines and connection health (issue #11), end to end with the built daemon:
// - a write whose client was SIGKILLed while it waited on a row lock dies on the server instead of
//   committing later (client_connection_check_interval on every connection);
// - after the database turns read-only and back, the daemon recovers within a cycle or two
//   (connections that failed with 25006 are retired, not reused);
// - a silent server (its processes SIGSTOPped; our own server, never the shared one) fails the
//   cycle at the client-side deadline with a log line, warns that the cycle overran its
//   interval, and SIGTERM still exits 0 within a bounded grace.
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../src/db/embeddedPostgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import { type Daemon, startDaemon } from "../e2e/cli.ts";
import { seedPreset, seedTemplate } from "../fixtures/seed.ts";
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
  db.pool.on("error", () => {});
  databases.push(db);
  return db;
}

function daemon(url: string, env: Record<string, string> = {}): Daemon {
  const d = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    DATABASE_URL: url,
    PREBUILDS_LOG_LEVEL: "info",
    PREBUILDS_RECONCILIATION_INTERVAL: "300ms",
    PREBUILDS_METRICS_REFRESH_INTERVAL: "1h",
    ...env,
  });
  daemons.push(d);
  return d;
}

async function livePool(pool: pg.Pool, presetId: string) {
  const found = (await presetPools(pool)).find((p) => p.presetId === presetId);
  if (!found) throw new Error(`preset ${presetId} not found`);
  return found;
}

afterEach(async () => {
  for (const d of daemons.splice(0)) killIfRunning(d);
  for (const h of holders.splice(0)) {
    await h.query("ROLLBACK").catch(() => {});
    await h.end().catch(() => {});
  }
});

afterAll(async () => {
  for (const db of databases) {
    await admin(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`).catch(() => {});
    await db.drop();
  }
});

describe("a writer whose client dies", () => {
  it("while blocked on a row lock never commits later", async () => {
    const db = await database();
    const t = await seedTemplate(db.pool, { name: "orphan" });
    const preset = await seedPreset(db.pool, { versionId: t.activeVersionId, desiredInstances: 3 });
    const holder = new pg.Client({ connectionString: db.url, application_name: "lock-holder" });
    holder.on("error", () => {});
    await holder.connect();
    holders.push(holder);
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", [t.templateId]);

    const d = daemon(db.url, { PREBUILDS_LOCK_TIMEOUT: "60s", PREBUILDS_STATEMENT_TIMEOUT: "60s" });
    await daemonBase(d);
    const blocked = await waitFor("the Create waiting on the template row", async () => {
      const r = await admin(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'prebuildsd'
         AND wait_event_type = 'Lock'`,
        [db.name],
      );
      return (r.rows[0]?.pid as number | undefined) ?? null;
    });
    d.child.kill("SIGKILL");
    await d.exited;
    // The server notices the dead client within client_connection_check_interval and ends the
    // statement (without it, the backend would wait for the row and then commit).
    await waitFor(
      "the orphaned statement's backend to end",
      async () =>
        (await admin("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [blocked])).rowCount === 0,
      15_000,
    );
    await holder.query("ROLLBACK");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await livePool(db.pool, preset)).everCreated).toBe(0);
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
  });
});

describe("the database turns read-only and back", () => {
  it("recovers within a couple of cycles: connections that failed with 25006 are not reused", async () => {
    const db = await database();
    const t = await seedTemplate(db.pool, { name: "ro" });
    const preset = await seedPreset(db.pool, { versionId: t.activeVersionId, desiredInstances: 2 });
    const d = daemon(db.url);
    const base = await daemonBase(d);
    await waitFor("the pool filled", async () => (await livePool(db.pool, preset)).live === 2);

    // Read-only, as after a failover to a standby: the daemon's sessions are replaced by new
    // ones that cannot write.
    await admin(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
    await admin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'prebuildsd'`,
      [db.name],
    );
    await db.pool.query("UPDATE template_version_presets SET desired_instances = 4 WHERE id = $1", [
      preset,
    ]);
    await waitFor("a create failing with 25006", async () =>
      logLines(d).some(
        (l) => l.action === "Create" && (l.err as { code?: string } | undefined)?.code === "25006",
      ),
    );
    // Let several read-only connections pile up in the pool, as they would over a long outage.
    const cycles = async () =>
      metric((await get(base, "/metrics")).body, "prebuildsd_reconciliation_cycles_total", {
        outcome: "completed",
      });
    const during = await cycles();
    await waitFor("three more cycles while read-only", async () => (await cycles()) >= during + 3);

    await admin(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`);
    const atReset = await cycles();
    await waitFor("the pool at 4", async () => (await livePool(db.pool, preset)).live === 4);
    // The cycle running at the reset, then at most one that retires the stale connections.
    expect((await cycles()) - atReset).toBeLessThanOrEqual(3);
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
    d.child.kill("SIGTERM");
    expect(await exitWithin(d, 15_000)).toBe(0);
  });
});

describe("a silent database (its own server, processes stopped)", () => {
  let server: EmbeddedDatabase | undefined;
  let dataDir = "";
  let stopped: number[] = [];

  afterAll(async () => {
    for (const pid of stopped) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {}
    }
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The postmaster and every process it started. */
  function serverProcesses(): number[] {
    const pidFile = readFileSync(join(dataDir, "pgdata", "postmaster.pid"), "utf8");
    const postmaster = Number.parseInt(pidFile.split("\n")[0] ?? "", 10);
    const children = readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }

  it("fails the cycle at the deadline with a log line, warns of the overrun, and SIGTERM exits 0 in bounded time", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "prebuildsd-silent-"));
    server = await startEmbeddedPostgres({ dataDir, persistent: false });
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on("error", () => {});
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
      const t = await seedTemplate(pool, { name: "silent" });
      await seedPreset(pool, { versionId: t.activeVersionId, desiredInstances: 1 });
    } finally {
      await pool.end();
    }
    const d = daemon(server.url, {
      PREBUILDS_STATEMENT_TIMEOUT: "1s",
      PREBUILDS_RECONCILIATION_INTERVAL: "500ms",
    });
    await daemonBase(d);
    await d.waitForLog("reconciliation cycle completed");

    stopped = serverProcesses();
    for (const pid of stopped) process.kill(pid, "SIGSTOP");
    const failed = await waitFor(
      "a cycle failing at the client-side deadline",
      async () =>
        logLines(d).find(
          (l) =>
            l.level === 50 &&
            l.msg === "reconciliation cycle failed; the next cycle retries" &&
            /Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(
              String((l.err as { message?: string } | undefined)?.message),
            ),
        ) ?? null,
      30_000,
    ).catch((error: unknown) => {
      // Say what the daemon did instead: the warnings and errors it logged since the stop.
      const seen = logLines(d)
        .filter((l) => Number(l.level) >= 40)
        .map(
          (l) =>
            `${String(l.msg)}: ${String((l.err as { message?: string } | undefined)?.message ?? "")}`,
        );
      throw new Error(`${String(error)}; logged: ${JSON.stringify(seen.slice(-8))}`);
    });
    expect(failed).toBeDefined();
    expect(
      logLines(d).some(
        (l) => l.level === 40 && String(l.msg).includes("still running after its interval"),
      ),
    ).toBe(true);

    const sent = Date.now();
    d.child.kill("SIGTERM");
    expect(await exitWithin(d, 14_000)).toBe(0);
    const graceMs = Date.now() - sent;
    expect(d.output()).toContain("stopped cleanly");
    for (const pid of stopped) process.kill(pid, "SIGCONT");
    stopped = [];
    // Printed for the record (tests never assert wall-clock times beyond the supervisor's grace).
    process.stdout.write(`silent database: SIGTERM to exit took ${graceMs} ms\n`);
  }, 120_000);
});
