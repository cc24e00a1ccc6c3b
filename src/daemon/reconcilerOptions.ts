// The reconciler's options from the daemon's configuration.
import type { Config } from "../config/config.ts";
import { DEFAULT_JOB_TAGS, type ReconcilerOptions } from "../reconciler/options.ts";

export function reconcilerOptions(config: Config): Partial<ReconcilerOptions> {
  return {
    backoffInterval: config.backoffInterval,
    backoffLookback: config.backoffLookback,
    failureHardLimit: config.failureHardLimit,
    maxInflightJobs: config.maxInflightJobs,
    concurrency: config.concurrency,
    provisionerStaleAfter: config.provisionerStaleAfter,
    cancelPendingEnabled: config.cancelPending,
    jobHangTimeout: config.jobHangTimeout,
    replaceStopped: config.replaceStopped,
    rolloutMaxWait: config.rolloutMaxWait,
    fullResyncInterval: config.fullResyncInterval,
    // Over each version's own provisioner tags (queries/prebuilds.sql), issue #12.
    jobTags: { ...DEFAULT_JOB_TAGS, ...config.provisionerTags },
  };
}
