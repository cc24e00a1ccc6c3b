import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, pendingMigrations, shippedMigrations } from "../../src/db/migrate.ts";
import { emptyDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

describe("migrations", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await emptyDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it("apply to an empty database, even when two processes run them at once", async () => {
    const [first, second] = await Promise.all([
      db.pool.connect().then(async (c) => {
        try {
          return await migrate(c);
        } finally {
          c.release();
        }
      }),
      db.pool.connect().then(async (c) => {
        try {
          return await migrate(c);
        } finally {
          c.release();
        }
      }),
    ]);
    // One run applies everything, the other waits for the lock and finds nothing left to do.
    expect([...first, ...second].sort()).toEqual(shippedMigrations());
    const client = await db.pool.connect();
    try {
      expect(await pendingMigrations(client)).toEqual([]);
    } finally {
      client.release();
    }
  });

  it("change nothing on a second run", async () => {
    const before = await db.pool.query(
      "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'public'",
    );
    const client = await db.pool.connect();
    try {
      expect(await migrate(client)).toEqual([]);
    } finally {
      client.release();
    }
    const after = await db.pool.query(
      "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'public'",
    );
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it("seed the prebuilds system user", async () => {
    const { rows } = await db.pool.query(
      "SELECT username, is_system FROM users WHERE id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'",
    );
    expect(rows).toEqual([{ username: "prebuilds", is_system: true }]);
  });
});
