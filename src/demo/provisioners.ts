// The demo's provisioners: the project's simulated provisioner (src/provisioner/), a few workers
// on the worker runtime (src/worker/) taking the demo organization's jobs (human jobs first, then
// FIFO), and the demo's one cancellation of a running build.
import type pg from "pg";
import type { Logger } from "../observe/logger.ts";
import { SimulatedProvisioner } from "../provisioner/simulatedProvisioner.ts";
import { cancelJob } from "../worker/cancelJob.ts";
import type { CancelResult } from "../worker/cancelResult.ts";
import type { DemoWorld } from "./seedDemo.ts";

export interface DemoProvisioners {
  /** One line for the view, e.g. "2 simulated provisioners (4s per build, 15% fail)". */
  readonly description: string;
  /**
   * Cancels one running build of `templateVersionId` with cancelJob, as `prebuildsd cancel` would;
   * null when none is running. Its handler hearing the signal is reported through `onCanceled`.
   */
  readonly cancelRunningBuildOf: (
    templateVersionId: string,
  ) => Promise<{ readonly jobId: string; readonly result: CancelResult } | null>;
  readonly stop: () => Promise<void>;
}

// Slow enough that the queue is still full when the demo promotes version 2.
const JOB_DURATION_MS = 4000;
const FAILURE_RATE = 0.1;

export async function startDemoProvisioners(
  pool: pg.Pool,
  world: DemoWorld,
  count: number,
  logger: Logger,
  /** A running build's handler saw its cancel signal `latencyMs` after cancelJob was called. */
  onCanceled: (jobId: string, latencyMs: number) => void,
): Promise<DemoProvisioners> {
  const requested = new Map<string, number>();
  const provisioner = new SimulatedProvisioner({
    pool,
    organizationId: world.organizationId,
    workers: count,
    jobDurationMs: JOB_DURATION_MS,
    failureRate: FAILURE_RATE,
    name: "demo-provisioner",
    onCanceled: (jobId, at) => {
      const since = requested.get(jobId);
      if (since !== undefined) onCanceled(jobId, at - since);
    },
    onError: (error) => logger.warn({ err: error }, "simulated provisioner error"),
  });
  await provisioner.start();
  return {
    description: `${count} simulated provisioner(s) (${JOB_DURATION_MS / 1000}s per build, ${FAILURE_RATE * 100}% fail)`,
    cancelRunningBuildOf: async (templateVersionId) => {
      const build = provisioner
        .runningBuilds()
        .find((b) => b.templateVersionId === templateVersionId);
      if (!build) return null;
      requested.set(build.jobId, performance.now());
      return { jobId: build.jobId, result: await cancelJob(pool, build.jobId) };
    },
    // Abandoning fails in-flight jobs at once (with a reason) instead of waiting for them.
    stop: () => provisioner.stop({ abandon: true }),
  };
}
