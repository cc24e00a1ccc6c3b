// A pooled connection the server terminates while idle is logged as one short line: the driver's
// error carries the whole client object (3 KB of connection parameters and type parsers), which
// must not reach the log (issue #14).
import { Writable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("logs an idle connection's loss without the driver's client object", async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: "info", format: "json", destination });
  let lost!: () => void;
  const logged = new Promise<void>((resolve) => {
    lost = resolve;
  });
  const pool = createPool({
    connectionString: db.url,
    onIdleError: (error) => {
      logger.warn({ err: error }, "idle database connection lost");
      lost();
    },
  });
  try {
    const idle = await pool.connect();
    const busy = await pool.connect();
    const pid = (await idle.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
    idle.release();
    await busy.query("SELECT pg_terminate_backend($1)", [pid]);
    busy.release();
    await logged;
  } finally {
    await pool.end();
  }
  const line = lines.find((l) => l.includes("idle database connection lost")) ?? "";
  const entry = JSON.parse(line) as { err: Record<string, unknown> };
  expect(entry.err.code).toBe("57P01");
  expect(entry.err.message).toBe("terminating connection due to administrator command");
  expect(Object.keys(entry.err)).not.toContain("client");
  expect(line).not.toContain("connectionParameters");
  expect(line.length).toBeLessThan(1500);
});
