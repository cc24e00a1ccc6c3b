// Create: up to N prebuilds of one preset, guarded at write time (issue #11). Runs inside the
// caller's READ COMMITTED transaction as two statements: LockPresetForWrite (the preset's write
// lock, held until the transaction ends), then CreatePrebuilds (queries/prebuilds.sql), which
// re-counts the preset's present prebuilds under that lock and creates at most what is still
// missing relative to the desired count the planner used. Two writers of one preset take turns and
// the second sees the first's prebuilds, so a pool is never overfilled, whatever happened to the
// advisory lock. The statement also locks the template row FOR SHARE (a promotion cannot slip in),
// checks the preset is on the template's active version, and checks its parameters against the
// version's required parameters, marking it validation_failed if one is missing. Every timestamp
// is the database's now(). Under PREBUILDS_MAX_INFLIGHT_JOBS (issue #13) the create also takes the
// cap's lock and counts the jobs in flight, so no writer takes the queue past the cap.
import { randomUUID } from "node:crypto";
import type { SqlClient } from "../db/pool.ts";
import { lockInflightCap } from "../db/sql/cancellation_sql.ts";
import {
  createPrebuilds as createPrebuildsStatement,
  lockPresetForWrite,
} from "../db/sql/prebuilds_sql.ts";
import { countInflightPrebuildJobs } from "../db/sql/snapshot_sql.ts";
import type { PostedJob } from "./notifier.ts";
import { newPrebuildName } from "./prebuildName.ts";

export interface CreatePrebuildsInput {
  readonly presetId: string;
  /** Prebuilds planned: at least 1 (createGate.ts). */
  readonly count: number;
  /** The desired instances the planner used; nothing is created beyond it. */
  readonly desired: number;
  readonly jobTags: Readonly<Record<string, string>>;
  /** PREBUILDS_MAX_INFLIGHT_JOBS (issue #13): when set, the create takes the cap's lock and
   *  creates at most cap − jobs in flight now. null or absent: no cap. */
  readonly maxInflightJobs?: number | null;
}

export type CreatePrebuildsResult =
  /** `workspaceIds.length` ≤ `planned`; fewer when prebuilds appeared since the snapshot
   *  (`present`: the preset's prebuilds counted under the lock before creating). */
  | {
      readonly kind: "created";
      readonly workspaceIds: readonly string[];
      readonly jobs: readonly PostedJob[];
      readonly planned: number;
      readonly present: number;
      readonly desired: number;
      /** Set when the in-flight cap allowed fewer than planned: jobs in flight and the cap. */
      readonly capped?: { readonly inflight: number; readonly cap: number };
    }
  /** Nothing created: `present` prebuilds (live or in progress) already meet `desired`. */
  | { readonly kind: "pool_full"; readonly present: number; readonly desired: number }
  /** The preset (or its version or template) no longer exists. */
  | { readonly kind: "preset_gone" }
  /** Nothing created: `inflight` prebuild jobs (counted under the cap's lock) reach the cap. */
  | { readonly kind: "capped"; readonly inflight: number; readonly cap: number }
  /** A promotion, deletion or deprecation made the preset inactive since the snapshot. */
  | { readonly kind: "preset_inactive"; readonly activeVersionId: string }
  /** The preset misses required parameters; it is now marked validation_failed. */
  | {
      readonly kind: "validation_failed";
      readonly missing: readonly string[];
      readonly firstDetection: boolean;
    };

/** Room left under the cap, counted under its lock (LockInflightCap); null when uncapped. */
async function roomUnderCap(
  client: SqlClient,
  cap: number | null | undefined,
): Promise<{ room: number; inflight: number; cap: number } | null> {
  if (typeof cap !== "number" || !Number.isInteger(cap) || cap < 1) return null;
  await lockInflightCap(client);
  const inflight = (await countInflightPrebuildJobs(client))?.inflight ?? 0;
  return { room: Math.max(0, cap - inflight), inflight, cap };
}

/** Sends two statements in the caller's transaction (four under the in-flight cap); commit it to
 *  make the prebuilds real. */
export async function createPrebuilds(
  client: SqlClient,
  input: CreatePrebuildsInput,
): Promise<CreatePrebuildsResult> {
  const locked = await lockPresetForWrite(client, { presetId: input.presetId });
  if (locked === null) return { kind: "preset_gone" };
  const capped = await roomUnderCap(client, input.maxInflightJobs);
  if (capped !== null && capped.room === 0) {
    return { kind: "capped", inflight: capped.inflight, cap: capped.cap };
  }
  const count = capped === null ? input.count : Math.min(input.count, capped.room);
  const rows = Array.from({ length: count }, () => ({
    workspaceId: randomUUID(),
    buildId: randomUUID(),
    jobId: randomUUID(),
    name: newPrebuildName(),
  }));
  const result = await createPrebuildsStatement(client, {
    presetId: input.presetId,
    count,
    desired: input.desired,
    workspaceIds: rows.map((r) => r.workspaceId),
    buildIds: rows.map((r) => r.buildId),
    jobIds: rows.map((r) => r.jobId),
    names: rows.map((r) => r.name),
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
    case "pool_full":
      return { kind: "pool_full", present: first.present, desired: input.desired };
    case "created": {
      const workspaceIds: string[] = [];
      const jobs: PostedJob[] = [];
      for (const row of result) {
        if (row.workspaceId === null || row.jobId === null) continue;
        workspaceIds.push(row.workspaceId);
        jobs.push({ organizationId: row.organizationId, jobId: row.jobId });
      }
      return {
        kind: "created",
        workspaceIds,
        jobs,
        planned: input.count,
        present: first.present,
        desired: input.desired,
        ...(capped !== null &&
          count < input.count && { capped: { inflight: capped.inflight, cap: capped.cap } }),
      };
    }
    default:
      throw new Error(`CreatePrebuilds returned an unknown outcome "${first.outcome}"`);
  }
}
