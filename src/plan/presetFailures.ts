// Backoff and hard limit (reference §4.4, §4.5), counted from the latest start builds of the live
// prebuilds. The snapshot reads those builds once for the running prebuilds and for these rules
// (GetLatestPrebuildStartBuilds); two walks of the latest builds, one per use, were most of a full
// resync's cost at fleet L (issue #16). Pure: the rows and the instant in, the rows out.

import type { BackoffRow, PresetRow } from "./snapshot.ts";

/** The latest build of a live prebuild, when it is a start build (any job status). */
export interface LatestStartBuild {
  /** The build's own preset (not the fallback a running prebuild is counted under). */
  readonly presetId: string | null;
  readonly templateVersionId: string;
  /** Its job failed. */
  readonly failed: boolean;
  /** The build's created_at. */
  readonly createdAt: Date;
  /** False when the build was created at or before its preset's `prebuildsd reset` (issue #15). */
  readonly countsTowardFailures: boolean;
}

export interface FailureRules {
  /** Failures created at or after this instant count toward backoff (at − PREBUILDS_BACKOFF_LOOKBACK). */
  readonly lookback: Date;
  /** Consecutive failed latest builds that hard-limit a preset; 0 (or less) disables the limit. */
  readonly hardLimit: number;
}

export interface PresetFailures {
  /** One row per preset that backs off. */
  readonly backoffs: readonly BackoffRow[];
  readonly hardLimitedPresetIds: ReadonlySet<string>;
}

/**
 * The backoff rows and hard-limited presets among `presets`, from `builds`.
 *
 * A build counts for the preset it names when that preset is one of `presets`, on its template's
 * active version, of the build's own version (the create path guarantees it), and the build is
 * after the preset's reset. Per preset, most recent first:
 * - backoff (§4.4), for templates neither deleted nor deprecated: one of the `desiredInstances`
 *   most recent builds failed inside the lookback. `numFailed` counts every failure inside the
 *   lookback (the caller waits numFailed × interval after `lastBuildAt`, the latest of those
 *   recent failures); `firstFailedAt` is the oldest, when the count next drops (issue #16);
 * - hard limit (§4.5), deleted templates included (deletion is never blocked by it): the
 *   `hardLimit` most recent builds all failed.
 * Builds created at the same instant (a cycle's creates share one) rank failed first: a failure
 * is never hidden behind a success stamped alike (the SQL this replaced left that order to chance).
 */
export function presetFailures(
  builds: readonly LatestStartBuild[],
  presets: readonly PresetRow[],
  rules: FailureRules,
): PresetFailures {
  const activePresets = new Map<string, PresetRow>();
  for (const p of presets) if (p.usingActiveVersion) activePresets.set(p.presetId, p);
  const byPreset = new Map<string, { preset: PresetRow; builds: LatestStartBuild[] }>();
  for (const build of builds) {
    if (build.presetId === null || !build.countsTowardFailures) continue;
    const preset = activePresets.get(build.presetId);
    if (preset === undefined || preset.templateVersionId !== build.templateVersionId) continue;
    const group = byPreset.get(build.presetId);
    if (group === undefined) byPreset.set(build.presetId, { preset, builds: [build] });
    else group.builds.push(build);
  }
  const backoffs: BackoffRow[] = [];
  const hardLimitedPresetIds = new Set<string>();
  const lookback = rules.lookback.getTime();
  for (const [presetId, { preset, builds: group }] of byPreset) {
    const recentFirst = group.sort(
      (a, b) =>
        b.createdAt.getTime() - a.createdAt.getTime() || Number(b.failed) - Number(a.failed),
    );
    if (!preset.templateDeleted && !preset.templateDeprecated) {
      const backoff = backoffOf(presetId, recentFirst, preset.desiredInstances, lookback);
      if (backoff !== null) backoffs.push(backoff);
    }
    if (isHardLimited(recentFirst, rules.hardLimit)) hardLimitedPresetIds.add(presetId);
  }
  return { backoffs, hardLimitedPresetIds };
}

function backoffOf(
  presetId: string,
  recentFirst: readonly LatestStartBuild[],
  desiredInstances: number,
  lookback: number,
): BackoffRow | null {
  const inWindow = (b: LatestStartBuild) => b.failed && b.createdAt.getTime() >= lookback;
  // The most recent failure inside the lookback backs off only if it is among the
  // desiredInstances most recent builds.
  const latest = recentFirst.findIndex(inWindow);
  const lastBuild = recentFirst[latest];
  if (lastBuild === undefined || latest >= desiredInstances) return null;
  const failures = recentFirst.filter(inWindow);
  return {
    presetId,
    numFailed: failures.length,
    lastBuildAt: lastBuild.createdAt,
    firstFailedAt: failures.at(-1)?.createdAt ?? null,
  };
}

function isHardLimited(recentFirst: readonly LatestStartBuild[], hardLimit: number): boolean {
  if (!(hardLimit >= 1) || recentFirst.length < hardLimit) return false;
  return recentFirst.slice(0, hardLimit).every((b) => b.failed);
}
