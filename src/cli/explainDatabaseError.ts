// A one-shot command's database failure as one line naming the fix (issue #14): a connection
// problem names the setting to check; a missing table or column on a database that lags behind
// this build says to run `prebuildsd migrate`. Anything else keeps its own message.
import type pg from "pg";
import { type ConnectionSource, describeConnectionError } from "../db/connectionError.ts";

export { connectionSource } from "../db/connectionError.ts";

import { pendingMigrations } from "../db/migrate.ts";
import { sqlState } from "../db/transaction.ts";

/** undefined_table, undefined_column, undefined_function, undefined_object (an enum type). */
const SCHEMA_MISSING = new Set(["42P01", "42703", "42883", "42704"]);

/** Thrown before a command runs on a schema older than this build (one round trip). */
export async function requireCurrentSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let pending: string[];
  try {
    pending = await pendingMigrations(client);
  } finally {
    client.release();
  }
  if (pending.length > 0) throw schemaBehind(pending, null);
}

function schemaBehind(pending: readonly string[], cause: unknown): Error {
  const detail =
    cause === null ? "" : `${cause instanceof Error ? cause.message : String(cause)}; `;
  return new Error(
    `the database schema is behind this prebuildsd (${detail}${pending.length} migration(s) pending, first ${pending[0]}): run \`prebuildsd migrate\` as the schema owner first`,
    cause === null ? undefined : { cause },
  );
}

async function pendingOrNull(pool: pg.Pool): Promise<string[] | null> {
  try {
    const client = await pool.connect();
    try {
      return await pendingMigrations(client);
    } finally {
      client.release();
    }
  } catch {
    return null;
  }
}

export async function explainDatabaseError(
  error: unknown,
  pool: pg.Pool,
  source: ConnectionSource,
): Promise<unknown> {
  const connection = describeConnectionError(error, source);
  if (connection !== null) return new Error(connection, { cause: error });
  const state = sqlState(error);
  if (state === undefined || !SCHEMA_MISSING.has(state)) return error;
  const pending = await pendingOrNull(pool);
  if (pending === null || pending.length === 0) return error;
  return schemaBehind(pending, error);
}
