// A surge rollout's progress per template (issue #15), for `plan`, `status` and the metrics: how
// many eligible prebuilds the previous version still serves, how many the new version has of how
// many it wants, and when the rollout started and must end. Summed over the template's presets
// that a surge holds (src/plan/surge.ts), from one plan.
import type { PlannedPreset } from "./planAll.ts";

export interface RolloutProgress {
  readonly templateId: string;
  readonly templateName: string;
  readonly startedAt: Date;
  readonly deadline: Date;
  /** Eligible prebuilds of the previous version's presets. */
  readonly oldEligible: number;
  /** Of those, how many the plan keeps this cycle (0: the rollout is done). */
  readonly oldKept: number;
  /** Eligible and desired prebuilds of their same-named presets in the active version. */
  readonly newEligible: number;
  readonly newDesired: number;
}

/** One entry per template with a surge hold, sorted by template name. */
export function rolloutProgress(planned: readonly PlannedPreset[]): RolloutProgress[] {
  const byTemplate = new Map<string, RolloutProgress>();
  for (const p of planned) {
    const surge = p.snapshot.surge ?? null;
    if (surge === null) continue;
    const before = byTemplate.get(p.preset.templateId);
    byTemplate.set(p.preset.templateId, {
      templateId: p.preset.templateId,
      templateName: p.preset.templateName,
      startedAt: surge.startedAt,
      deadline: surge.deadline,
      oldEligible: (before?.oldEligible ?? 0) + surge.oldEligible,
      oldKept: (before?.oldKept ?? 0) + surge.keep,
      newEligible: (before?.newEligible ?? 0) + surge.newEligible,
      newDesired: (before?.newDesired ?? 0) + surge.newDesired,
    });
  }
  return [...byTemplate.values()].sort((a, b) =>
    a.templateName < b.templateName ? -1 : a.templateName > b.templateName ? 1 : 0,
  );
}
