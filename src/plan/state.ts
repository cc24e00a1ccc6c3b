// The numbers a preset's decision is made from (reference §3): how many prebuilds it wants, has,
// and has on the way, counted from one snapshot.

import { presetDesiredAt } from "./desiredInstances.ts";
import type { InProgressCount, PresetRow, PresetSnapshot, Transition } from "./snapshot.ts";

export interface PresetState {
  /** Target pool size now; 0 for an inactive preset. */
  desired: number;
  /** Every running prebuild, expired ones included. */
  actual: number;
  /** Non-expired running prebuilds whose agents are all ready (active presets only). */
  eligible: number;
  expired: number;
  /** Non-expired prebuilds beyond `desired` (active presets only). */
  extraneous: number;
  /** Pending or running start/stop/delete jobs of this preset (active versions only). */
  starting: number;
  stopping: number;
  deleting: number;
}

/** A preset is active when its version is the template's active one and the template is usable. */
export function isActive(preset: PresetRow): boolean {
  return preset.usingActiveVersion && !preset.templateDeleted && !preset.templateDeprecated;
}

/** Why a preset is inactive, e.g. "template is deprecated"; "" if it is active. */
export function inactivityReason(preset: PresetRow): string {
  const why: string[] = [];
  if (!preset.usingActiveVersion) {
    why.push(`version "${preset.templateVersionName}" is not the active version`);
  }
  if (preset.templateDeleted) why.push("template is deleted");
  if (preset.templateDeprecated) why.push("template is deprecated");
  return why.join(", ");
}

function sumTransition(rows: readonly InProgressCount[], transition: Transition): number {
  let sum = 0;
  for (const row of rows) if (row.transition === transition) sum += row.count;
  return sum;
}

/** The state for a known desired count (the planner resolves the schedules once and passes it). */
export function stateFor(snapshot: PresetSnapshot, desired: number): PresetState {
  const active = isActive(snapshot.preset);
  const running = snapshot.running.length;
  const expired = snapshot.expired.length;
  const target = active ? desired : 0;
  return {
    desired: target,
    actual: running + expired,
    eligible: active ? snapshot.running.filter((p) => p.ready === true).length : 0,
    expired,
    extraneous: active ? Math.max(running - target, 0) : 0,
    starting: sumTransition(snapshot.inProgress, "start"),
    stopping: sumTransition(snapshot.inProgress, "stop"),
    deleting: sumTransition(snapshot.inProgress, "delete"),
  };
}

export function calculateState(snapshot: PresetSnapshot, now: Date): PresetState {
  const desired = isActive(snapshot.preset) ? presetDesiredAt(snapshot, now).count : 0;
  return stateFor(snapshot, desired);
}
