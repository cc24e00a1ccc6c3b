// The demo's provisioners: the project's simulated provisioner (src/provisioner/), a few workers
// on the shared job queue of the demo's organization (human jobs first, then FIFO).
import type pg from "pg";
import type { Logger } from "../observe/logger.ts";
import { SimulatedProvisioner } from "../provisioner/simulatedProvisioner.ts";
import type { DemoWorld } from "./seedDemo.ts";

export interface DemoProvisioners {
  /** One line for the view, e.g. "2 simulated provisioners (4s per build, 15% fail)". */
  readonly description: string;
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
): Promise<DemoProvisioners> {
  const provisioner = new SimulatedProvisioner({
    pool,
    organizationId: world.organizationId,
    workers: count,
    jobDurationMs: JOB_DURATION_MS,
    failureRate: FAILURE_RATE,
    listen: true,
    name: "demo-provisioner",
    onError: (error) => logger.warn({ err: error }, "simulated provisioner error"),
  });
  await provisioner.start();
  return {
    description: `${count} simulated provisioner(s) (${JOB_DURATION_MS / 1000}s per build, ${FAILURE_RATE * 100}% fail)`,
    // Abandoning fails in-flight jobs at once (with a reason) instead of waiting for them.
    stop: () => provisioner.stop({ abandon: true }),
  };
}
