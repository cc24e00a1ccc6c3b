// The reconciler's public API: one cycle, the inputs it reads, the dry-run plan, pause, status.

export type { JobNotifier, PostedJob } from "../execute/notifier.ts";
export { PROVISIONER_JOB_POSTED_CHANNEL, pgJobNotifier } from "../execute/notifier.ts";
export type { ActionEffects, ActionEvent, ActionOutcome, ActionType } from "../execute/outcome.ts";
export { ACTION_OUTCOMES, ACTION_TYPES } from "../execute/outcome.ts";
export { type CycleInputs, readCycleInputs, withCycleInputs } from "./cycleInputs.ts";
export { RECONCILIATION_LOCK_ID, tryAcquireReconciliationLock } from "./lock.ts";
export { LockLostError } from "./lockLoss.ts";
export type { ReconcilerObserver } from "./observer.ts";
export {
  DEFAULT_RECONCILER_OPTIONS,
  defaultConcurrency,
  type ReconcilerOptions,
  resolveOptions,
} from "./options.ts";
export { type PlanNextCycleDeps, type PlanPreview, planNextCycle } from "./planNextCycle.ts";
export { REPLICA, type ReconcilerDeps, reconcileOnce } from "./reconcileOnce.ts";
export { type ActionCounts, type CycleReport, outcomeTotals } from "./report.ts";
export {
  lastCompletedReconciliationRun,
  lastReconciliationRun,
  type ReconciliationRun,
} from "./runs.ts";
export {
  getPrebuildsSettingsFrom,
  type PrebuildsSettings,
  setReconciliationPaused,
} from "./settings.ts";
