import type { CancelPolicy } from "./cancelPolicy.ts";

// What the planner asks the executor to do for one preset. A preset's actions form an ordered list
// that is carried out in order; each carries a `reason`: one sentence with the numbers behind it.

/** Build `count` (≥ 1) new prebuilds of an active preset; never more than desired − running − starting.
 *  The executor still skips it for a hard-limited or validation_failed preset (the reason says so). */
export interface CreateAction {
  readonly _tag: "Create";
  readonly count: number;
  readonly reason: string;
}

/** Why a Delete chose its prebuilds; the executor re-checks it at write time (issue #11):
 *  "expired" (TTL passed or invalidated), "inactive" (the preset is not in use), "extraneous"
 *  (the preset has more non-expired running prebuilds than desired), "stopped" (the latest build
 *  is a stop that succeeded or failed: PREBUILDS_REPLACE_STOPPED, issue #15), "superseded" (an old
 *  version's eligible prebuild that a surge rollout's new preset has replaced, issue #15). */
export type DeleteCause = "expired" | "inactive" | "extraneous" | "stopped" | "superseded";

/** What a "superseded" delete re-checks at write time (a surge rollout, issue #15): the new
 *  version's preset still has at least `minNewEligible` eligible prebuilds, or `deadline` passed. */
export interface SurgeGuard {
  readonly newPresetId: string;
  readonly minNewEligible: number;
  readonly deadline: Date;
}

/** Delete these running (possibly expired) prebuilds of this preset, oldest first. Never empty, and
 *  never a workspace that is building, failed, or of another preset; stopped only for "stopped". */
export interface DeleteAction {
  readonly _tag: "Delete";
  readonly workspaceIds: readonly string[];
  readonly because: DeleteCause;
  /** Set exactly when `because` is "superseded". */
  readonly surge?: SurgeGuard;
  readonly reason: string;
}

/** Recent builds failed: do nothing for this preset, deletes included, until `until`.
 *  Always the only action of its preset. */
export interface BackoffAction {
  readonly _tag: "Backoff";
  readonly until: Date;
  readonly reason: string;
}

/** Cancel the stale first builds of this inactive preset as its template's cancel `policy` says
 *  (issue #13): `pendingCount` pending ones to cancel (0 under "retain"), `runningCount` running
 *  ones to ask to cancel, and `orphanCount` workspaces of first builds canceled after a worker
 *  took them, to delete through a provisioner (both policy "running" only); at least one is ≥ 1. The
 *  executor re-selects every job and workspace by criteria at write time (the policy included).
 *  Comes before any Delete; its reason always names the policy. */
export interface CancelPendingAction {
  readonly _tag: "CancelPending";
  readonly presetId: string;
  readonly policy: CancelPolicy;
  readonly pendingCount: number;
  readonly runningCount: number;
  readonly orphanCount: number;
  readonly reason: string;
}

export type Action = CreateAction | DeleteAction | BackoffAction | CancelPendingAction;

/**
 * Each action type's name outside the code (issue #17: one home): the `type` label of
 * prebuildsd_actions_total, `plan --json`'s and `reconcile --once --json`'s action types, the status
 * page. A contract: renaming one breaks dashboards and scripts.
 */
export const ACTION_NAMES = {
  Create: "create",
  Delete: "delete",
  Backoff: "backoff",
  CancelPending: "cancel_pending",
} as const satisfies Record<Action["_tag"], string>;

export type ActionName = (typeof ACTION_NAMES)[Action["_tag"]];

/** Every action tag, in the order reports list them. */
export const ACTION_TAGS = Object.keys(ACTION_NAMES) as readonly Action["_tag"][];

/** What executing an action came to. success: done (Backoff: waited as asked). failure: an
 *  error, logged and counted. skipped: deliberately not done at write time (hard-limited,
 *  validation failed, disabled, a clamp to zero, a lost race). Also the metric's `outcome` label. */
export const ACTION_OUTCOMES = ["success", "failure", "skipped"] as const;

export type ActionOutcome = (typeof ACTION_OUTCOMES)[number];
