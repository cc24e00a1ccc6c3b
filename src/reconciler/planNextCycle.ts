// `prebuildsd plan`: the snapshot and the plan the next cycle would act on, written nowhere. No
// lock is taken (a dry run must not hold off the real reconciler); the reads still share one
// REPEATABLE READ snapshot.
import type pg from "pg";
import { autocommit } from "../db/pool.ts";
import type { PlannedPreset } from "../plan/index.ts";
import { type MissingParameters, readMissingParameters } from "../snapshot/missingParameters.ts";
import { readCycleInputs } from "./cycleInputs.ts";
import { DEFAULT_RECONCILER_OPTIONS, type ReconcilerOptions } from "./options.ts";

export interface PlanPreview {
  /** The instant planned for (`at`, else the database's clock read in the snapshot). */
  readonly at: Date;
  /** Bad data found while reading the snapshot, one sentence each naming the row (a cycle logs
   *  these as errors; `plan` prints them as warnings). */
  readonly problems: readonly string[];
  /** When paused, the next cycle does nothing whatever `presets` says. */
  readonly paused: boolean;
  /** Set when the stored settings document was unusable (treated as not paused). */
  readonly settingsProblem?: string;
  /** Every preset that wants prebuilds, with its state and actions (an empty list: nothing to do).
   *  Each carries template, version and preset names and ids in `preset`. */
  readonly presets: readonly PlannedPreset[];
  /** Presets planned to create whose creates validation will refuse (issue #14), by preset id. */
  readonly missingParameters: MissingParameters;
}

export interface PlanNextCycleDeps {
  readonly pool: pg.Pool;
  readonly options?: Partial<
    Pick<
      ReconcilerOptions,
      | "backoffInterval"
      | "backoffLookback"
      | "failureHardLimit"
      | "maxInflightJobs"
      | "replaceStopped"
      | "rolloutMaxWait"
    >
  >;
  readonly signal?: AbortSignal;
}

export async function planNextCycle(
  deps: PlanNextCycleDeps,
  request: { readonly at?: Date } = {},
): Promise<PlanPreview> {
  const inputs = await readCycleInputs(
    { pool: deps.pool },
    {
      options: { ...DEFAULT_RECONCILER_OPTIONS, ...deps.options },
      everyPreset: true,
      signal: deps.signal,
      ...(request.at !== undefined && { at: request.at }),
    },
  );
  // Read after the snapshot, on its own: a hint for the operator (the create re-checks anyway).
  const creating = inputs.planned
    .filter((p) => p.plan.actions.some((a) => a._tag === "Create"))
    .map((p) => p.preset.presetId);
  return {
    at: inputs.at,
    problems: inputs.snapshot.problems,
    paused: inputs.settings.reconciliationPaused,
    ...(inputs.settings.problem !== undefined && { settingsProblem: inputs.settings.problem }),
    presets: inputs.planned,
    missingParameters: await readMissingParameters(autocommit({ pool: deps.pool }), creating),
  };
}
