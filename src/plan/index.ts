// The planner room: snapshot in, actions out. Pure; imports nothing that does I/O.

export type {
  Action,
  BackoffAction,
  CancelPendingAction,
  CreateAction,
  DeleteAction,
  DeleteCause,
  SurgeGuard,
} from "./action.ts";
export {
  admitCreates,
  describeCap,
  describeHeldBack,
  type HeldBack,
  heldBackCreates,
} from "./admission.ts";
export {
  CANCEL_POLICIES,
  type CancelPolicy,
  DEFAULT_CANCEL_POLICY,
  isCancelPolicy,
} from "./cancelPolicy.ts";
export { canSkip } from "./canSkip.ts";
export type { CreateCap } from "./createCap.ts";
export {
  desiredInstancesAt,
  MAX_DESIRED_INSTANCES,
  matchesCron,
  parseHourlySchedule,
  presetDesiredAt,
  ScheduleCache,
} from "./desiredInstances.ts";
export {
  nextDecisionChange,
  SCHEDULE_LOOKAHEAD_HOURS,
  type WakeOptions,
} from "./nextDecisionChange.ts";
export { type PlannedPreset, planAll } from "./planAll.ts";
export { planPreset } from "./planPreset.ts";
export {
  type FailureRules,
  type LatestStartBuild,
  type PresetFailures,
  presetFailures,
} from "./presetFailures.ts";
export { type RolloutProgress, rolloutProgress } from "./rolloutProgress.ts";
export {
  type BackoffRow,
  type DesiredOverrideRow,
  EMPTY_GLOBAL_SNAPSHOT,
  filterByPreset,
  type GlobalSnapshot,
  type InProgressCount,
  indexSnapshot,
  NO_POOL_CONTROLS,
  type PauseRow,
  type PendingCount,
  type PoolControls,
  type PrebuildStatus,
  type PresetRow,
  type PresetSnapshot,
  type RolloutRow,
  type RolloutStrategy,
  type RunningPrebuild,
  type ScheduleRow,
  type StoppedPrebuild,
  type Transition,
} from "./snapshot.ts";
export { staleFirstBuilds, startingShown } from "./staleFirstBuilds.ts";
export {
  calculateState,
  inactivityReason,
  isActive,
  type PresetState,
} from "./state.ts";
