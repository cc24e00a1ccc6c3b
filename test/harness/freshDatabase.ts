// One fresh database per test file, cloned from the migrated template (fast: a file copy).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { databaseUrl } from "./databaseUrl.ts";

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A pool on the fresh database; closed by drop(). */
  readonly pool: pg.Pool;
  /** Idempotent. */
  readonly drop: () => Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("adminUrl") });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

async function createDatabase(template: string | null): Promise<TestDatabase> {
  const name = `prebuildsd_t_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ""}`);
  const url = databaseUrl(inject("adminUrl"), name);
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  // drop() terminates leftover connections (57P01); an idle client's error must not fail the run.
  pool.on("error", () => {});
  let dropped = false;
  return {
    name,
    url,
    pool,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await pool.end();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A migrated database of its own. */
export function freshDatabase(): Promise<TestDatabase> {
  return createDatabase(inject("templateDatabase"));
}

/** An empty, unmigrated database, for testing migrations themselves. */
export function emptyDatabase(): Promise<TestDatabase> {
  return createDatabase(null);
}
