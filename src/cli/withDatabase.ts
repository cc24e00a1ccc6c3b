// Runs a one-shot command against the database and always closes it (and the embedded server
// this process may have started).
import type pg from "pg";
import { openDatabase } from "../daemon/database.ts";
import type { CommandContext } from "./commandContext.ts";

export async function withDatabase<T>(
  context: CommandContext,
  fn: (pool: pg.Pool) => Promise<T>,
): Promise<T> {
  const database = await openDatabase(context.config, context.logger, { startEmbedded: true });
  try {
    return await fn(database.pool);
  } finally {
    await database.close();
  }
}
