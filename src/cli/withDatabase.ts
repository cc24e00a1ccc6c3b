// Runs a one-shot command against the database and always closes it (and the embedded server
// this process may have started). Database failures come back as one line naming the fix.
import type pg from "pg";
import { openDatabase } from "../daemon/database.ts";
import type { CommandContext } from "./commandContext.ts";
import {
  connectionSource,
  explainDatabaseError,
  requireCurrentSchema,
} from "./explainDatabaseError.ts";

export interface WithDatabaseOptions {
  /** false for `migrate` itself; every other command first checks the schema is current. */
  readonly requireCurrentSchema?: boolean;
  /** true for `migrate`: without DATABASE_URL it may create the embedded database; any other
   *  command only starts one that exists (src/daemon/database.ts, OpenOptions). */
  readonly createEmbedded?: boolean;
}

export async function withDatabase<T>(
  context: CommandContext,
  fn: (pool: pg.Pool) => Promise<T>,
  options: WithDatabaseOptions = {},
): Promise<T> {
  const database = await openDatabase(context.config, context.logger, {
    startEmbedded: true,
    createEmbedded: options.createEmbedded ?? false,
  });
  try {
    if (options.requireCurrentSchema !== false) await requireCurrentSchema(database.pool);
    return await fn(database.pool);
  } catch (error) {
    throw await explainDatabaseError(error, database.pool, connectionSource(context.config));
  } finally {
    await database.close();
  }
}
