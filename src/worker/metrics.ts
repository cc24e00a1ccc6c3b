// The worker runtime's Prometheus metrics, on a registry the platform passes in (issue #12). Every
// counter series with a known label set starts at 0 so dashboards see it before the first event.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { CANCEL_RESULTS } from "./cancelResult.ts";

/**
 * How a job the worker ran ended:
 * succeeded / failed: the handler's result; canceled: it was canceled and the handler stopped in
 * time; force_aborted: canceled, and the handler ignored the signal past the grace; lost: the job
 * stopped being this worker's (finished by someone else, e.g. hung-job recovery); shutdown: the
 * worker stopped before the handler finished.
 */
export const JOB_OUTCOMES = [
  "succeeded",
  "failed",
  "canceled",
  "force_aborted",
  "lost",
  "shutdown",
] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/** How a running job learnt of its cancellation: the NOTIFY, or the heartbeat's check. */
export const CANCEL_SOURCES = ["notify", "heartbeat"] as const;
export type CancelSource = (typeof CANCEL_SOURCES)[number];

export interface WorkerMetrics {
  /** Seconds from acquire to completion, by job type, build transition ('' if none) and outcome. */
  readonly jobDuration: Histogram<"type" | "transition" | "outcome">;
  /** Seconds from created_at to acquire (both database clock), by job type. */
  readonly queueWait: Histogram<"type">;
  /** cancelJob calls by result (when given these metrics). */
  readonly cancelRequests: Counter<"result">;
  /** Cancellations that reached a running handler, by how they arrived. */
  readonly cancelsReceived: Counter<"source">;
  /** Handlers that ignored a cancellation past the grace and were abandoned. */
  readonly forceAborts: Counter;
  /** Times the LISTEN connection was re-established after it broke. */
  readonly notificationReconnects: Counter;
  /** Jobs this process is running now. */
  readonly jobsRunning: Gauge;
}

const DURATION_BUCKETS = [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

const byRegistry = new WeakMap<Registry, WorkerMetrics>();

/**
 * The worker metrics on `registry`, registered on first use (prefix `prebuildsd_worker_`); several
 * workers in one process share them. Names:
 * `prebuildsd_worker_job_duration_seconds{type,transition,outcome}`,
 * `prebuildsd_worker_queue_wait_seconds{type}`, `prebuildsd_worker_cancel_requests_total{result}`,
 * `prebuildsd_worker_cancels_received_total{source}`, `prebuildsd_worker_force_aborts_total`,
 * `prebuildsd_worker_notification_reconnects_total`, `prebuildsd_worker_jobs_running`.
 */
export function workerMetrics(registry: Registry): WorkerMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: WorkerMetrics = {
    jobDuration: new Histogram({
      name: "prebuildsd_worker_job_duration_seconds",
      help: "Time from acquiring a job to finishing it, by job type, build transition and outcome",
      labelNames: ["type", "transition", "outcome"],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    queueWait: new Histogram({
      name: "prebuildsd_worker_queue_wait_seconds",
      help: "Time a job waited in the queue, from created_at to acquire",
      labelNames: ["type"],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    cancelRequests: new Counter({
      name: "prebuildsd_worker_cancel_requests_total",
      help: "cancelJob calls by result",
      labelNames: ["result"],
      registers,
    }),
    cancelsReceived: new Counter({
      name: "prebuildsd_worker_cancels_received_total",
      help: "Cancellations delivered to a running handler, by source (notify or heartbeat)",
      labelNames: ["source"],
      registers,
    }),
    forceAborts: new Counter({
      name: "prebuildsd_worker_force_aborts_total",
      help: "Handlers that ignored a cancellation for longer than the grace and were abandoned",
      registers,
    }),
    notificationReconnects: new Counter({
      name: "prebuildsd_worker_notification_reconnects_total",
      help: "Times the worker re-established its LISTEN connection",
      registers,
    }),
    jobsRunning: new Gauge({
      name: "prebuildsd_worker_jobs_running",
      help: "Jobs this process's workers are running",
      registers,
    }),
  };
  for (const result of CANCEL_RESULTS) metrics.cancelRequests.inc({ result }, 0);
  for (const source of CANCEL_SOURCES) metrics.cancelsReceived.inc({ source }, 0);
  metrics.forceAborts.inc(0);
  metrics.notificationReconnects.inc(0);
  byRegistry.set(registry, metrics);
  return metrics;
}
