// Delete: a preset's planned deletes in ONE guarded set-based statement (issue #11, #17). Runs
// inside the caller's READ COMMITTED transaction as two statements: LockPresetForWrite, then
// DeletePrebuilds (queries/prebuilds.sql), which queues a `delete` build (recording the preset)
// for each listed workspace that is still an unclaimed prebuild whose latest build is a succeeded
// start, and only while the reason the planner chose it still holds (expired; preset inactive;
// preset still above its desired count, re-counted under the lock so two writers never both
// delete the last extra one). A claim that wins the race either changed the owner first (skipped
// on the locked row) or holds the same build number (unique violation: the caller reports a lost
// race). Either way a claimed workspace is never deleted.
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import {
  deletePrebuilds as deletePrebuildsStatement,
  lockPresetForWrite,
} from "../db/sql/prebuilds_sql.ts";
import type { DeleteCause, SurgeGuard } from "../plan/index.ts";
import type { PostedJob } from "./notifier.ts";

export interface DeletePrebuildsInput {
  readonly presetId: string;
  /** The planned victims, oldest first. */
  readonly workspaceIds: readonly string[];
  /** Why the planner chose them; re-checked by the statement. */
  readonly because: DeleteCause;
  /** The desired instances the planner used ("extraneous": deletes stop at this many). */
  readonly desired: number;
  readonly jobTags: Readonly<Record<string, string>>;
  /** "superseded" only: what the surge rollout's one-for-one rule re-checks. */
  readonly surge?: SurgeGuard | undefined;
}

export interface DeletePrebuildsResult {
  /** The delete jobs queued, one per deleted workspace (to notify after commit). */
  readonly deleted: readonly { readonly workspaceId: string; readonly job: PostedJob }[];
  /** Listed workspaces that were still unclaimed running prebuilds (the rest were claimed,
   *  stopped, rebuilt or deleted since the snapshot). */
  readonly stillPrebuilds: number;
  /** Of those, how many the reason still covered (not deleted beyond `deleted`: the pool
   *  re-counted at write time was no longer above desired). */
  readonly reasonHolds: number;
  readonly presetGone: boolean;
}

/** Sends two statements in the caller's transaction; commit it to make the deletes real. */
export async function deletePrebuilds(
  client: SqlClient,
  input: DeletePrebuildsInput,
): Promise<DeletePrebuildsResult> {
  const none = { deleted: [], stillPrebuilds: 0, reasonHolds: 0 };
  if (input.workspaceIds.length === 0) return { ...none, presetGone: false };
  const locked = await lockPresetForWrite(client, { presetId: input.presetId });
  if (locked === null) return { ...none, presetGone: true };
  const rows = await deletePrebuildsStatement(client, {
    presetId: input.presetId,
    workspaceIds: [...input.workspaceIds],
    buildIds: input.workspaceIds.map(() => randomUUID()),
    jobIds: input.workspaceIds.map(() => randomUUID()),
    because: input.because,
    desired: input.desired,
    tags: input.jobTags,
    // Ignored unless "superseded"; a missing guard then holds nothing back but the deadline
    // (epoch: passed) — the planner always sets it for that cause.
    surgePresetId: input.surge?.newPresetId ?? input.presetId,
    surgeMinNewEligible: input.surge?.minNewEligible ?? 0,
    surgeDeadline: input.surge?.deadline ?? new Date(0),
  });
  const deleted: { workspaceId: string; job: PostedJob }[] = [];
  for (const row of rows) {
    if (row.workspaceId === null || row.jobId === null || row.organizationId === null) continue;
    deleted.push({
      workspaceId: row.workspaceId,
      job: { organizationId: row.organizationId, jobId: row.jobId },
    });
  }
  return {
    deleted,
    stillPrebuilds: rows[0]?.stillPrebuilds ?? 0,
    reasonHolds: rows[0]?.reasonHolds ?? 0,
    presetGone: false,
  };
}
