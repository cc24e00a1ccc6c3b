// A stand-in for provisioner daemons, for the demo, the tests and the benchmark: N workers take
// jobs from the queue (queries/queue.sql), "build" for jobDurationMs, then finish them as a real
// provisioner would — a start build gets a resource with one ready agent, a delete build deletes
// its workspace — or fail them with probability failureRate. Each worker is a provisioner_daemons
// row with a heartbeat. Workers poll, and wake early on `provisioner_job_posted` notifications
// when `listen` is on.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import {
  acquireProvisionerJob,
  completeProvisionerJob,
  getWorkspaceBuildByJobID,
  insertWorkspaceResourceWithAgents,
  markWorkspaceDeletedByJob,
  upsertProvisionerDaemon,
} from "../db/sql/queue_sql.ts";

export const JOB_POSTED_CHANNEL = "provisioner_job_posted";

export interface SimulatedProvisionerOptions {
  readonly pool: pg.Pool;
  readonly organizationId: string;
  readonly workers: number;
  /** How long each job "builds" before it is finished. */
  readonly jobDurationMs: number;
  /** Probability in [0, 1] that a job fails instead of succeeding. */
  readonly failureRate: number;
  /** How often an idle worker looks for work; default 200 ms. */
  readonly pollIntervalMs?: number;
  /** LISTEN on provisioner_job_posted to wake idle workers at once; default false. */
  readonly listen?: boolean;
  /** How often each worker records last_seen_at; default 10 s. */
  readonly heartbeatIntervalMs?: number;
  /** Provisioner tags; default untagged ({"scope": "organization"}). */
  readonly tags?: Readonly<Record<string, string>>;
  /** Name prefix of the provisioner_daemons rows; default "simulated". */
  readonly name?: string;
  /** Uniform random numbers in [0, 1); inject a seeded one for reproducible failures. */
  readonly random?: () => number;
  readonly now?: () => Date;
  /** Database errors inside a worker; the worker waits a poll interval and carries on. */
  readonly onError?: (error: unknown) => void;
}

export interface JobCounts {
  started: number;
  succeeded: number;
  failed: number;
  /** Finished by someone else (canceled) or abandoned at stop. */
  other: number;
}

export interface ProvisionerCounters {
  readonly total: JobCounts;
  /** Workspace-build jobs by the template version they build. */
  readonly byTemplateVersion: ReadonlyMap<string, JobCounts>;
}

const ABANDONED = "abandoned: the provisioner stopped before the job finished";
const SIMULATED_FAILURE = "simulated provisioner failure";

const zero = (): JobCounts => ({ started: 0, succeeded: 0, failed: 0, other: 0 });

export class SimulatedProvisioner {
  private readonly options: SimulatedProvisionerOptions;
  private readonly workerIds: string[];
  private readonly total = zero();
  private readonly byVersion = new Map<string, JobCounts>();
  private running: Promise<void>[] = [];
  private stopping = false;
  /** Aborts in-flight jobs when stop() abandons them. */
  private abandon = new AbortController();
  private wakers = new Set<() => void>();
  /** Bumped by every wake-up, so a worker that was busy when one came does not then sleep through it. */
  private wakeGeneration = 0;
  private listener: pg.PoolClient | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(options: SimulatedProvisionerOptions) {
    if (!(options.failureRate >= 0 && options.failureRate <= 1)) {
      throw new Error(`failureRate must be between 0 and 1 (got ${options.failureRate})`);
    }
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new Error(`workers must be a positive integer (got ${options.workers})`);
    }
    this.options = options;
    this.workerIds = Array.from({ length: options.workers }, () => randomUUID());
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private get tags(): Readonly<Record<string, string>> {
    return this.options.tags ?? { scope: "organization" };
  }

  /** Registers the workers as provisioner daemons and starts them. */
  async start(): Promise<void> {
    if (this.running.length > 0) throw new Error("the simulated provisioner is already running");
    this.stopping = false;
    this.abandon = new AbortController();
    await this.beat();
    if (this.options.listen) await this.startListening();
    this.heartbeat = setInterval(() => {
      this.beat().catch((e) => this.options.onError?.(e));
    }, this.options.heartbeatIntervalMs ?? 10_000);
    this.running = this.workerIds.map((id) => this.work(id));
  }

  /**
   * Stops taking jobs. By default waits for in-flight jobs to finish; with `abandon`, fails
   * them at once with an error saying so (a job is never left running with nobody on it).
   */
  async stop(options: { abandon?: boolean } = {}): Promise<void> {
    this.stopping = true;
    if (options.abandon) this.abandon.abort();
    this.wakeAll();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await Promise.all(this.running);
    this.running = [];
    if (this.listener) {
      const listener = this.listener;
      this.listener = null;
      await listener.query(`UNLISTEN ${JOB_POSTED_CHANNEL}`).catch(() => {});
      listener.release();
    }
  }

  /** A copy of the counters so far. */
  counters(): ProvisionerCounters {
    return {
      total: { ...this.total },
      byTemplateVersion: new Map([...this.byVersion].map(([k, v]) => [k, { ...v }])),
    };
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

  private async beat(): Promise<void> {
    const prefix = this.options.name ?? "simulated";
    await Promise.all(
      this.workerIds.map((id, i) =>
        upsertProvisionerDaemon(this.options.pool, {
          id,
          name: `${prefix}-${i + 1}`,
          organizationId: this.options.organizationId,
          tags: this.tags,
          now: this.now(),
        }),
      ),
    );
  }

  private async startListening(): Promise<void> {
    const client = await this.options.pool.connect();
    client.on("notification", (msg) => {
      if (msg.channel !== JOB_POSTED_CHANNEL) return;
      try {
        const payload = JSON.parse(msg.payload ?? "{}") as { organization_id?: string };
        if (payload.organization_id && payload.organization_id !== this.options.organizationId)
          return;
      } catch {
        // A malformed payload still means "there may be work".
      }
      this.wakeAll();
    });
    await client.query(`LISTEN ${JOB_POSTED_CHANNEL}`);
    this.listener = client;
  }

  private wakeAll(): void {
    this.wakeGeneration++;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  /** Resolves after `ms`, or earlier on a notification or stop (including one since `since`). */
  private idle(ms: number, since: number): Promise<void> {
    if (this.stopping || this.wakeGeneration !== since) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wakers = this.wakers;
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  private async work(workerId: string): Promise<void> {
    const pollMs = this.options.pollIntervalMs ?? 200;
    while (!this.stopping) {
      const since = this.wakeGeneration;
      try {
        const job = await acquireProvisionerJob(this.options.pool, {
          workerId,
          organizationId: this.options.organizationId,
          types: ["workspace_build", "template_version_import", "template_version_dry_run"],
          provisionerTags: this.tags,
        });
        if (!job) {
          await this.idle(pollMs, since);
          continue;
        }
        await this.run(workerId, job.id);
      } catch (error) {
        this.options.onError?.(error);
        await this.idle(pollMs, this.wakeGeneration);
      }
    }
  }

  private async run(workerId: string, jobId: string): Promise<void> {
    const build = await getWorkspaceBuildByJobID(this.options.pool, { jobId });
    const versionId = build?.templateVersionId ?? null;
    this.count(versionId, "started");
    const finishedInTime = await sleep(this.options.jobDurationMs, this.abandon.signal);
    const random = this.options.random ?? Math.random;
    const error = !finishedInTime
      ? ABANDONED
      : random() < this.options.failureRate
        ? SIMULATED_FAILURE
        : null;
    const status = await this.finish(workerId, jobId, build?.transition ?? null, error);
    this.count(
      versionId,
      status === "succeeded"
        ? "succeeded"
        : status === "failed" && error === SIMULATED_FAILURE
          ? "failed"
          : "other",
    );
  }

  /** Completes the job and writes what its build produced, in one transaction. */
  private async finish(
    workerId: string,
    jobId: string,
    transition: string | null,
    error: string | null,
  ): Promise<string | null> {
    const client = await this.options.pool.connect();
    try {
      await client.query("BEGIN");
      const now = this.now();
      const done = await completeProvisionerJob(client, { jobId, workerId, error });
      if (done?.jobStatus === "succeeded" && transition === "start") {
        await insertWorkspaceResourceWithAgents(client, {
          jobId,
          resourceName: "main",
          agentNames: ["main"],
          lifecycleStates: ["ready"],
        });
      }
      if (done?.jobStatus === "succeeded" && transition === "delete") {
        await markWorkspaceDeletedByJob(client, { now, jobId });
      }
      await client.query("COMMIT");
      return done?.jobStatus ?? null;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      resolve(false);
    }
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
