// Applies migrations/ with node-pg-migrate, tracked in the `pgmigrations` table. Concurrent runs
// wait for each other on node-pg-migrate's advisory lock instead of failing, so every replica may
// migrate at start.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runner } from "node-pg-migrate";
import type { ClientBase } from "pg";
import { projectRoot } from "../projectRoot.ts";

const MIGRATIONS_DIR = join(projectRoot, "migrations");
const MIGRATIONS_TABLE = "pgmigrations";

/**
 * Applies every pending migration; returns the names it applied (empty when already current).
 * A current schema is left alone without asking node-pg-migrate, which alters its own table and so
 * needs the owner even when there is nothing to do. Errors are one line (node-pg-migrate puts the
 * driver's stack trace in its messages); a role that may not change the schema is told to use the
 * owner's connection string (issue #14).
 */
export async function migrate(client: ClientBase): Promise<string[]> {
  if ((await pendingMigrations(client)).length === 0) return [];
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: "up",
      checkOrder: true,
      advisoryLockMode: "wait",
      log: () => {},
    });
    return applied.map((m) => m.name);
  } catch (error) {
    throw migrationError(error);
  }
}

function migrationError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const line = (message.split("\n")[0] ?? "")
    .replace(/^Unable to ensure migrations table: /, "")
    .replace(/^error: /, "");
  if (/permission denied|must be owner/i.test(line)) {
    return new Error(
      `cannot migrate: ${line}. The role in DATABASE_URL may not change the schema (the daemon's prebuildsd_runtime role only reads and writes rows): run \`prebuildsd migrate\` with the schema owner's connection string`,
      { cause: error },
    );
  }
  return new Error(`migrating failed: ${line}`, { cause: error });
}

/** Names of the migration files shipped with this build, in order. */
export function shippedMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith(".sql"))
    .map((f) => f.replace(/\.sql$/, ""))
    .sort();
}

/** Migrations shipped but not yet applied; empty means the schema is current (used by /readyz). */
export async function pendingMigrations(client: ClientBase): Promise<string[]> {
  const table = await client.query<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [MIGRATIONS_TABLE],
  );
  if (!table.rows[0]?.exists) return shippedMigrations();
  const done = await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`);
  const doneNames = new Set(done.rows.map((r) => r.name));
  return shippedMigrations().filter((name) => !doneNames.has(name));
}
