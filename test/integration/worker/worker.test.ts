// The worker runtime (issue #12) against a real PostgreSQL: a job runs and completes with the
// handler's own writes; a cancellation reaches a running handler by NOTIFY, and by the heartbeat
// when the LISTEN connection is gone; a stubborn handler is force-aborted after the grace and its
// late result ignored; a job taken away from the worker is not completed by it; shutdown lets
// running handlers finish within the grace and fails the rest.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cancelJob } from "../../../src/worker/cancelJob.ts";
import type { AcquiredJob, JobHandler } from "../../../src/worker/job.ts";
import { JobCanceledError } from "../../../src/worker/job.ts";
import {
  startWorker,
  UnknownOrganizationError,
  type Worker,
  type WorkerOptions,
} from "../../../src/worker/worker.ts";
import { seedJob, seedOrganization } from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";

describe("startWorker", () => {
  let db: TestDatabase;
  const workers: Worker[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ grace: 50 })));
  });
  afterAll(async () => {
    await db.drop();
  });

  async function worker(
    organizationId: string,
    handler: JobHandler,
    options: Partial<WorkerOptions> = {},
  ): Promise<Worker> {
    const w = await startWorker({
      pool: db.pool,
      organizationId,
      handler,
      pollInterval: 50,
      heartbeatInterval: 60_000,
      cancelGrace: 60_000,
      ...options,
    });
    workers.push(w);
    return w;
  }

  async function job(id: string) {
    const { rows } = await db.pool.query(
      `SELECT job_status, error, cancel_detail, worker_id, completed_at
       FROM provisioner_jobs WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const statusIs = (id: string, status: string) => async () =>
    (await job(id))?.job_status === status;

  /** A handler that reports each job it starts and waits for its signal (or `release`). */
  function controllable() {
    const started = new Map<string, AbortSignal>();
    const releases = new Map<string, () => void>();
    const abortedAt = new Map<string, number>();
    const handler: JobHandler = (j: AcquiredJob, signal) =>
      new Promise((resolve, reject) => {
        started.set(j.id, signal);
        releases.set(j.id, () => resolve({}));
        signal.addEventListener("abort", () => {
          abortedAt.set(j.id, Date.now());
          reject(signal.reason);
        });
      });
    return { handler, started, releases, abortedAt };
  }

  it("refuses an organizationId that is not a UUID before any query", async () => {
    // A query would fail with PostgreSQL's 22P02 (invalid input syntax for type uuid) instead.
    const starting = worker("acme", async () => {});
    await expect(starting).rejects.toBeInstanceOf(TypeError);
    await expect(starting).rejects.toThrow('organizationId must be a UUID (got "acme")');
  });

  it("names an organization that is not in organizations, and registers nothing", async () => {
    const missing = randomUUID();
    const starting = worker(missing, async () => {});
    await expect(starting).rejects.toBeInstanceOf(UnknownOrganizationError);
    await expect(starting).rejects.toMatchObject({
      organizationId: missing,
      message: `organization ${missing} is not in the organizations table: organizationId must be the id of an organization the platform wrote into organizations (id, name)`,
    });
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM provisioner_daemons WHERE organization_id = $1",
      [missing],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("runs a job and commits the handler's own writes with its completion", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org });
    const registry = new Registry();
    const seen: AcquiredJob[] = [];
    const w = await worker(
      org,
      async (j) => {
        seen.push(j);
        return {
          onComplete: async (client, status) => {
            await client.query("INSERT INTO workspace_resources (job_id, name) VALUES ($1, $2)", [
              j.id,
              `done-${status}`,
            ]);
          },
        };
      },
      { registry },
    );
    await until("the job to succeed", statusIs(id, "succeeded"));
    expect(seen.map((j) => j.id)).toEqual([id]);
    expect(seen[0]).toMatchObject({ organizationId: org, type: "workspace_build" });
    expect((await job(id)).worker_id).toBe(w.id);
    const resources = await db.pool.query(
      "SELECT name FROM workspace_resources WHERE job_id = $1",
      [id],
    );
    expect(resources.rows).toEqual([{ name: "done-succeeded" }]);
    const daemon = await db.pool.query(
      "SELECT last_seen_at IS NOT NULL AS seen FROM provisioner_daemons WHERE id = $1",
      [w.id],
    );
    expect(daemon.rows).toEqual([{ seen: true }]);
    const metrics = await registry.getMetricsAsJSON();
    const duration = metrics.find((m) => m.name === "prebuildsd_worker_job_duration_seconds");
    expect(JSON.stringify(duration)).toContain('"outcome":"succeeded"');
    const wait = metrics.find((m) => m.name === "prebuildsd_worker_queue_wait_seconds");
    expect(JSON.stringify(wait)).toContain('"type":"workspace_build"');
  });

  it("fails a job whose handler throws, with the error's message", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org });
    await worker(org, async () => {
      throw new Error("terraform apply failed");
    });
    await until("the job to fail", statusIs(id, "failed"));
    expect((await job(id)).error).toBe("terraform apply failed");
  });

  it("delivers a cancellation to the running handler by NOTIFY; the job ends canceled", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org });
    const registry = new Registry();
    const h = controllable();
    await worker(org, h.handler, { registry });
    await until("the handler to start", async () => h.started.has(id));
    expect(await cancelJob(db.pool, id)).toBe("cancel_requested_while_running");
    await until("the job to be canceled", statusIs(id, "canceled"));
    expect(h.started.get(id)?.reason).toBeInstanceOf(JobCanceledError);
    expect(await job(id)).toMatchObject({ error: null, cancel_detail: `job ${id} was canceled` });
    const received = (
      await registry.getSingleMetric("prebuildsd_worker_cancels_received_total")?.get()
    )?.values;
    expect(received).toContainEqual(
      expect.objectContaining({ labels: { source: "notify" }, value: 1 }),
    );
  });

  it("still delivers a cancellation through the heartbeat when the LISTEN connection is killed", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org });
    const registry = new Registry();
    const h = controllable();
    let clients = 0;
    const w = await worker(org, h.handler, {
      registry,
      heartbeatInterval: 200,
      // The first LISTEN connection works; every reconnect is refused, so NOTIFY cannot help.
      createListenClient: () =>
        new pg.Client({
          connectionString: clients++ === 0 ? db.url : "postgres://nobody@127.0.0.1:1/none",
        }),
    });
    await until("the handler to start", async () => h.started.has(id));
    const pid = w.listenerBackendPid();
    expect(pid).not.toBeNull();
    await db.pool.query("SELECT pg_terminate_backend($1)", [pid]);
    await until("the listener to notice", async () => w.listenerBackendPid() === null);
    expect(await cancelJob(db.pool, id)).toBe("cancel_requested_while_running");
    await until("the job to be canceled", statusIs(id, "canceled"));
    const received = (
      await registry.getSingleMetric("prebuildsd_worker_cancels_received_total")?.get()
    )?.values;
    expect(received).toContainEqual(
      expect.objectContaining({ labels: { source: "heartbeat" }, value: 1 }),
    );
    expect(clients).toBeGreaterThan(1); // it did try to reconnect
  });

  it("reconnects its LISTEN connection, counts it, and hears cancels on the new one", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const first = await seedJob(db.pool, { organizationId: org });
    const registry = new Registry();
    const h = controllable();
    const w = await worker(org, h.handler, { registry });
    await until("the handler to start", async () => h.started.has(first));
    const pid = w.listenerBackendPid();
    await db.pool.query("SELECT pg_terminate_backend($1)", [pid]);
    await until("a new LISTEN connection", async () => {
      const now = w.listenerBackendPid();
      return now !== null && now !== pid;
    });
    const reconnects = await registry
      .getSingleMetric("prebuildsd_worker_notification_reconnects_total")
      ?.get();
    expect(reconnects?.values[0]?.value).toBe(1);
    await cancelJob(db.pool, first);
    await until("the job to be canceled", statusIs(first, "canceled"));
    const received = (
      await registry.getSingleMetric("prebuildsd_worker_cancels_received_total")?.get()
    )?.values;
    expect(received).toContainEqual(
      expect.objectContaining({ labels: { source: "notify" }, value: 1 }),
    );
  });

  it("force-aborts a handler that ignores the cancellation, frees its slot and ignores its late result", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const stubbornJob = await seedJob(db.pool, { organizationId: org });
    const registry = new Registry();
    let finishLate: (() => void) | null = null;
    const ran: string[] = [];
    await worker(
      org,
      (j) =>
        new Promise((resolve) => {
          ran.push(j.id);
          // Ignores its signal entirely; returns success only when the test says so.
          if (j.id === stubbornJob) finishLate = () => resolve({});
          else resolve({});
        }),
      { registry, cancelGrace: 200 },
    );
    await until("the handler to start", async () => finishLate !== null);
    await cancelJob(db.pool, stubbornJob);
    await until("the job to be canceled", statusIs(stubbornJob, "canceled"));
    expect((await job(stubbornJob)).cancel_detail).toBe(
      "force-aborted: the handler did not stop within 200 ms of the cancellation",
    );
    // The slot is free again (concurrency 1): the next job runs while the stubborn one never ended.
    const next = await seedJob(db.pool, { organizationId: org });
    await until("the next job to succeed", statusIs(next, "succeeded"));
    (finishLate as unknown as () => void)();
    await new Promise((r) => setTimeout(r, 100));
    expect((await job(stubbornJob)).job_status).toBe("canceled");
    expect(ran).toEqual([stubbornJob, next]);
    const forced = await registry.getSingleMetric("prebuildsd_worker_force_aborts_total")?.get();
    expect(forced?.values[0]?.value).toBe(1);
  });

  it("stops a job that is no longer its own without completing it", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const id = await seedJob(db.pool, { organizationId: org });
    const h = controllable();
    await worker(org, h.handler, { heartbeatInterval: 100 });
    await until("the handler to start", async () => h.started.has(id));
    // Someone else (hung-job recovery, an operator) finishes the job under the worker.
    await db.pool.query(
      "UPDATE provisioner_jobs SET completed_at = now(), error = 'taken away' WHERE id = $1",
      [id],
    );
    await until("the handler's signal to abort", async () => h.abortedAt.has(id));
    expect(await job(id)).toMatchObject({ job_status: "failed", error: "taken away" });
  });

  it("shuts down: lets a handler finish within the grace, fails the rest, acquires nothing more", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const quick = await seedJob(db.pool, { organizationId: org });
    const stuck = await seedJob(db.pool, { organizationId: org });
    const h = controllable();
    const w = await worker(org, h.handler, { concurrency: 2 });
    await until("both handlers to start", async () => h.started.has(quick) && h.started.has(stuck));
    const late = await seedJob(db.pool, { organizationId: org });
    const stopping = w.stop({ grace: 300 });
    h.releases.get(quick)?.();
    await stopping;
    expect((await job(quick)).job_status).toBe("succeeded");
    expect(await job(stuck)).toMatchObject({
      job_status: "failed",
      error:
        "the provisioner worker shut down before the job finished (its shutdown grace ran out)",
    });
    expect(h.started.get(stuck)?.aborted).toBe(true);
    expect((await job(late)).job_status).toBe("pending");
    expect(w.runningJobIds()).toEqual([]);
  });
});
