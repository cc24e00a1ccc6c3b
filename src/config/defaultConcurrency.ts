// How many presets a cycle reconciles at once when the operator does not say: the reference's
// calculateReconciliationConcurrency (§9), one home for the rule (the config and the reconciler).

/** clamp(poolSize / 2, 1, 5): pool 10 → 5, 4 → 2, 2 → 1, ≤ 1 (or not a number) → 1. */
export function defaultConcurrency(poolSize: number): number {
  if (!Number.isFinite(poolSize) || poolSize <= 0) return 1;
  return Math.min(5, Math.max(1, Math.floor(poolSize / 2)));
}
