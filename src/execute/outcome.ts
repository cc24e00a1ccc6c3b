// What executing one action came to, as reported to logs, metrics and the cycle report.
import type { Action, ActionOutcome } from "../plan/action.ts";
import type { PresetRow } from "../plan/index.ts";

/** Rows an action changed; summed into the cycle report. */
export interface ActionEffects {
  readonly created: number;
  readonly deleted: number;
  readonly canceledJobs: number;
  readonly orphanDeleted: number;
  /** Planned writes the world had overtaken at write time (issue #11): deletes of workspaces
   *  claimed or changed since the snapshot, or whose reason no longer held; creates beyond what
   *  the pool, re-counted under the preset lock, still missed. */
  readonly lostRaces: number;
}

export const NO_EFFECTS: ActionEffects = {
  created: 0,
  deleted: 0,
  canceledJobs: 0,
  orphanDeleted: 0,
  lostRaces: 0,
};

export interface ActionEvent {
  readonly preset: PresetRow;
  readonly action: Action;
  readonly outcome: ActionOutcome;
  /** One sentence: what happened, with numbers. */
  readonly detail: string;
  readonly effects: ActionEffects;
  readonly error?: unknown;
  readonly durationMs: number;
}

export function addEffects(a: ActionEffects, b: ActionEffects): ActionEffects {
  return {
    created: a.created + b.created,
    deleted: a.deleted + b.deleted,
    canceledJobs: a.canceledJobs + b.canceledJobs,
    orphanDeleted: a.orphanDeleted + b.orphanDeleted,
    lostRaces: a.lostRaces + b.lostRaces,
  };
}
