// A stand-in for provisioner daemons, for the demo, the tests and the benchmark, built on the
// worker runtime a platform uses (src/worker/, issue #12): N workers, each a provisioner_daemons
// row with its own heartbeat and LISTEN connection, take jobs from the queue, "build" for
// jobDurationMs, then finish them as a real provisioner would — a start build gets a resource
// with one ready agent, a delete build deletes its workspace — or fail them with probability
// failureRate. A build honours its cancel signal at once; a `stubborn` one ignores it and is
// force-aborted by the runtime after `cancelGraceMs`.
import type pg from "pg";
import type { Registry } from "prom-client";
import {
  getWorkspaceBuildByJobID,
  insertWorkspaceResourceWithAgents,
  markWorkspaceDeletedByJob,
} from "../db/sql/queue_sql.ts";
import { JOB_POSTED_CHANNEL } from "../worker/channels.ts";
import {
  type AcquiredJob,
  JobCanceledError,
  type JobHandler,
  type JobResult,
} from "../worker/job.ts";
import type { ProvisionerTags } from "../worker/provisionerTags.ts";
import { startWorker, type Worker, type WorkerLogger } from "../worker/worker.ts";

export { JOB_POSTED_CHANNEL };

export interface SimulatedProvisionerOptions {
  readonly pool: pg.Pool;
  readonly organizationId: string;
  readonly workers: number;
  /** How long each job "builds" before it is finished. */
  readonly jobDurationMs: number;
  /** Probability in [0, 1] that a job fails instead of succeeding. */
  readonly failureRate: number;
  /** How often an idle worker looks for work (new-job notifications wake it); default 200 ms. */
  readonly pollIntervalMs?: number;
  /** How often each worker heartbeats (last_seen_at, held jobs, cancel check); default 10 s. */
  readonly heartbeatIntervalMs?: number;
  /** How long a canceled build may take to stop before it is force-aborted; default 5 s. */
  readonly cancelGraceMs?: number;
  /** Ignore the cancel signal and build to the end (the runtime force-aborts it). */
  readonly stubborn?: boolean;
  /** Provisioner tags; default untagged ({"scope": "organization"}). */
  readonly tags?: ProvisionerTags;
  /** Name prefix of the provisioner_daemons rows; default "simulated". */
  readonly name?: string;
  /** Uniform random numbers in [0, 1); inject a seeded one for reproducible failures. */
  readonly random?: () => number;
  /** Where the worker metrics go (prebuildsd_worker_*). */
  readonly registry?: Registry;
  /** A build's signal aborted because its job was canceled; `at` is performance.now(). */
  readonly onCanceled?: (jobId: string, at: number) => void;
  /** Database errors and abandoned jobs inside a worker; the worker carries on. */
  readonly onError?: (error: unknown) => void;
}

export interface JobCounts {
  started: number;
  succeeded: number;
  failed: number;
  /** Finished by someone else, canceled, or abandoned at stop. */
  other: number;
}

export interface ProvisionerCounters {
  readonly total: JobCounts;
  /** Workspace-build jobs by the template version they build. */
  readonly byTemplateVersion: ReadonlyMap<string, JobCounts>;
}

/** A build in progress. */
export interface RunningBuild {
  readonly jobId: string;
  /** null for a job that is not a workspace build. */
  readonly templateVersionId: string | null;
}

const SIMULATED_FAILURE = "simulated provisioner failure";
/** setTimeout's largest delay: "wait for every job" on a graceful stop. */
const FOREVER_MS = 2_147_483_647;

const zero = (): JobCounts => ({ started: 0, succeeded: 0, failed: 0, other: 0 });

export class SimulatedProvisioner {
  private readonly options: SimulatedProvisionerOptions;
  private readonly total = zero();
  private readonly byVersion = new Map<string, JobCounts>();
  private readonly builds = new Map<string, RunningBuild>();
  private workers: Worker[] = [];

  constructor(options: SimulatedProvisionerOptions) {
    if (!(options.failureRate >= 0 && options.failureRate <= 1)) {
      throw new Error(`failureRate must be between 0 and 1 (got ${options.failureRate})`);
    }
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new Error(`workers must be a positive integer (got ${options.workers})`);
    }
    this.options = options;
  }

  /** Registers the workers as provisioner daemons and starts them. */
  async start(): Promise<void> {
    if (this.workers.length > 0) throw new Error("the simulated provisioner is already running");
    const prefix = this.options.name ?? "simulated";
    const logger = this.logger();
    const started: Worker[] = [];
    try {
      for (let i = 0; i < this.options.workers; i++) {
        started.push(
          await startWorker({
            pool: this.options.pool,
            organizationId: this.options.organizationId,
            handler: this.build,
            tags: this.options.tags ?? { scope: "organization" },
            name: `${prefix}-${i + 1}`,
            pollInterval: this.options.pollIntervalMs ?? 200,
            heartbeatInterval: this.options.heartbeatIntervalMs ?? 10_000,
            cancelGrace: this.options.cancelGraceMs ?? 5_000,
            ...(this.options.registry && { registry: this.options.registry }),
            logger,
          }),
        );
      }
    } catch (error) {
      await Promise.all(started.map((w) => w.stop({ grace: 1 })));
      throw error;
    }
    this.workers = started;
  }

  /**
   * Stops taking jobs. By default waits for in-flight jobs to finish; with `abandon`, fails them
   * at once with an error saying the worker shut down (a job is never left running with nobody
   * on it).
   */
  async stop(options: { abandon?: boolean } = {}): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.stop({ grace: options.abandon ? 1 : FOREVER_MS })));
  }

  /** A copy of the counters so far. */
  counters(): ProvisionerCounters {
    return {
      total: { ...this.total },
      byTemplateVersion: new Map([...this.byVersion].map(([k, v]) => [k, { ...v }])),
    };
  }

  /** The builds running now. */
  runningBuilds(): RunningBuild[] {
    return [...this.builds.values()];
  }

  private logger(): WorkerLogger {
    const onError = this.options.onError;
    const report = (fields: object, message: string) => {
      const err = (fields as { err?: unknown }).err;
      onError?.(err ?? new Error(message));
    };
    return { info: () => {}, warn: report, error: report };
  }

  private count(versionId: string | null, outcome: keyof JobCounts): void {
    this.total[outcome]++;
    if (versionId === null) return;
    let counts = this.byVersion.get(versionId);
    if (!counts) {
      counts = zero();
      this.byVersion.set(versionId, counts);
    }
    counts[outcome]++;
  }

  /** The handler every worker runs. */
  private readonly build: JobHandler = async (job: AcquiredJob, signal: AbortSignal) => {
    const build = await getWorkspaceBuildByJobID(this.options.pool, { jobId: job.id });
    const versionId = build?.templateVersionId ?? null;
    this.builds.set(job.id, { jobId: job.id, templateVersionId: versionId });
    this.count(versionId, "started");
    const onAbort = () => {
      if (signal.reason instanceof JobCanceledError) {
        this.options.onCanceled?.(job.id, performance.now());
      }
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const finished = await sleep(
        this.options.jobDurationMs,
        this.options.stubborn ? null : signal,
      );
      if (!finished || signal.aborted) {
        // Canceled, lost or abandoned: the runtime records how the job ended.
        this.count(versionId, "other");
        throw signal.reason ?? new Error("the build was interrupted");
      }
      const random = this.options.random ?? Math.random;
      const error = random() < this.options.failureRate ? SIMULATED_FAILURE : null;
      const result: JobResult = {
        error,
        onComplete: async (client, status) => {
          if (status === "succeeded" && job.transition === "start") {
            await insertWorkspaceResourceWithAgents(client, {
              jobId: job.id,
              resourceName: "main",
              agentNames: ["main"],
              lifecycleStates: ["ready"],
            });
          }
          if (status === "succeeded" && job.transition === "delete") {
            await markWorkspaceDeletedByJob(client, { jobId: job.id });
          }
          this.count(
            versionId,
            status === "succeeded"
              ? "succeeded"
              : status === "failed" && error
                ? "failed"
                : "other",
          );
        },
      };
      return result;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.builds.delete(job.id);
    }
  };
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (never, without a signal). */
function sleep(ms: number, signal: AbortSignal | null): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      resolve(false);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
