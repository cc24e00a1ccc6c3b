// CancelPending (reference §5): cancel the pending, unacquired first builds of an inactive preset
// with one criteria-based UPDATE, then orphan-delete their workspaces in the SAME transaction, so a
// system cancel can never be mistaken later for a user's cancel. Run inside one write transaction:
// any failure rolls back every cancellation of the preset. The UPDATE re-reads the preset's
// template, so a preset made active again since the snapshot cancels nothing; the orphan delete
// builds record the preset (issue #11). Every timestamp is the database's now().
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import { cancelPendingPrebuildJobs, insertOrphanDeleteBuilds } from "../db/sql/prebuilds_sql.ts";
import type { PostedJob } from "./notifier.ts";

export interface CancelPendingInput {
  readonly presetId: string;
  /** Milliseconds: a provisioner daemon seen this recently (database clock) counts as alive. */
  readonly provisionerStaleAfter: number;
  readonly jobTags: Readonly<Record<string, string>>;
}

export interface CancelPendingResult {
  readonly canceledJobIds: readonly string[];
  /** Workspaces that got an orphan delete build (still owned by the prebuilds user). */
  readonly orphanDeleted: readonly string[];
  /** Of those, the ones whose delete job completed at once (no live provisioner): now deleted. */
  readonly deletedAtOnce: readonly string[];
  /** Delete jobs left for a provisioner to run (to notify after commit). */
  readonly queuedJobs: readonly PostedJob[];
}

export async function cancelPendingPrebuilds(
  client: SqlClient,
  input: CancelPendingInput,
): Promise<CancelPendingResult> {
  const canceled = await cancelPendingPrebuildJobs(client, { presetId: input.presetId });
  if (canceled.length === 0) {
    return { canceledJobIds: [], orphanDeleted: [], deletedAtOnce: [], queuedJobs: [] };
  }
  const workspaceIds = [...new Set(canceled.map((r) => r.workspaceId))];
  const deletes = await insertOrphanDeleteBuilds(client, {
    workspaceIds,
    buildIds: workspaceIds.map(() => randomUUID()),
    jobIds: workspaceIds.map(() => randomUUID()),
    staleAfterSecs: input.provisionerStaleAfter / 1000,
    presetId: input.presetId,
    tags: input.jobTags,
  });
  return {
    canceledJobIds: canceled.map((r) => r.jobId),
    orphanDeleted: deletes.map((r) => r.workspaceId),
    deletedAtOnce: deletes.filter((r) => r.completeNow === true).map((r) => r.workspaceId),
    queuedJobs: deletes
      .filter((r) => r.completeNow !== true)
      .map((r) => ({ organizationId: r.organizationId, jobId: r.jobId })),
  };
}
