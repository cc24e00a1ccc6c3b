// What the executor checks before a Create writes anything, as a pure function so the
// property tests can feed it hostile snapshots (issue #8). The database re-checks the rest
// (active version, template state, required parameters, and the pool re-counted under the
// preset's lock against `desired`: issue #11) inside the create transaction.
import {
  type CreateAction,
  inactivityReason,
  isActive,
  type PlannedPreset,
  presetDesiredAt,
} from "../plan/index.ts";

export type CreateGate =
  /** Write `count` prebuilds: a whole number from 1 to the desired count recomputed at `now`. */
  | {
      readonly kind: "create";
      readonly count: number;
      /** Set when the planned count was above what is desired now (logged as an error). */
      readonly clampedFrom?: number;
      readonly desired: number;
    }
  /** Write nothing; `reason` says why in one sentence. */
  | { readonly kind: "skip"; readonly reason: string };

/** Never throws, whatever the snapshot holds. `now`: the instant to recompute the desired count
 *  at; the executor passes the planned instant (`PlannedPreset.at`, the database's clock). */
export function createGate(planned: PlannedPreset, action: CreateAction, now: Date): CreateGate {
  const { snapshot, preset } = planned;
  if (!isActive(preset)) {
    // The planner never asks this; should it ever, the database check would refuse it anyway.
    return {
      kind: "skip",
      reason: `preset is inactive (${inactivityReason(preset)}): not creating`,
    };
  }
  if (snapshot.isHardLimited) {
    return {
      kind: "skip",
      reason:
        "preset is hard-limited (its most recent builds all failed): not creating; delete the failed prebuilds or promote a fixed version",
    };
  }
  if (preset.prebuildStatus === "validation_failed") {
    return {
      kind: "skip",
      reason:
        "preset failed validation earlier: not creating until a new template version is promoted",
    };
  }
  // Safety clamp against the target recomputed now (reference §6): never more than desired, and
  // never a count that is not a positive whole number.
  const desired = presetDesiredAt(snapshot, now).count;
  const plannedCount = Number.isFinite(action.count) ? Math.floor(action.count) : 0;
  const count = Math.min(plannedCount, desired);
  if (count <= 0)
    return { kind: "skip", reason: `desired instances are ${desired} now: nothing to create` };
  return plannedCount > desired
    ? { kind: "create", count, clampedFrom: action.count, desired }
    : { kind: "create", count, desired };
}
