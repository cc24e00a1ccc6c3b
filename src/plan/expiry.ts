// When a running prebuild is too old to hand out: its preset's TTL has passed, or the preset was
// invalidated after it was created. Always judged against the injected `now`, never the wall clock
// (the reference uses time.Since for the TTL, so its tests have to align the mock clock with it).

/** What a preset contributes to its expiry rule (a `PresetRow` has these fields). */
export interface ExpirySettings {
  /** invalidate_after_secs; null or 0 = no TTL. */
  readonly ttlSeconds: number | null;
  readonly lastInvalidatedAt: Date | null;
}

/** What a prebuild contributes (a `RunningPrebuild` has this field). */
export interface Aging {
  readonly createdAt: Date;
}

export interface ExpiryRule {
  /** TTL in milliseconds, or null for no TTL. */
  readonly ttlMs: number | null;
  /** Prebuilds created strictly before this are expired; null if never invalidated. */
  readonly invalidatedAt: Date | null;
  /** Set when the row held something unusable and we ignored it; one sentence. */
  readonly problem?: string;
}

/** The TTL and invalidation rule of a preset (reference §4.2); never throws, `problem` says what was ignored. */
export function expiryRule(preset: ExpirySettings): ExpiryRule {
  const ttl = preset.ttlSeconds;
  const invalidatedAt = preset.lastInvalidatedAt;
  const problems: string[] = [];
  let ttlMs: number | null = null;
  if (ttl !== null && ttl !== 0) {
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) {
      // A negative or non-numeric TTL cannot mean "expire everything immediately" safely;
      // treating it as "no expiry" keeps the pool up instead of churning it every cycle.
      problems.push(`invalidate_after_secs is ${String(ttl)}; treating it as no expiry`);
    } else {
      ttlMs = ttl * 1000;
    }
  }
  return problems.length === 0
    ? { ttlMs, invalidatedAt }
    : { ttlMs, invalidatedAt, problem: problems.join("; ") };
}

/** Whether `prebuild` is too old to hand out at `now`. */
function isExpired(rule: ExpiryRule, prebuild: Aging, now: Date): boolean {
  const created = prebuild.createdAt.getTime();
  if (rule.invalidatedAt !== null && created < rule.invalidatedAt.getTime()) return true;
  return rule.ttlMs !== null && now.getTime() - created > rule.ttlMs;
}

/** Splits a preset's running prebuilds into non-expired and expired at `now`, keeping their order. */
export function splitExpired<P extends Aging>(
  preset: ExpirySettings,
  prebuilds: readonly P[],
  now: Date,
): { running: readonly P[]; expired: readonly P[] } {
  const rule = expiryRule(preset);
  if (rule.ttlMs === null && rule.invalidatedAt === null)
    return { running: prebuilds, expired: [] };
  const running: P[] = [];
  const expired: P[] = [];
  for (const p of prebuilds) (isExpired(rule, p, now) ? expired : running).push(p);
  return { running, expired };
}
