// What the views (plan, the status page) count as STARTING for a preset. An inactive preset's
// first builds still in flight are counted apart from the in-progress builds
// (CountPendingNonActivePrebuilds, issue #13), and its CancelPending reason names them; a view
// that showed only the in-progress count would say 0 beside that reason.

import type { PlannedPreset } from "./planAll.ts";

/** An inactive preset's first builds in flight: pending, and running ones not yet asked to
 *  cancel. Both 0 for an active preset. */
export function staleFirstBuilds(p: Pick<PlannedPreset, "plan" | "snapshot">): {
  readonly pending: number;
  readonly running: number;
} {
  if (p.plan.active) return { pending: 0, running: 0 };
  return { pending: p.snapshot.pendingCount, running: p.snapshot.staleRunningCount ?? 0 };
}

/**
 * The STARTING count a view shows: the builds in progress, and for an inactive preset its first
 * builds in flight. The larger of the two, not their sum: a deleted template's active version is
 * in both reads.
 */
export function startingShown(p: Pick<PlannedPreset, "plan" | "snapshot">): number {
  const stale = staleFirstBuilds(p);
  return Math.max(p.plan.state.starting, stale.pending + stale.running);
}
