// Plans every preset of a snapshot, for the reconciler and the `plan` command. The snapshot is
// indexed once, so the cost is linear in presets plus rows.

import { admitCreates } from "./admission.ts";
import { canSkip } from "./canSkip.ts";
import { ScheduleCache } from "./desiredInstances.ts";
import { type PlanOptions, type PresetPlan, planPreset } from "./planPreset.ts";
import {
  filterByPreset,
  type GlobalSnapshot,
  indexSnapshot,
  type PresetRow,
  type PresetSnapshot,
} from "./snapshot.ts";
import { surgeHold } from "./surge.ts";

export interface PlannedPreset {
  /** The instant planned for (the snapshot's database clock in a cycle; `plan --at`'s instant). */
  readonly at: Date;
  readonly preset: PresetRow;
  readonly snapshot: PresetSnapshot;
  readonly plan: PresetPlan;
  /** Inactive with nothing to clean up: the executor need not take a slot for it. */
  readonly skipped: boolean;
}

/**
 * Plans every preset of the snapshot at `now`, then applies the in-flight cap across them
 * (`options.maxInflightJobs`, with `global.inflightPrebuildJobs`; admission.ts): a preset held
 * back carries `plan.capped`. Without a cap, each plan is exactly planPreset's.
 */
export function planAll(
  global: GlobalSnapshot,
  now: Date,
  options: PlanOptions,
): readonly PlannedPreset[] {
  const index = indexSnapshot(global);
  const cache = new ScheduleCache();
  const planned = global.presets.map((preset) => {
    const filtered = filterByPreset(index, preset, now);
    const surge = surgeHold(index, filtered, now, options.rolloutMaxWait);
    const snapshot = surge === null ? filtered : { ...filtered, surge };
    return {
      at: now,
      preset,
      snapshot,
      plan: planPreset(snapshot, now, options, cache),
      skipped: canSkip(snapshot),
    };
  });
  if (options.maxInflightJobs === null || options.maxInflightJobs === undefined) return planned;
  const admitted = admitCreates(
    planned.map((p) => ({ presetId: p.preset.presetId, plan: p.plan })),
    global.inflightPrebuildJobs ?? 0,
    options.maxInflightJobs,
  );
  return planned.map((p, i) => ({ ...p, plan: admitted[i]?.plan ?? p.plan }));
}
