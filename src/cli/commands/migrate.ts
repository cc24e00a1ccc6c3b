// `prebuildsd migrate`: apply the shipped migrations (replicas starting together wait for each
// other on the migration lock).
import type pg from "pg";
import { migrate } from "../../db/migrate.ts";

export async function applyMigrations(pool: pg.Pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    return await migrate(client);
  } finally {
    client.release();
  }
}

export function describeMigrations(applied: readonly string[]): string {
  return applied.length === 0
    ? "the schema is current: no migration to apply"
    : [`applied ${applied.length} migration(s):`, ...applied.map((m) => `  ${m}`)].join("\n");
}
