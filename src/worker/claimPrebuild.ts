// The claim API (issue #12; reference §7): hands a ready prebuild of a preset to a user, over the
// shipped ClaimPrebuiltWorkspace query (queries/queue.sql), which calls the function
// prebuild_claim_workspace (migration 0051: its plan is kept per session, issue #16).

import type { SqlClient } from "../db/pool.ts";
import { getClaimFallbackPreset } from "../db/sql/controls_sql.ts";
import { claimPrebuiltWorkspace } from "../db/sql/queue_sql.ts";
import { sqlState, violates } from "../db/sqlState.ts";
import { isUuid } from "./jobId.ts";

export interface ClaimRequest {
  /** template_version_presets.id the user chose. */
  readonly presetId: string;
  /** users.id of the new owner. */
  readonly userId: string;
  /** The workspace's new name (unique per owner, case-insensitively; at most 64 characters). */
  readonly workspaceName: string;
  /** workspaces.autostart_schedule to set (e.g. "CRON_TZ=UTC 0 9 * * 1-5"); default none. */
  readonly autostartSchedule?: string | null;
  /** workspaces.next_start_at to set; default none. */
  readonly nextStartAt?: Date | null;
  /** workspaces.ttl in nanoseconds, as the reference stores it; default none. */
  readonly ttlNanoseconds?: bigint | null;
  /**
   * Opt-in (issue #15): when the preset has no eligible prebuild, claim one of the same-named
   * preset of the version the template's last promotion replaced (a surge rollout keeps those
   * while the new ones build). The platform then updates that workspace to the active version.
   */
  readonly fallbackToPreviousVersion?: boolean;
}

/**
 * What a claim did: `claimed` — the workspace is now the user's (owner, name, schedule and
 * last_used_at set, dormancy and deleting_at cleared, on the database clock); `none_available` —
 * the preset has no eligible prebuild now (none ready, all claimed, or its version is no longer
 * active): the platform builds a workspace the ordinary way.
 */
export type ClaimResult =
  | {
      readonly status: "claimed";
      readonly workspaceId: string;
      readonly workspaceName: string;
      /** Set when the fallback claimed a prebuild of the previous version's preset (this id):
       *  the workspace is on that version and needs an update to the active one. */
      readonly previousVersionPresetId?: string;
    }
  | { readonly status: "none_available"; readonly presetId: string };

/** The user already has a workspace with that name. */
export class WorkspaceNameTakenError extends Error {
  override readonly name = "WorkspaceNameTakenError";
  readonly workspaceName: string;
  constructor(workspaceName: string) {
    super(
      `the user already has a workspace named ${JSON.stringify(workspaceName)}: pick another name`,
    );
    this.workspaceName = workspaceName;
  }
}

/**
 * The new owner is not in the `users` table (workspaces.owner_id references it): the platform
 * keeps its own users and must write each one there before claiming a prebuild for them.
 */
export class UnknownUserError extends Error {
  override readonly name = "UnknownUserError";
  readonly userId: string;
  constructor(userId: string) {
    super(
      `user ${userId} is not in the users table: the platform must write its users into users (id, username) before claiming a prebuild for them`,
    );
    this.userId = userId;
  }
}

/**
 * Claims one eligible prebuild of `presetId` for `userId` in one statement: its latest build is a
 * succeeded start on the template's active version, every top-level agent is ready, the template
 * is not deleted, and no delete is queued for it. Concurrent claims never get the same workspace
 * (FOR UPDATE SKIP LOCKED), and a claim racing the reconciler's delete either wins (the delete is
 * skipped) or finds the prebuild gone. Which eligible prebuild is taken is unspecified. With
 * `fallbackToPreviousVersion`, a second statement pair tries the previous version's same-named
 * preset when the first finds nothing.
 *
 * @throws WorkspaceNameTakenError when the user already owns a workspace named `workspaceName`
 *   (nothing is claimed); UnknownUserError when `userId` is not in `users` and a prebuild was
 *   available (nothing is claimed; with none available the result is `none_available`);
 *   TypeError for a preset or user id that is not a UUID, or an empty name.
 */
export async function claimPrebuild(db: SqlClient, request: ClaimRequest): Promise<ClaimResult> {
  for (const [field, value] of [
    ["presetId", request.presetId],
    ["userId", request.userId],
  ] as const) {
    if (!isUuid(value))
      throw new TypeError(`${field} must be a UUID (got ${JSON.stringify(value)})`);
  }
  if (request.workspaceName.trim() === "" || request.workspaceName.length > 64) {
    throw new TypeError(
      `workspaceName must be 1 to 64 characters (got ${JSON.stringify(request.workspaceName)})`,
    );
  }
  try {
    const claim = (presetId: string, allowPreviousVersion: boolean) =>
      claimPrebuiltWorkspace(db, {
        presetId,
        allowPreviousVersion,
        newUserId: request.userId,
        newName: request.workspaceName,
        now: null,
        autostartSchedule: request.autostartSchedule ?? null,
        nextStartAt: request.nextStartAt ?? null,
        ttl: request.ttlNanoseconds == null ? null : request.ttlNanoseconds.toString(),
      });
    const row = await claim(request.presetId, false);
    if (row !== null) return { status: "claimed", workspaceId: row.id, workspaceName: row.name };
    if (request.fallbackToPreviousVersion === true) {
      const fallback = await getClaimFallbackPreset(db, { presetId: request.presetId });
      const old = fallback === null ? null : await claim(fallback.presetId, true);
      if (fallback !== null && old !== null) {
        return {
          status: "claimed",
          workspaceId: old.id,
          workspaceName: old.name,
          previousVersionPresetId: fallback.presetId,
        };
      }
    }
    return { status: "none_available", presetId: request.presetId };
  } catch (error) {
    if (sqlState(error) === "23505") throw new WorkspaceNameTakenError(request.workspaceName);
    if (violates(error, "23503", "workspaces_owner_id_fkey")) {
      throw new UnknownUserError(request.userId);
    }
    throw error;
  }
}
