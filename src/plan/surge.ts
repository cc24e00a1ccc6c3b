// Make-before-break promotion (issue #15, `prebuildsd rollout <template> surge`): after a
// promotion, the previous version's eligible prebuilds are deleted only as the active version's
// preset of the same name gains eligible ones (one for one), or once PREBUILDS_ROLLOUT_MAX_WAIT has
// passed since the promotion. Pure: the numbers come from the snapshot index, the instant is given.
// Only the version that was active just before the promotion is held; older versions are deleted
// as with `replace` (a new promotion in the middle of a rollout starts a new one from the version
// it replaced).
import { presetDesiredAt } from "./desiredInstances.ts";
import { splitExpired } from "./expiry.ts";
import {
  type PresetSnapshot,
  presetNameKey,
  type SnapshotIndex,
  type SurgeHold,
} from "./snapshot.ts";

/** PREBUILDS_ROLLOUT_MAX_WAIT's default, in milliseconds. */
export const DEFAULT_ROLLOUT_MAX_WAIT_MS = 30 * 60_000;

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * The hold on `snapshot`'s preset, or null when no surge rollout covers it: the template's policy
 * is `surge`, its last recorded promotion replaced this preset's version, the template is live, and
 * the active version has a preset of the same name. `maxWaitMs`: PREBUILDS_ROLLOUT_MAX_WAIT.
 */
export function surgeHold(
  index: SnapshotIndex,
  snapshot: PresetSnapshot,
  now: Date,
  maxWaitMs: number | undefined,
): SurgeHold | null {
  const { preset } = snapshot;
  if (preset.usingActiveVersion || preset.templateDeleted || preset.templateDeprecated) return null;
  const rollout = index.rolloutByTemplate.get(preset.templateId);
  if (rollout?.strategy !== "surge" || rollout.promotedAt === null) return null;
  if (rollout.previousVersionId !== preset.templateVersionId) return null;
  const partner = index.activePresetByName.get(presetNameKey(preset.templateId, preset.presetName));
  if (partner === undefined) return null;
  const wait =
    maxWaitMs !== undefined && Number.isFinite(maxWaitMs) && maxWaitMs > 0
      ? maxWaitMs
      : DEFAULT_ROLLOUT_MAX_WAIT_MS;
  const startedAt = rollout.promotedAt;
  const deadline = new Date(startedAt.getTime() + wait);
  const newDesired = presetDesiredAt(
    {
      preset: partner,
      schedules: index.schedulesByPreset.get(partner.presetId) ?? EMPTY,
      desiredOverride: index.overrideByPreset.get(partner.presetId) ?? null,
    },
    now,
  ).count;
  const partnerRunning = index.runningByPreset.get(partner.presetId) ?? EMPTY;
  const newEligible = splitExpired(partner, partnerRunning, now).running.filter(
    (p) => p.ready === true,
  ).length;
  const oldEligible = snapshot.running.filter((p) => p.ready === true).length;
  const keep =
    now.getTime() >= deadline.getTime()
      ? 0
      : Math.min(oldEligible, Math.max(0, newDesired - newEligible));
  return {
    newPresetId: partner.presetId,
    newDesired,
    newEligible,
    oldEligible,
    startedAt,
    deadline,
    keep,
  };
}
