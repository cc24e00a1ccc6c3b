// Pause and resume for the CLI and tests: every replica reads the setting under the lock at its
// next cycle. The write lives in src/controls/ (the operator controls' room).
import type pg from "pg";
import { setReconciliationPaused } from "../controls/reconciliationPause.ts";
import { autocommit } from "../db/pool.ts";
import { type PrebuildsSettings, readPrebuildsSettings } from "../snapshot/settings.ts";

export type { PrebuildsSettings };
export { setReconciliationPaused };

export function getPrebuildsSettingsFrom(pool: pg.Pool): Promise<PrebuildsSettings> {
  return readPrebuildsSettings(autocommit({ pool }));
}
