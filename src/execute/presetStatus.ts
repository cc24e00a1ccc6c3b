// Persisting a preset's health. Written on first detection only (the UPDATE matches nothing when
// the status is already set), so repeated cycles neither rewrite it nor repeat the warning.
import type { SqlClient } from "../db/pool.ts";
import { updatePresetPrebuildStatus } from "../db/sql/prebuilds_sql.ts";

export type UnhealthyStatus = "hard_limited" | "validation_failed";

/** True when this call changed the status (first detection). */
export async function markPresetStatus(
  client: SqlClient,
  presetId: string,
  status: UnhealthyStatus,
): Promise<boolean> {
  const row = await updatePresetPrebuildStatus(client, { presetId, status });
  return row !== null;
}
