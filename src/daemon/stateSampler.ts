// The cached state behind the preset gauges (reference §8: the metrics collector takes its own
// snapshot outside the reconciliation lock, on its own schedule). A scrape reads the last sample.
import type { Config } from "../config/config.ts";
import { autocommit, type Database } from "../db/pool.ts";
import { getPrebuildMetrics, getRegularWorkspaceCreations } from "../db/sql/metrics_sql.ts";
import type { PresetLabels, StateSample } from "../observe/metrics.ts";
import { withSpan } from "../observe/tracing.ts";
import { rolloutProgress } from "../plan/index.ts";
import { readCycleInputs } from "../reconciler/cycleInputs.ts";
import { sampleJobQueue } from "./jobQueueSample.ts";

export async function sampleState(
  db: Database,
  config: Config,
  _now: Date, // unused: planned at the database clock (issue #11); kept for callers
  signal?: AbortSignal,
): Promise<StateSample> {
  return withSpan("metrics.sampleState", {}, async (setAttributes) => {
    const inputs = await readCycleInputs(db, {
      options: {
        backoffInterval: config.backoffInterval,
        backoffLookback: config.backoffLookback,
        failureHardLimit: config.failureHardLimit,
        maxInflightJobs: config.maxInflightJobs,
        replaceStopped: config.replaceStopped,
        rolloutMaxWait: config.rolloutMaxWait,
      },
      signal,
    });
    const paused = inputs.settings.reconciliationPaused;
    const totals = await getPrebuildMetrics(autocommit(db));
    const regularCreations = await getRegularWorkspaceCreations(autocommit(db));
    const jobQueue = await sampleJobQueue(db);
    // Only presets of active versions of live templates report (reference §12.21).
    const reported = inputs.planned.filter(
      (p) => p.preset.usingActiveVersion && !p.preset.templateDeleted,
    );
    const labels = (p: (typeof reported)[number]): PresetLabels => ({
      templateName: p.preset.templateName,
      presetName: p.preset.presetName,
      organizationName: p.preset.organizationName,
    });
    setAttributes({ "prebuilds.presets": reported.length });
    return {
      presets: reported.map((p) => ({
        ...labels(p),
        desired: p.plan.state.desired,
        running: p.plan.state.actual,
        eligible: p.plan.state.eligible,
      })),
      hardLimited: reported.filter((p) => p.snapshot.isHardLimited).map(labels),
      validationFailed: reported
        .filter((p) => p.preset.prebuildStatus === "validation_failed")
        .map(labels),
      totals: totals.map((t) => ({
        templateName: t.templateName,
        presetName: t.presetName,
        organizationName: t.organizationName,
        created: t.createdCount,
        failed: t.failedCount,
        claimed: t.claimedCount,
      })),
      regularCreations: regularCreations.map((r) => ({
        templateName: r.templateName,
        presetName: r.presetName,
        organizationName: r.organizationName,
        created: r.createdCount,
      })),
      jobQueue: {
        ...jobQueue,
        // The snapshot's own count (one statement every cycle reads too), and the cap it faces.
        inflightPrebuildJobs: inputs.snapshot.inflightPrebuildJobs ?? 0,
        inflightCap: config.maxInflightJobs,
      },
      paused,
      takenAt: inputs.at,
      rollouts: rolloutProgress(inputs.planned).map((r) => ({
        templateName: r.templateName,
        oldEligible: r.oldEligible,
        newEligible: r.newEligible,
        newDesired: r.newDesired,
        startedAtSeconds: r.startedAt.getTime() / 1000,
      })),
    };
  });
}
