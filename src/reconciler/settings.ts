// Pause and resume for the CLI: every replica reads the setting under the lock at its next cycle.
import type pg from "pg";
import { autocommit } from "../db/pool.ts";
import {
  type PrebuildsSettings,
  readPrebuildsSettings,
  writeReconciliationPaused,
} from "../snapshot/settings.ts";

export type { PrebuildsSettings };

export function setReconciliationPaused(pool: pg.Pool, paused: boolean): Promise<void> {
  return writeReconciliationPaused(autocommit({ pool }), paused);
}

export function getPrebuildsSettingsFrom(pool: pg.Pool): Promise<PrebuildsSettings> {
  return readPrebuildsSettings(autocommit({ pool }));
}
