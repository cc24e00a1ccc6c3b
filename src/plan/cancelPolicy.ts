// A template's cancel policy (issue #13): what the reconciler does with the jobs of its stale
// versions' prebuilds. Stored on the template (templates.prebuild_cancel_policy, migration 0045).

/**
 * - `pending` (the default, the reference's CancelPending): cancel the pending, unacquired first
 *   builds of an inactive preset.
 * - `retain`: cancel nothing; the jobs finish, and the prebuilds are then deleted as running
 *   prebuilds of an inactive preset.
 * - `running`: as `pending`, and also ask running first builds of the inactive preset to cancel
 *   (cancelJob: status `canceling`); once they end, their workspaces are deleted through a
 *   provisioner (partial resources may exist).
 */
export type CancelPolicy = (typeof CANCEL_POLICIES)[number];

export const CANCEL_POLICIES = ["pending", "retain", "running"] as const;

/** The policy when the template names none (rows read before migration 0045, test builders). */
export const DEFAULT_CANCEL_POLICY: CancelPolicy = "pending";

export function isCancelPolicy(value: unknown): value is CancelPolicy {
  return typeof value === "string" && (CANCEL_POLICIES as readonly string[]).includes(value);
}
