// Hooks for the observe room: the daemon implements them with Prometheus and OpenTelemetry; the
// reconciler only calls them. Every hook is optional and must not throw (a throw is logged).
import type { ActionEvent } from "../execute/outcome.ts";
import type { PlannedPreset } from "../plan/index.ts";
import type { RecoveredJob } from "../worker/recoverHungJobs.ts";
import type { CycleReport } from "./report.ts";

export interface ReconcilerObserver {
  /** After each action attempt (outcome success | failure | skipped). */
  readonly onAction?: (event: ActionEvent) => void;
  /** After each cycle, lock lost or paused ones included. */
  readonly onCycle?: (report: CycleReport) => void;
  /** A cycle could not run (the lock transaction or the snapshot failed). */
  readonly onCycleError?: (error: unknown) => void;
  /** Inside the lock, after planning: the state of every preset (gauges can use it for free). */
  readonly onPlanned?: (planned: readonly PlannedPreset[], at: Date) => void;
  /** Whether this replica got the reconciliation lock this cycle. */
  readonly onLock?: (acquired: boolean) => void;
  /** The pause setting as read this cycle. */
  readonly onPaused?: (paused: boolean) => void;
  /** A hung job this cycle finished (issue #12). */
  readonly onHungJobRecovered?: (job: RecoveredJob) => void;
}

export const NO_OBSERVER: ReconcilerObserver = {};
