// Create: N prebuilds of one preset in one transaction, set-based (one INSERT chain however large N
// is). Inside the transaction the preset is re-checked against the template's active version
// (locked FOR SHARE until commit, so a promotion cannot slip in between), and its parameters
// against the version's required parameters.
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import {
  getMissingRequiredPresetParameters,
  getPresetForCreate,
  insertPrebuilds,
} from "../db/sql/prebuilds_sql.ts";
import type { PostedJob } from "./notifier.ts";
import { newPrebuildName } from "./prebuildName.ts";
import { markPresetStatus } from "./presetStatus.ts";

export interface CreatePrebuildsInput {
  readonly presetId: string;
  readonly count: number;
  readonly now: Date;
  readonly jobTags: Readonly<Record<string, string>>;
}

export type CreatePrebuildsResult =
  | {
      readonly kind: "created";
      readonly workspaceIds: readonly string[];
      readonly jobs: readonly PostedJob[];
    }
  /** The preset (or its version or template) no longer exists. */
  | { readonly kind: "preset_gone" }
  /** A promotion, deletion or deprecation made the preset inactive since the snapshot. */
  | { readonly kind: "preset_inactive"; readonly activeVersionId: string }
  /** The preset misses required parameters; it is now marked validation_failed. */
  | {
      readonly kind: "validation_failed";
      readonly missing: readonly string[];
      readonly firstDetection: boolean;
    };

/** Run inside a write transaction; commits as a whole or not at all. */
export async function createPrebuilds(
  client: SqlClient,
  input: CreatePrebuildsInput,
): Promise<CreatePrebuildsResult> {
  const current = await getPresetForCreate(client, { presetId: input.presetId });
  if (current === null) return { kind: "preset_gone" };
  if (current.presetIsActive !== true) {
    return { kind: "preset_inactive", activeVersionId: current.activeVersionId };
  }
  const missing = await getMissingRequiredPresetParameters(client, { presetId: input.presetId });
  if (missing.length > 0) {
    const firstDetection = await markPresetStatus(client, input.presetId, "validation_failed");
    return { kind: "validation_failed", missing: missing.map((r) => r.name), firstDetection };
  }
  const rows = Array.from({ length: input.count }, () => ({
    workspaceId: randomUUID(),
    buildId: randomUUID(),
    jobId: randomUUID(),
    name: newPrebuildName(),
  }));
  const inserted = await insertPrebuilds(client, {
    workspaceIds: rows.map((r) => r.workspaceId),
    buildIds: rows.map((r) => r.buildId),
    jobIds: rows.map((r) => r.jobId),
    names: rows.map((r) => r.name),
    now: input.now,
    organizationId: current.organizationId,
    templateId: current.templateId,
    tags: input.jobTags,
    templateVersionId: current.templateVersionId,
    presetId: input.presetId,
  });
  return {
    kind: "created",
    workspaceIds: inserted.map((r) => r.workspaceId),
    jobs: inserted.map((r) => ({ organizationId: current.organizationId, jobId: r.jobId })),
  };
}
