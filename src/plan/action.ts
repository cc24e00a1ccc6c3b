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
 *  (the preset has more non-expired running prebuilds than desired). */
export type DeleteCause = "expired" | "inactive" | "extraneous";

/** Delete these running (possibly expired) prebuilds of this preset, oldest first. Never empty, and
 *  never a workspace that is building, stopped, failed, or of another preset. */
export interface DeleteAction {
  readonly _tag: "Delete";
  readonly workspaceIds: readonly string[];
  readonly because: DeleteCause;
  readonly reason: string;
}

/** Recent builds failed: do nothing for this preset, deletes included, until `until`.
 *  Always the only action of its preset. */
export interface BackoffAction {
  readonly _tag: "Backoff";
  readonly until: Date;
  readonly reason: string;
}

/** Cancel the pending first builds of this inactive preset (`pendingCount` ≥ 1 seen in the
 *  snapshot); the executor re-selects the jobs by criteria at write time. Comes before any Delete. */
export interface CancelPendingAction {
  readonly _tag: "CancelPending";
  readonly presetId: string;
  readonly pendingCount: number;
  readonly reason: string;
}

export type Action = CreateAction | DeleteAction | BackoffAction | CancelPendingAction;
