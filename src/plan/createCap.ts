// What the in-flight cap (issue #13, plan/admission.ts) did to one preset's creates; its own file
// so that the plan (planPreset.ts) and the admission step can both name it without a cycle.

/** What the cap did to one preset's Create: `granted` of `wanted`, with the numbers behind it. */
export interface CreateCap {
  /** Creates the preset's plan wanted before the cap. */
  readonly wanted: number;
  /** Creates admitted (0 ≤ granted < wanted: only presets actually held back carry a CreateCap). */
  readonly granted: number;
  /** Prebuild jobs pending or running when the cycle read the queue. */
  readonly inflight: number;
  /** PREBUILDS_MAX_INFLIGHT_JOBS. */
  readonly cap: number;
  /** Delete jobs this cycle admitted first, out of the same budget. */
  readonly deletesFirst: number;
}
