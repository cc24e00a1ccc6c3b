// Persisting a preset's health. Written on a change only (the UPDATE matches nothing when the
// status is already set), so repeated cycles neither rewrite it nor repeat the log line.
import type { SqlClient } from "../db/pool.ts";
import { recoverPresetFromHardLimit } from "../db/sql/controls_sql.ts";
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

/** hard_limited → healthy once the limit no longer holds (issue #15); never from
 *  validation_failed. True when this call changed the status. */
export async function recoverFromHardLimit(client: SqlClient, presetId: string): Promise<boolean> {
  return (await recoverPresetFromHardLimit(client, { presetId })) !== null;
}
