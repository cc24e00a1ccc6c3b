// The job side's figures (issue #12): how long a cancel takes from cancelJob to the running
// handler's AbortSignal, through NOTIFY and through the heartbeat fallback (a worker without a
// LISTEN connection), and how fast 4 workers drain 10,000 pending jobs — the shipped acquire
// statement alone, and the whole runtime (acquire, no-op handler, guarded completion).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { acquireProvisionerJob } from "../src/db/sql/queue_sql.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { cancelJob } from "../src/worker/cancelJob.ts";
import type { JobHandler } from "../src/worker/job.ts";
import { startWorker, type Worker } from "../src/worker/worker.ts";
import type { BenchServer } from "./benchServer.ts";
import { percentile } from "./percentiles.ts";

export interface LatencyFigures {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface WorkerFigures {
  /** The floor of the NOTIFY path on this machine now: a bare pg_notify from one connection to a
   *  LISTEN on another, committed and received. */
  readonly notifyFloor: LatencyFigures;
  readonly cancelViaNotify: LatencyFigures;
  /** Heartbeat only (listen: false); the goal is at most one heartbeat interval. */
  readonly cancelViaHeartbeat: LatencyFigures & { readonly heartbeatMs: number };
  readonly acquire: {
    readonly jobs: number;
    readonly workers: number;
    /** The shipped AcquireProvisionerJob alone, 4 concurrent connections. */
    readonly acquireOnlyJobsPerS: number;
    /** startWorker ×4 with a handler that returns at once: acquire + complete per job. */
    readonly runtimeJobsPerS: number;
    /** The floor: 4 connections updating the same number of jobs by primary key. */
    readonly floorUpdatesPerS: number;
  };
}

export interface WorkerBenchOptions {
  readonly notifySamples: number;
  readonly heartbeatSamples: number;
  readonly heartbeatMs: number;
  readonly jobs: number;
  readonly workers: number;
  readonly log: (line: string) => void;
}

export const DEFAULT_WORKER_BENCH = {
  notifySamples: 200,
  heartbeatSamples: 40,
  heartbeatMs: 1_000,
  jobs: 10_000,
  workers: 4,
} as const;

/** Handlers that wait for their signal, remembering when each one aborted. */
function waitingHandler() {
  const started = new Map<string, () => void>();
  const waiters = new Map<string, () => void>();
  const abortedAt = new Map<string, number>();
  const handler: JobHandler = (job, signal) =>
    new Promise((_, reject) => {
      signal.addEventListener("abort", () => {
        abortedAt.set(job.id, performance.now());
        reject(signal.reason);
      });
      started.set(job.id, () => {});
      waiters.get(job.id)?.();
    });
  const whenStarted = (jobId: string) =>
    started.has(jobId)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.set(jobId, resolve));
  return { handler, abortedAt, whenStarted };
}

/** `n` pending prebuild jobs of 20 templates, ranked in their template's queue as migration
 *  0046's trigger ranks them (issue #13): the acquire reads them in its fair order. */
async function insertJobs(pool: pg.Pool, organizationId: string, n: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO provisioner_jobs (organization_id, initiator_id, type, created_at, fair_key, fair_rank)
     SELECT $1, $2, 'workspace_build', now() - make_interval(secs => $3 - g),
       ('00000000-0000-4000-8000-' || lpad((g % 20)::text, 12, '0'))::uuid, g / 20 + 1
     FROM generate_series(1, $3) g RETURNING id`,
    [organizationId, PREBUILDS_SYSTEM_USER_ID, n],
  );
  return rows.map((r) => r.id);
}

async function newOrganization(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    "INSERT INTO organizations (name) VALUES ($1) RETURNING id",
    [`bench-${randomUUID().slice(0, 8)}`],
  );
  return rows[0]?.id as string;
}

const summarize = (samples: readonly number[]): LatencyFigures => ({
  samples: samples.length,
  p50Ms: percentile(samples, 50),
  p99Ms: percentile(samples, 99),
  maxMs: samples.length ? Math.max(...samples) : Number.NaN,
});

/**
 * Runs `samples` jobs at once on one worker, then cancels them one by one at `spacingMs`
 * intervals (not aligned with any heartbeat) and measures cancelJob → abort for each.
 */
async function cancelLatencies(
  pool: pg.Pool,
  options: { samples: number; spacingMs: number; listen: boolean; heartbeatMs: number },
): Promise<number[]> {
  const org = await newOrganization(pool);
  const h = waitingHandler();
  // Queued before the worker starts, so every slot takes one at once; a freed slot then idles
  // (a long poll) instead of querying the queue while the cancels are measured.
  const ids = await insertJobs(pool, org, options.samples);
  const worker = await startWorker({
    pool,
    organizationId: org,
    handler: h.handler,
    concurrency: options.samples,
    pollInterval: 600_000,
    heartbeatInterval: options.heartbeatMs,
    cancelGrace: 60_000,
    listen: options.listen,
  });
  try {
    await Promise.all(ids.map(h.whenStarted));
    const requested = new Map<string, number>();
    for (const id of ids) {
      requested.set(id, performance.now());
      await cancelJob(pool, id);
      await new Promise((r) => setTimeout(r, options.spacingMs));
    }
    const deadline = performance.now() + options.heartbeatMs * 3 + 5_000;
    while (h.abortedAt.size < ids.length && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return ids.flatMap((id) => {
      const at = h.abortedAt.get(id);
      const from = requested.get(id);
      return at === undefined || from === undefined ? [] : [at - from];
    });
  } finally {
    await worker.stop({ grace: 1_000 });
  }
}

/** Bare NOTIFY latency: send on one connection, receive on another (the floor of cancel). */
async function notifyFloor(pool: pg.Pool, url: string, samples: number): Promise<number[]> {
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  const received = new Map<string, () => void>();
  listener.on("notification", (msg) => received.get(msg.payload ?? "")?.());
  await listener.query("LISTEN prebuildsd_bench_floor");
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const payload = String(i);
      const arrived = new Promise<number>((resolve) =>
        received.set(payload, () => resolve(performance.now())),
      );
      const sent = performance.now();
      await pool.query("SELECT pg_notify('prebuildsd_bench_floor', $1)", [payload]);
      latencies.push((await arrived) - sent);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await listener.end();
  }
  return latencies;
}

/** The acquire's floor: as many single-row updates by primary key, 4 connections. */
async function updateFloor(pool: pg.Pool, jobs: number, workers: number): Promise<number> {
  const org = await newOrganization(pool);
  const ids = await insertJobs(pool, org, jobs);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const client = await pool.connect();
      try {
        for (let i = next++; i < ids.length; i = next++) {
          await client.query("UPDATE provisioner_jobs SET updated_at = now() WHERE id = $1", [
            ids[i],
          ]);
        }
      } finally {
        client.release();
      }
    }),
  );
  return Math.round(jobs / ((performance.now() - started) / 1000));
}

async function acquireOnly(
  pool: pg.Pool,
  jobs: number,
  workers: number,
): Promise<{ seconds: number; acquired: number }> {
  const org = await newOrganization(pool);
  await insertJobs(pool, org, jobs);
  await pool.query("ANALYZE provisioner_jobs");
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: workers }, async () => {
      const client = await pool.connect();
      const workerId = randomUUID();
      let n = 0;
      try {
        while (
          await acquireProvisionerJob(client, {
            workerId,
            organizationId: org,
            types: ["workspace_build"],
            provisionerTags: { scope: "organization" },
          })
        ) {
          n++;
        }
      } finally {
        client.release();
      }
      return n;
    }),
  );
  return {
    seconds: (performance.now() - started) / 1000,
    acquired: counts.reduce((a, b) => a + b, 0),
  };
}

async function runtimeDrain(
  pool: pg.Pool,
  jobs: number,
  workers: number,
): Promise<{ seconds: number; completed: number }> {
  const org = await newOrganization(pool);
  await insertJobs(pool, org, jobs);
  await pool.query("ANALYZE provisioner_jobs");
  const handler: JobHandler = async () => ({});
  const started = performance.now();
  const running: Worker[] = [];
  for (let i = 0; i < workers; i++) {
    running.push(
      await startWorker({
        pool,
        organizationId: org,
        handler,
        pollInterval: 50,
        heartbeatInterval: 10_000,
      }),
    );
  }
  let completed = 0;
  while (completed < jobs) {
    await new Promise((r) => setTimeout(r, 50));
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM provisioner_jobs WHERE organization_id = $1 AND completed_at IS NOT NULL",
      [org],
    );
    completed = rows[0]?.n ?? 0;
  }
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(running.map((w) => w.stop({ grace: 1_000 })));
  return { seconds, completed };
}

export async function benchWorker(
  server: BenchServer,
  options: WorkerBenchOptions,
): Promise<WorkerFigures> {
  const database = await server.createDatabase(`worker_${Date.now().toString(36)}`);
  const pool = new pg.Pool({ connectionString: database.url, max: options.workers * 2 + 4 });
  pool.on("error", () => {});
  try {
    options.log(`worker: bare NOTIFY latency (the floor), ${options.notifySamples} samples`);
    const floor = await notifyFloor(pool, database.url, options.notifySamples);
    options.log(`worker: cancel latency through NOTIFY, ${options.notifySamples} running jobs`);
    const viaNotify = await cancelLatencies(pool, {
      samples: options.notifySamples,
      spacingMs: 5,
      listen: true,
      heartbeatMs: 60_000,
    });
    options.log(
      `worker: cancel latency through the heartbeat (${options.heartbeatMs} ms), ${options.heartbeatSamples} running jobs`,
    );
    const viaHeartbeat = await cancelLatencies(pool, {
      samples: options.heartbeatSamples,
      // Spread the cancels over several heartbeats so they land at every phase of the interval.
      spacingMs: Math.round((options.heartbeatMs * 3) / options.heartbeatSamples) + 7,
      listen: false,
      heartbeatMs: options.heartbeatMs,
    });
    options.log(`worker: ${options.workers} acquirers on ${options.jobs} pending jobs`);
    const acquire = await acquireOnly(pool, options.jobs, options.workers);
    options.log(`worker: ${options.workers} workers (runtime) on ${options.jobs} pending jobs`);
    const drain = await runtimeDrain(pool, options.jobs, options.workers);
    options.log(
      `worker: the floor, ${options.jobs} updates by primary key on ${options.workers} connections`,
    );
    const floorUpdatesPerS = await updateFloor(pool, options.jobs, options.workers);
    return {
      notifyFloor: summarize(floor),
      cancelViaNotify: summarize(viaNotify),
      cancelViaHeartbeat: { ...summarize(viaHeartbeat), heartbeatMs: options.heartbeatMs },
      acquire: {
        jobs: options.jobs,
        workers: options.workers,
        acquireOnlyJobsPerS: Math.round(acquire.acquired / acquire.seconds),
        runtimeJobsPerS: Math.round(drain.completed / drain.seconds),
        floorUpdatesPerS,
      },
    };
  } finally {
    await pool.end();
    await database.drop();
  }
}

const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");

/** The figures as lines for the terminal. */
export function formatWorkerFigures(w: WorkerFigures): string {
  return [
    "Job side (worker runtime):",
    `  bare NOTIFY (floor):                  p50 ${fixed(w.notifyFloor.p50Ms)} ms, p99 ${fixed(w.notifyFloor.p99Ms)} ms (${w.notifyFloor.samples} samples)`,
    `  cancel → handler abort via NOTIFY:    p50 ${fixed(w.cancelViaNotify.p50Ms)} ms, p99 ${fixed(w.cancelViaNotify.p99Ms)} ms, max ${fixed(w.cancelViaNotify.maxMs)} ms (${w.cancelViaNotify.samples} samples)`,
    `  cancel → handler abort via heartbeat: p50 ${fixed(w.cancelViaHeartbeat.p50Ms)} ms, p99 ${fixed(w.cancelViaHeartbeat.p99Ms)} ms, max ${fixed(w.cancelViaHeartbeat.maxMs)} ms (${w.cancelViaHeartbeat.samples} samples, heartbeat ${w.cancelViaHeartbeat.heartbeatMs} ms, no LISTEN)`,
    `  cancel via NOTIFY / floor, p50: ${(w.cancelViaNotify.p50Ms / w.notifyFloor.p50Ms).toFixed(1)}×`,
    `  ${w.acquire.workers} workers on ${w.acquire.jobs} pending jobs: acquire alone ${w.acquire.acquireOnlyJobsPerS} jobs/s; runtime (acquire + no-op handler + complete) ${w.acquire.runtimeJobsPerS} jobs/s; floor (${w.acquire.jobs} updates by primary key) ${w.acquire.floorUpdatesPerS}/s`,
  ].join("\n");
}

/** The goals: NOTIFY p99 under 100 ms; the fallback within one heartbeat. */
export function workerTargets(
  w: WorkerFigures,
): { target: string; met: boolean; figure: string }[] {
  return [
    {
      target: "cancel latency via NOTIFY p99 < 100 ms",
      met: w.cancelViaNotify.p99Ms < 100,
      figure: `p99 ${fixed(w.cancelViaNotify.p99Ms)} ms`,
    },
    {
      target: "cancel latency via heartbeat ≤ one heartbeat",
      met: w.cancelViaHeartbeat.maxMs <= w.cancelViaHeartbeat.heartbeatMs + 100,
      figure: `max ${fixed(w.cancelViaHeartbeat.maxMs)} ms vs heartbeat ${w.cancelViaHeartbeat.heartbeatMs} ms`,
    },
  ];
}
