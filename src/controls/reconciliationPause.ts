// The global pause switch (site_configs 'prebuilds_settings', shared with the platform so its UI
// and ours agree; reference §12.18). Every replica reads it under the reconciliation lock at its
// next cycle; jobs already queued keep running while paused.
import type pg from "pg";
import { autocommit } from "../db/pool.ts";
import { upsertPrebuildsSettings } from "../db/sql/controls_sql.ts";

/** Pauses (`true`) or resumes (`false`) reconciliation for every replica and every preset. */
export async function setReconciliationPaused(pool: pg.Pool, paused: boolean): Promise<void> {
  await upsertPrebuildsSettings(autocommit({ pool }), {
    settingsJson: JSON.stringify({ reconciliation_paused: paused }),
  });
}
