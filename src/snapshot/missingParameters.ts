// Presets whose creates would fail validation (a required parameter without a default that the
// preset leaves unset), read ahead of the write so that `plan` and the status page can say so
// (issue #14). The write path re-checks the same rule itself (CreatePrebuilds).
import type { SqlClient } from "../db/pool.ts";
import { listPresetsMissingRequiredParameters } from "../db/sql/snapshot_sql.ts";

/** Preset id → the names of the required parameters it does not set, sorted. Others are absent. */
export type MissingParameters = ReadonlyMap<string, readonly string[]>;

export async function readMissingParameters(
  client: SqlClient,
  presetIds: readonly string[],
): Promise<MissingParameters> {
  if (presetIds.length === 0) return new Map();
  const rows = await listPresetsMissingRequiredParameters(client, { presetIds: [...presetIds] });
  return new Map(rows.map((r) => [r.presetId, r.missingParameters]));
}

/** The sentence shown beside a create that validation will refuse. */
export function describeFailingCreate(missing: readonly string[]): string {
  const names = missing.map((m) => JSON.stringify(m)).join(", ");
  return `the create will fail validation: required parameter(s) ${names} have no value in the preset and no default; the cycle marks the preset validation_failed and creates nothing (set them in a new template version and promote it)`;
}
