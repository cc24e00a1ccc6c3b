// Delete one prebuild: a `delete` build (next build number, the last build's version and state)
// and its job, in ONE statement, which is its own transaction. The statement re-checks that the
// workspace is still an unclaimed, running prebuild on the row it locks; a claim that wins the
// race either changed the owner first (no row: skipped) or holds the same build number (unique
// violation: lost to a claim). Either way a claimed workspace is never deleted.
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import { insertPrebuildDeleteBuild } from "../db/sql/prebuilds_sql.ts";
import type { PostedJob } from "./notifier.ts";

export interface DeletePrebuildInput {
  readonly workspaceId: string;
  readonly now: Date;
  readonly jobTags: Readonly<Record<string, string>>;
}

export type DeletePrebuildResult =
  | { readonly kind: "deleted"; readonly job: PostedJob; readonly buildNumber: number }
  /** Claimed, already being deleted, stopped, or gone since the snapshot. */
  | { readonly kind: "not_a_running_prebuild" };

export async function deletePrebuild(
  client: SqlClient,
  input: DeletePrebuildInput,
): Promise<DeletePrebuildResult> {
  const jobId = randomUUID();
  const row = await insertPrebuildDeleteBuild(client, {
    workspaceId: input.workspaceId,
    jobId,
    buildId: randomUUID(),
    now: input.now,
    tags: input.jobTags,
  });
  if (row === null) return { kind: "not_a_running_prebuild" };
  return {
    kind: "deleted",
    job: { organizationId: row.organizationId, jobId },
    buildNumber: row.buildNumber,
  };
}
