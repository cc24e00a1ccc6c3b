// `prebuildsd pause` / `resume`: the database-persisted switch every replica reads under the
// reconciliation lock (reference §12.18). Jobs already queued keep running while paused.
import type pg from "pg";
import { autocommit } from "../../db/pool.ts";
import { readPrebuildsSettings, writeReconciliationPaused } from "../../snapshot/settings.ts";

export async function setPaused(pool: pg.Pool, paused: boolean): Promise<string> {
  await writeReconciliationPaused(autocommit({ pool }), paused);
  return paused
    ? "reconciliation paused: no prebuild is created, deleted or cancelled until `prebuildsd resume` (queued jobs keep running)"
    : "reconciliation resumed: the next cycle acts again";
}

/** A missing or malformed document means "not paused", as the reconciler reads it. */
export async function isPaused(pool: pg.Pool): Promise<boolean> {
  return (await readPrebuildsSettings(autocommit({ pool }))).reconciliationPaused;
}
