// The reconciler's observer, implemented with Prometheus metrics. (The executor already logs
// every action with its preset, template and reason; this adds no second line.)
import type { PrebuildMetrics } from "../observe/metrics.ts";
import { ACTION_NAMES } from "../plan/action.ts";
import type { ReconcilerObserver } from "../reconciler/observer.ts";

export function reconcilerObserver(metrics: PrebuildMetrics): ReconcilerObserver {
  return {
    onAction: (event) => {
      metrics.recordAction(ACTION_NAMES[event.action._tag], event.outcome);
      if (event.action._tag === "CancelPending" && event.effects.canceledJobs > 0) {
        metrics.jobsCanceled.inc(
          { template: event.preset.templateName, policy: event.action.policy },
          event.effects.canceledJobs,
        );
      }
    },
    onLock: (acquired) => metrics.lockHeld.set(acquired ? 1 : 0),
    onPaused: (paused) => metrics.setPaused(paused),
    onHungJobRecovered: (job) => metrics.hungJobsRecovered.inc({ status: job.status }),
  };
}
