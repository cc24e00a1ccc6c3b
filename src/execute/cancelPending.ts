// CancelPending (reference §5, issue #13's cancel policies): cancel the pending, unacquired first
// builds of an inactive preset with one criteria-based UPDATE, then orphan-delete their workspaces
// in the SAME transaction, so a system cancel can never be mistaken later for a user's cancel. Those
// orphan deletes are free: nothing was ever provisioned, so they complete at once (no queue slot,
// no provisioner). Under the template's policy "running", the preset's running first builds are
// then asked to cancel through cancelJob (each its own statement); and the workspaces of first
// builds that ended canceled after a worker took them get an orphan delete through a provisioner.
// Every statement re-checks the preset's inactivity and the template's policy at write time; every
// timestamp is the database's now(); every delete build records the preset (issue #11).
import { randomUUID } from "node:crypto";
import { autocommit, type Database, type SqlClient } from "../db/pool.ts";
import {
  listCanceledAcquiredFirstBuilds,
  listRunningStaleFirstBuildJobs,
} from "../db/sql/cancellation_sql.ts";
import { cancelPendingPrebuildJobs, insertOrphanDeleteBuilds } from "../db/sql/prebuilds_sql.ts";
import { withTransaction } from "../db/transaction.ts";
import type { CancelPolicy } from "../plan/index.ts";
import { cancelJob } from "../worker/cancelJob.ts";
import type { PostedJob } from "./notifier.ts";

export interface CancelPendingInput {
  readonly presetId: string;
  /** The policy the plan applied; the statements re-read the template's own. */
  readonly policy: CancelPolicy;
  /** Whether the plan saw ended canceled first builds whose workspace needs a delete build. */
  readonly orphans: boolean;
  /** Milliseconds: a provisioner daemon seen this recently (database clock) counts as alive. */
  readonly provisionerStaleAfter: number;
  readonly jobTags: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** false: queue never-provisioned orphan deletes for a provisioner too (before issue #13; the
   *  benchmark's "before"). Default true. */
  readonly freeDeletes?: boolean;
}

interface OrphanDeletes {
  /** Workspaces that got an orphan delete build (still owned by the prebuilds user). */
  readonly orphanDeleted: readonly string[];
  /** Of those, the ones whose delete job completed at once: now deleted. */
  readonly deletedAtOnce: readonly string[];
  /** Of those, the ones deleted at once because nothing was ever provisioned (free deletes). */
  readonly neverProvisioned: readonly string[];
  /** Delete jobs left for a provisioner to run (to notify after commit). */
  readonly queuedJobs: readonly PostedJob[];
}

export interface CancelPendingResult extends OrphanDeletes {
  readonly canceledJobIds: readonly string[];
  /** Running jobs asked to cancel (cancelJob answered cancel_requested_while_running). */
  readonly cancelRequestedJobIds: readonly string[];
}

const NO_ORPHANS: OrphanDeletes = {
  orphanDeleted: [],
  deletedAtOnce: [],
  neverProvisioned: [],
  queuedJobs: [],
};

/** Writes the orphan delete builds of `workspaceIds` (see InsertOrphanDeleteBuilds). */
async function orphanDelete(
  client: SqlClient,
  input: Pick<CancelPendingInput, "presetId" | "provisionerStaleAfter" | "jobTags" | "freeDeletes">,
  workspaceIds: readonly string[],
): Promise<OrphanDeletes> {
  if (workspaceIds.length === 0) return NO_ORPHANS;
  const deletes = await insertOrphanDeleteBuilds(client, {
    workspaceIds: [...workspaceIds],
    buildIds: workspaceIds.map(() => randomUUID()),
    jobIds: workspaceIds.map(() => randomUUID()),
    staleAfterSecs: input.provisionerStaleAfter / 1000,
    presetId: input.presetId,
    tags: input.jobTags,
    freeDeletes: input.freeDeletes ?? true,
  });
  return {
    orphanDeleted: deletes.map((r) => r.workspaceId),
    deletedAtOnce: deletes.filter((r) => r.completeNow === true).map((r) => r.workspaceId),
    neverProvisioned: deletes.filter((r) => r.neverProvisioned === true).map((r) => r.workspaceId),
    queuedJobs: deletes
      .filter((r) => r.completeNow !== true)
      .map((r) => ({ organizationId: r.organizationId, jobId: r.jobId })),
  };
}

function merge(a: OrphanDeletes, b: OrphanDeletes): OrphanDeletes {
  return {
    orphanDeleted: [...a.orphanDeleted, ...b.orphanDeleted],
    deletedAtOnce: [...a.deletedAtOnce, ...b.deletedAtOnce],
    neverProvisioned: [...a.neverProvisioned, ...b.neverProvisioned],
    queuedJobs: [...a.queuedJobs, ...b.queuedJobs],
  };
}

/** Step 1: the pending jobs and their free orphan deletes, in one transaction. */
async function cancelPendingJobs(
  db: Database,
  input: CancelPendingInput,
): Promise<{ canceledJobIds: string[]; orphans: OrphanDeletes }> {
  return withTransaction(db, { isolation: "read committed", signal: input.signal }, async (c) => {
    const canceled = await cancelPendingPrebuildJobs(c, { presetId: input.presetId });
    const workspaceIds = [...new Set(canceled.map((r) => r.workspaceId))];
    return {
      canceledJobIds: canceled.map((r) => r.jobId),
      orphans: await orphanDelete(c, input, workspaceIds),
    };
  });
}

/**
 * Carries out one CancelPending action: (1) the pending jobs (never under the template's policy
 * "retain", re-read at write time) and their free orphan deletes in one transaction; (2) under
 * policy "running", cancelJob for each running stale first build (re-listed at write time); (3)
 * when the plan saw some, orphan deletes through a provisioner for the ended canceled ones.
 * Throws what the database throws; steps already committed stay committed.
 */
export async function cancelPendingPrebuilds(
  db: Database,
  input: CancelPendingInput,
): Promise<CancelPendingResult> {
  const pending = await cancelPendingJobs(db, input);
  const cancelRequestedJobIds: string[] = [];
  if (input.policy === "running") {
    const sql = autocommit(db);
    const running = await listRunningStaleFirstBuildJobs(sql, { presetId: input.presetId });
    for (const { jobId } of running) {
      if (input.signal.aborted) break;
      if ((await cancelJob(sql, jobId)) === "cancel_requested_while_running") {
        cancelRequestedJobIds.push(jobId);
      }
    }
  }
  let orphans = pending.orphans;
  if (input.orphans && !input.signal.aborted) {
    const ended = await withTransaction(
      db,
      { isolation: "read committed", signal: input.signal },
      async (c) => {
        const rows = await listCanceledAcquiredFirstBuilds(c, { presetId: input.presetId });
        return orphanDelete(
          c,
          input,
          rows.map((r) => r.workspaceId),
        );
      },
    );
    orphans = merge(orphans, ended);
  }
  return { canceledJobIds: pending.canceledJobIds, cancelRequestedJobIds, ...orphans };
}
