// The prebuilds settings document (site_configs 'prebuilds_settings'), read under the lock each
// cycle. A missing row, bad JSON or a wrong shape all mean "not paused" (as the reference reads
// it), with a problem sentence so the caller can log which row was bad. The switch is written by
// src/controls/reconciliationPause.ts.
import type { SqlClient } from "../db/pool.ts";
import { getPrebuildsSettings } from "../db/sql/settings_sql.ts";

export interface PrebuildsSettings {
  readonly reconciliationPaused: boolean;
  /** Set when the stored document could not be used as it is. */
  readonly problem?: string;
}

function decodePrebuildsSettings(json: string | null): PrebuildsSettings {
  if (json === null) return { reconciliationPaused: false };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return {
      reconciliationPaused: false,
      problem: `site_configs 'prebuilds_settings' is not JSON (${JSON.stringify(json.slice(0, 80))}); treating reconciliation as not paused — fix it with \`prebuildsd pause\` or \`resume\``,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      reconciliationPaused: false,
      problem: `site_configs 'prebuilds_settings' is not a JSON object; treating reconciliation as not paused — fix it with \`prebuildsd pause\` or \`resume\``,
    };
  }
  const paused = (value as { reconciliation_paused?: unknown }).reconciliation_paused;
  if (paused === undefined || typeof paused === "boolean") {
    return { reconciliationPaused: paused === true };
  }
  return {
    reconciliationPaused: false,
    problem: `site_configs 'prebuilds_settings'.reconciliation_paused is ${JSON.stringify(paused)}, not a boolean; treating reconciliation as not paused`,
  };
}

export async function readPrebuildsSettings(client: SqlClient): Promise<PrebuildsSettings> {
  const row = await getPrebuildsSettings(client);
  return decodePrebuildsSettings(row?.settingsJson ?? null);
}
