// Create: N prebuilds of one preset in ONE statement (queries/prebuilds.sql CreatePrebuilds), which
// is its own transaction: set-based however large N is, and the guards are evaluated by the
// statement that writes. It locks the template row FOR SHARE until it commits (a promotion cannot
// slip in between), checks the preset is on the template's active version, and checks its
// parameters against the version's required parameters, marking it validation_failed if one is
// missing. Run it with withSingleStatement (src/db/transaction.ts): no BEGIN/COMMIT round trips.
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import { createPrebuilds as createPrebuildsStatement } from "../db/sql/prebuilds_sql.ts";
import type { PostedJob } from "./notifier.ts";
import { newPrebuildName } from "./prebuildName.ts";

export interface CreatePrebuildsInput {
  readonly presetId: string;
  /** At least 1 (createGate.ts). */
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

/** Sends exactly one statement; it commits as a whole or not at all. */
export async function createPrebuilds(
  client: SqlClient,
  input: CreatePrebuildsInput,
): Promise<CreatePrebuildsResult> {
  const rows = Array.from({ length: input.count }, () => ({
    workspaceId: randomUUID(),
    buildId: randomUUID(),
    jobId: randomUUID(),
    name: newPrebuildName(),
  }));
  const result = await createPrebuildsStatement(client, {
    presetId: input.presetId,
    workspaceIds: rows.map((r) => r.workspaceId),
    buildIds: rows.map((r) => r.buildId),
    jobIds: rows.map((r) => r.jobId),
    names: rows.map((r) => r.name),
    now: input.now,
    tags: input.jobTags,
  });
  const first = result[0];
  if (first === undefined) return { kind: "preset_gone" };
  switch (first.outcome) {
    case "preset_inactive":
      return { kind: "preset_inactive", activeVersionId: first.activeVersionId };
    case "validation_failed":
      return {
        kind: "validation_failed",
        missing: first.missingParameters,
        firstDetection: first.firstDetection,
      };
    case "created": {
      const workspaceIds: string[] = [];
      const jobs: PostedJob[] = [];
      for (const row of result) {
        if (row.workspaceId === null || row.jobId === null) continue;
        workspaceIds.push(row.workspaceId);
        jobs.push({ organizationId: row.organizationId, jobId: row.jobId });
      }
      return { kind: "created", workspaceIds, jobs };
    }
    default:
      throw new Error(`CreatePrebuilds returned an unknown outcome "${first.outcome}"`);
  }
}
