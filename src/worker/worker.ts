// The provisioner runtime a platform runs (issue #12; the seed job-crate-robust-cancel.txt is the
// design): acquire truly pending, tag-matched jobs, human ones first; run a handler with an
// AbortSignal; heartbeat; hear of cancellation by NOTIFY and by the heartbeat's check; force-abort
// a handler that ignores it; complete once; shut down gracefully, then forcefully.
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Registry } from "prom-client";
import { heartbeatProvisionerJobs } from "../db/sql/jobs_sql.ts";
import { type AcquireProvisionerJobRow, acquireProvisionerJob } from "../db/sql/queue_sql.ts";
import { violates } from "../db/sqlState.ts";
import { completeJob } from "./completeJob.ts";
import {
  type AcquiredJob,
  JOB_TYPES,
  JobAbandonedError,
  JobCanceledError,
  type JobHandler,
  type JobResult,
  type ProvisionerJobType,
  type WorkspaceTransition,
} from "./job.ts";
import { isUuid } from "./jobId.ts";
import {
  type CancelSource,
  type JobOutcome,
  type WorkerMetrics,
  workerMetrics,
} from "./metrics.ts";
import { NotificationListener } from "./notificationListener.ts";
import { normalizeTags, type ProvisionerTags, UNTAGGED } from "./provisionerTags.ts";

/** pino-compatible; the worker logs job ids, outcomes and the reasons it gave up on a job. */
export interface WorkerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface WorkerOptions {
  /** Jobs, heartbeats and completions use this pool; the LISTEN connection is a separate client. */
  readonly pool: pg.Pool;
  /** The organization whose queue this worker serves. */
  readonly organizationId: string;
  readonly handler: JobHandler;
  /** This provisioner's tags (reference rules: see provisionerTags.ts); default untagged. */
  readonly tags?: ProvisionerTags;
  /** Job types it runs; default all three. */
  readonly types?: readonly ProvisionerJobType[];
  /** Jobs run at once; default 1. */
  readonly concurrency?: number;
  /** ms between heartbeats (updated_at of held jobs, last_seen_at, the cancel check); default
   *  15 s. A cancel whose notification is lost arrives within one heartbeat. Keep it well below
   *  PREBUILDS_JOB_HANG_TIMEOUT (default 5 min). */
  readonly heartbeatInterval?: number;
  /** ms a handler has to stop after its signal aborts for a cancellation; default 10 s. */
  readonly cancelGrace?: number;
  /** ms an idle slot waits before looking for work again (new-job notifications wake it
   *  earlier); default 1 s. */
  readonly pollInterval?: number;
  /** ms `stop()` lets running handlers finish by default; default 30 s. */
  readonly shutdownGrace?: number;
  /** provisioner_daemons.id and provisioner_jobs.worker_id; default a random UUID. */
  readonly workerId?: string;
  /** provisioner_daemons.name; default "worker-<first 8 of the id>". */
  readonly name?: string;
  /** Where the worker metrics go (prebuildsd_worker_*); default none. */
  readonly registry?: Registry;
  readonly logger?: WorkerLogger;
  /** The LISTEN connection's client; default a pg.Client with the pool's connection settings. */
  readonly createListenClient?: () => pg.Client;
  /** false: no LISTEN connection (e.g. behind a transaction-pooling proxy, where LISTEN does not
   *  work); cancels then arrive by the heartbeat only, new jobs by polling. Default true. */
  readonly listen?: boolean;
}

export interface Worker {
  /** provisioner_daemons.id, provisioner_jobs.worker_id. */
  readonly id: string;
  /** Ids of the jobs running now. */
  runningJobIds(): string[];
  /** The LISTEN connection's backend pid (null while reconnecting). */
  listenerBackendPid(): number | null;
  /**
   * Stops acquiring, lets running handlers finish for `grace` ms (default `shutdownGrace`), then
   * aborts the rest and fails them with an error saying the worker shut down (a canceled one
   * finishes canceled). Resolves once every job is finished and every connection closed.
   */
  stop(options?: { readonly grace?: number }): Promise<void>;
}

const DEFAULTS = {
  concurrency: 1,
  heartbeatInterval: 15_000,
  cancelGrace: 10_000,
  pollInterval: 1_000,
  shutdownGrace: 30_000,
} as const;

/** Cancels heard for jobs not (yet) registered here: the acquire's reply may come after them. */
const EARLY_CANCELS_KEPT = 1_000;

type Interruption =
  | { readonly kind: "force_aborted" }
  | { readonly kind: "lost" }
  | { readonly kind: "shutdown" };

type Ending =
  | { readonly kind: "returned"; readonly result: JobResult }
  | { readonly kind: "threw"; readonly error: unknown }
  | Interruption;

/** One job this worker runs. */
class RunningJob {
  readonly controller = new AbortController();
  readonly interrupted: Promise<Interruption>;
  cancelSource: CancelSource | null = null;
  finished = false;
  forceTimer: NodeJS.Timeout | null = null;
  private resolveInterruption!: (i: Interruption) => void;

  readonly job: AcquiredJob;

  constructor(job: AcquiredJob) {
    this.job = job;
    this.interrupted = new Promise((resolve) => {
      this.resolveInterruption = resolve;
    });
  }

  interrupt(interruption: Interruption, reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    this.resolveInterruption(interruption);
  }
}

/** startWorker's organizationId is not in `organizations` (provisioner_daemons references it). */
export class UnknownOrganizationError extends Error {
  override readonly name = "UnknownOrganizationError";
  readonly organizationId: string;
  constructor(organizationId: string) {
    super(
      `organization ${organizationId} is not in the organizations table: organizationId must be the id of an organization the platform wrote into organizations (id, name)`,
    );
    this.organizationId = organizationId;
  }
}

/**
 * Starts a provisioner worker: registers it (provisioner_daemons, first heartbeat), opens its
 * LISTEN connection, and starts `concurrency` slots that acquire and run jobs. Rejects if the
 * database cannot be reached at start. See WorkerOptions for units and defaults, and
 * docs/platform-contract.md for what a job's columns mean on the way.
 *
 * @throws TypeError for an organizationId that is not a UUID (before any query);
 *   UnknownOrganizationError for one that is not in `organizations`.
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const worker = new ProvisionerWorker(options);
  await worker.start();
  return worker;
}

class ProvisionerWorker implements Worker {
  readonly id: string;
  private readonly options: WorkerOptions;
  private readonly tags: ProvisionerTags;
  private readonly name: string;
  private readonly metrics: WorkerMetrics | null;
  private readonly running = new Map<string, RunningJob>();
  private readonly earlyCancels = new Set<string>();
  private readonly listener: NotificationListener | null;
  private slots: Promise<void>[] = [];
  private stopping = false;
  private wakers = new Set<() => void>();
  /** Bumped by every wake-up, so a slot that was busy when one came does not sleep through it. */
  private wakeGeneration = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight: Promise<void> | null = null;

  constructor(options: WorkerOptions) {
    if (!isUuid(options.organizationId)) {
      throw new TypeError(
        `organizationId must be a UUID (got ${JSON.stringify(options.organizationId)})`,
      );
    }
    const concurrency = options.concurrency ?? DEFAULTS.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer (got ${concurrency})`);
    }
    for (const key of [
      "heartbeatInterval",
      "cancelGrace",
      "pollInterval",
      "shutdownGrace",
    ] as const) {
      const value = options[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new RangeError(`${key} must be a positive number of milliseconds (got ${value})`);
      }
    }
    this.options = options;
    this.id = options.workerId ?? randomUUID();
    this.name = options.name ?? `worker-${this.id.slice(0, 8)}`;
    this.tags = normalizeTags(options.tags ?? UNTAGGED);
    this.metrics = options.registry ? workerMetrics(options.registry) : null;
    this.listener =
      options.listen === false
        ? null
        : new NotificationListener({
            createClient: options.createListenClient ?? (() => listenClientFor(options.pool)),
            onCanceled: (jobId) => this.cancel(jobId, "notify"),
            onJobPosted: (organizationId) => {
              if (organizationId === null || organizationId === options.organizationId)
                this.wakeAll();
            },
            onReconnected: () => {
              this.metrics?.notificationReconnects.inc();
              this.log(
                "info",
                {},
                "LISTEN connection re-established; checking held jobs for cancels",
              );
              void this.heartbeat();
            },
            onError: (error, context) => this.log("warn", { err: error }, context),
          });
  }

  private get concurrency(): number {
    return this.options.concurrency ?? DEFAULTS.concurrency;
  }

  async start(): Promise<void> {
    try {
      await this.heartbeat({ throwOnError: true });
    } catch (error) {
      // The first heartbeat registers the daemon: the one write that names the organization.
      if (violates(error, "23503", "provisioner_daemons_organization_id_fkey")) {
        throw new UnknownOrganizationError(this.options.organizationId);
      }
      throw error;
    }
    await this.listener?.start();
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat(),
      this.options.heartbeatInterval ?? DEFAULTS.heartbeatInterval,
    );
    this.slots = Array.from({ length: this.concurrency }, () => this.slot());
  }

  runningJobIds(): string[] {
    return [...this.running.keys()];
  }

  listenerBackendPid(): number | null {
    return this.listener?.backendPid ?? null;
  }

  async stop(options: { readonly grace?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wakeAll();
    const grace = options.grace ?? this.options.shutdownGrace ?? DEFAULTS.shutdownGrace;
    const slotsDone = Promise.all(this.slots);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"grace_over">((resolve) => {
      timer = setTimeout(() => resolve("grace_over"), grace);
    });
    if ((await Promise.race([slotsDone, graceOver])) === "grace_over") {
      for (const job of this.running.values()) {
        job.interrupt(
          { kind: "shutdown" },
          new JobAbandonedError(`the worker shut down before job ${job.job.id} finished`),
        );
      }
      await slotsDone;
    }
    clearTimeout(timer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.heartbeatInFlight;
    await this.listener?.close();
  }

  /** A cancellation for `jobId` arrived (by NOTIFY or heartbeat): abort its signal once, and
   *  force-abort it if the handler is still running `cancelGrace` later. */
  private cancel(jobId: string, source: CancelSource): void {
    const job = this.running.get(jobId);
    if (!job) {
      if (source === "notify") this.rememberEarlyCancel(jobId);
      return;
    }
    if (job.cancelSource !== null || job.finished) return;
    job.cancelSource = source;
    this.metrics?.cancelsReceived.inc({ source });
    const grace = this.options.cancelGrace ?? DEFAULTS.cancelGrace;
    this.log("info", { jobId, source, graceMs: grace }, "job canceled: aborting its handler");
    job.controller.abort(new JobCanceledError(jobId));
    job.forceTimer = setTimeout(() => {
      job.interrupt(
        { kind: "force_aborted" },
        new JobAbandonedError(`job ${jobId} was force-aborted`),
      );
    }, grace);
  }

  private rememberEarlyCancel(jobId: string): void {
    this.earlyCancels.add(jobId);
    if (this.earlyCancels.size > EARLY_CANCELS_KEPT) {
      const oldest = this.earlyCancels.values().next().value;
      if (oldest !== undefined) this.earlyCancels.delete(oldest);
    }
  }

  /** One heartbeat: last_seen_at, updated_at of held jobs, and the cancel check. */
  private heartbeat(options: { throwOnError?: boolean } = {}): Promise<void> {
    if (this.heartbeatInFlight) return this.heartbeatInFlight;
    const held = [...this.running.values()].filter((j) => !j.finished);
    const beat = heartbeatProvisionerJobs(this.options.pool, {
      jobIds: held.map((j) => j.job.id),
      workerId: this.id,
      name: this.name,
      organizationId: this.options.organizationId,
      tags: this.tags,
    })
      .then((rows) => {
        const open = new Map(rows.map((r) => [r.id, r.canceled]));
        for (const job of held) {
          if (job.finished) continue;
          const canceled = open.get(job.job.id);
          if (canceled === undefined) {
            job.interrupt(
              { kind: "lost" },
              new JobAbandonedError(`job ${job.job.id} is no longer held by this worker`),
            );
          } else if (canceled) {
            this.cancel(job.job.id, "heartbeat");
          }
        }
      })
      .catch((error) => {
        if (options.throwOnError) throw error;
        this.log("warn", { err: error }, "heartbeat failed; retrying at the next interval");
      })
      .finally(() => {
        this.heartbeatInFlight = null;
      });
    this.heartbeatInFlight = beat;
    return beat;
  }

  private wakeAll(): void {
    this.wakeGeneration++;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  /** Resolves after `ms`, or earlier on a wake-up or stop (including one since `since`). */
  private idle(ms: number, since: number): Promise<void> {
    if (this.stopping || this.wakeGeneration !== since) return Promise.resolve();
    return new Promise((resolve) => {
      const wakers = this.wakers;
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  private async slot(): Promise<void> {
    const pollMs = this.options.pollInterval ?? DEFAULTS.pollInterval;
    while (!this.stopping) {
      const since = this.wakeGeneration;
      let row: AcquireProvisionerJobRow | null;
      try {
        row = await acquireProvisionerJob(this.options.pool, {
          workerId: this.id,
          organizationId: this.options.organizationId,
          types: [...(this.options.types ?? JOB_TYPES)],
          provisionerTags: this.tags,
        });
      } catch (error) {
        this.log(
          "warn",
          { err: error },
          "acquiring a job failed; retrying after the poll interval",
        );
        await this.idle(pollMs, this.wakeGeneration);
        continue;
      }
      if (!row) {
        await this.idle(pollMs, since);
        continue;
      }
      await this.run(toAcquiredJob(row));
    }
  }

  private async run(acquired: AcquiredJob): Promise<void> {
    const job = new RunningJob(acquired);
    this.running.set(acquired.id, job);
    this.metrics?.jobsRunning.inc();
    this.metrics?.queueWait.observe(
      { type: acquired.type },
      Math.max(0, (acquired.startedAt.getTime() - acquired.createdAt.getTime()) / 1000),
    );
    const startedAt = performance.now();
    if (this.earlyCancels.delete(acquired.id)) this.cancel(acquired.id, "notify");

    const handled: Promise<Ending> = (async () => {
      try {
        const result = await this.options.handler(acquired, job.controller.signal);
        return { kind: "returned", result: result ?? {} } as const;
      } catch (error) {
        return { kind: "threw", error } as const;
      }
    })();
    const ending = await Promise.race([handled, job.interrupted]);
    job.finished = true;
    if (job.forceTimer) clearTimeout(job.forceTimer);

    let outcome: JobOutcome;
    try {
      outcome = await this.finish(job, ending);
    } catch (error) {
      outcome = "lost";
      this.log(
        "error",
        { err: error, jobId: acquired.id },
        "completing the job failed; hung-job recovery will finish it",
      );
    }
    this.running.delete(acquired.id);
    this.metrics?.jobsRunning.dec();
    this.metrics?.jobDuration.observe(
      { type: acquired.type, transition: acquired.transition ?? "", outcome },
      (performance.now() - startedAt) / 1000,
    );
    if (outcome === "force_aborted") this.metrics?.forceAborts.inc();
    this.log("info", { jobId: acquired.id, outcome }, "job finished");
  }

  /** Writes how the job ended; returns the outcome for the metrics. */
  private async finish(job: RunningJob, ending: Ending): Promise<JobOutcome> {
    const { id } = job.job;
    const complete = (error: string | null, onComplete?: JobResult["onComplete"]) =>
      completeJob(this.options.pool, { jobId: id, workerId: this.id, error, onComplete });
    switch (ending.kind) {
      case "lost":
        this.log("warn", { jobId: id }, "job is no longer held by this worker; not completing it");
        return "lost";
      case "force_aborted": {
        const grace = this.options.cancelGrace ?? DEFAULTS.cancelGrace;
        const status = await complete(
          `force-aborted: the handler did not stop within ${grace} ms of the cancellation`,
        );
        return status === null ? "lost" : "force_aborted";
      }
      case "shutdown": {
        const status = await complete(
          "the provisioner worker shut down before the job finished (its shutdown grace ran out)",
        );
        return status === null ? "lost" : status === "canceled" ? "canceled" : "shutdown";
      }
      case "returned":
      case "threw": {
        const error =
          ending.kind === "threw"
            ? errorMessage(ending.error)
            : ending.result.error
              ? ending.result.error
              : null;
        const onComplete = ending.kind === "returned" ? ending.result.onComplete : undefined;
        let status: string | null;
        try {
          status = await complete(error, onComplete);
        } catch (hookError) {
          if (!onComplete) throw hookError;
          // The handler's own writes failed: the job fails with that error instead.
          status = await complete(`completing the job failed: ${errorMessage(hookError)}`);
        }
        if (status === null) return "lost";
        return status as JobOutcome;
      }
    }
  }

  private log(level: "info" | "warn" | "error", fields: object, message: string): void {
    this.options.logger?.[level]({ workerId: this.id, ...fields }, message);
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof JobCanceledError) return error.message;
  const text = error instanceof Error ? error.message : String(error);
  return text || "the handler failed without a message";
}

function toAcquiredJob(row: AcquireProvisionerJobRow): AcquiredJob {
  return {
    id: row.id,
    type: row.type as ProvisionerJobType,
    organizationId: row.organizationId,
    initiatorId: row.initiatorId,
    input: row.input,
    tags: row.tags as ProvisionerTags,
    createdAt: row.createdAt,
    startedAt: row.startedAt ?? row.createdAt,
    transition: (row.transition || null) as WorkspaceTransition | null,
  };
}

/** A LISTEN client with the pool's own connection settings. */
function listenClientFor(pool: pg.Pool): pg.Client {
  const config = (pool as unknown as { options: pg.ClientConfig }).options;
  return new pg.Client({ ...config, application_name: "prebuildsd-worker-listener" });
}
