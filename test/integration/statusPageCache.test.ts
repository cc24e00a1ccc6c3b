// The status page never costs a database read per request, and a slow database never makes a GET
// hang: the page is served from the last read, saying so (issue #14).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPageSource } from "../../src/daemon/statusPageState.ts";
import { type HttpServer, startHttpServer } from "../../src/http/server.ts";
import { seedPreset, seedTemplate } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const CONFIG = { backoffLookback: 3_600_000, failureHardLimit: 3, backoffInterval: 60_000 };

let db: TestDatabase;
const closers: (() => Promise<void> | void)[] = [];

async function serve(
  options: { ttlMs: number; timeoutMs?: number; waitMs?: number },
  onStatement?: (text: string) => void,
): Promise<string> {
  const source = statusPageSource({ pool: db.pool, onStatement }, CONFIG, {
    version: "test",
    ...options,
  });
  const server: HttpServer = await startHttpServer(
    { host: "127.0.0.1", port: 0 },
    {
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      readiness: async () => ({ ready: true, reason: "" }),
      statusPage: source.html,
    },
    () => {},
  );
  closers.push(source.close, server.close);
  return `http://${server.address}/`;
}

beforeAll(async () => {
  db = await freshDatabase();
  const tpl = await seedTemplate(db.pool, { name: "web" });
  await seedPreset(db.pool, { versionId: tpl.activeVersionId, name: "small", desiredInstances: 2 });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await db?.drop();
});

describe("status page cache", () => {
  it("serves a burst of GETs from one database read", async () => {
    let statements = 0;
    const url = await serve({ ttlMs: 60_000 }, () => {
      statements++;
    });
    const first = await Promise.all(Array.from({ length: 20 }, () => fetch(url)));
    expect(first.map((r) => r.status)).toEqual(Array(20).fill(200));
    const perRead = statements;
    expect(perRead).toBeGreaterThan(0);
    await Promise.all(Array.from({ length: 20 }, () => fetch(url).then((r) => r.text())));
    expect(statements).toBe(perRead);
  });

  it("answers while the database is stuck, from the last read, and says why", async () => {
    const url = await serve({ ttlMs: 0, waitMs: 50, timeoutMs: 3000 });
    // The first read may take longer than waitMs: the page says so until it has data.
    let first = await (await fetch(url)).text();
    for (let i = 0; i < 200 && !first.includes(">small<"); i++) {
      // A loaded machine may even time the first read out: then the page says that instead.
      expect(first).toMatch(/Reading the database for the first time|Could not read the database/);
      await new Promise((resolve) => setTimeout(resolve, 50));
      first = await (await fetch(url)).text();
    }
    expect(first).toContain(">small<");
    // Hold a lock every snapshot read waits for.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE template_version_presets IN ACCESS EXCLUSIVE MODE");
      const slow = await (await fetch(url)).text();
      expect(slow).toContain("The database is slow to answer: showing the last read");
      expect(slow).toContain(">small<");
      // After the timeout the read is abandoned (its statement cancelled) and the error shown.
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const failed = await (await fetch(url)).text();
      expect(failed).toContain("Could not read the database: no answer within 3000 ms");
      expect(failed).toContain(">small<");
      const waiting = await db.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      // At most the read started by the last GET waits on the lock; the abandoned one was cancelled.
      expect(waiting.rows[0].n).toBeLessThanOrEqual(1);
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
    }
  });
});
