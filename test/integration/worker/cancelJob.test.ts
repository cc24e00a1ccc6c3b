// cancelJob (issue #12) against a real PostgreSQL: each of its five results with the state it
// leaves behind, the cancel signal the trigger sends (only for a job a worker holds, only on
// commit, once), and 1,000 races of cancel against acquire and complete with the shipped queries.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireProvisionerJob, completeProvisionerJob } from "../../../src/db/sql/queue_sql.ts";
import { cancelJob } from "../../../src/worker/cancelJob.ts";
import type { CancelResult } from "../../../src/worker/cancelResult.ts";
import { JOB_CANCELED_CHANNEL } from "../../../src/worker/channels.ts";
import { InvalidJobIdError } from "../../../src/worker/jobId.ts";
import { type JobState, PREBUILDS_USER, seedJob, seedOrganization } from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";

const UNTAGGED = { scope: "organization" };

describe("cancelJob", () => {
  let db: TestDatabase;
  let org: string;

  beforeAll(async () => {
    db = await freshDatabase();
    org = (await seedOrganization(db.pool)).id;
  });
  afterAll(async () => {
    await db.drop();
  });

  async function jobRow(id: string) {
    const { rows } = await db.pool.query(
      `SELECT job_status, started_at, canceled_at, completed_at, error, updated_at
       FROM provisioner_jobs WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  /** A LISTEN connection that collects provisioner_job_canceled payloads. */
  async function listen(): Promise<{
    received: string[];
    next: (jobId: string) => Promise<void>;
    close: () => Promise<void>;
  }> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const received: string[] = [];
    const waiters = new Map<string, () => void>();
    client.on("notification", (msg) => {
      if (msg.channel !== JOB_CANCELED_CHANNEL) return;
      received.push(msg.payload ?? "");
      waiters.get(msg.payload ?? "")?.();
    });
    await client.query(`LISTEN ${JOB_CANCELED_CHANNEL}`);
    return {
      received,
      next: (jobId) =>
        received.includes(jobId)
          ? Promise.resolve()
          : new Promise((resolve) => waiters.set(jobId, resolve)),
      close: () => client.end(),
    };
  }

  describe("the five results", () => {
    it("cancels a pending job at once: canceled_while_pending", async () => {
      const id = await seedJob(db.pool, { organizationId: org });
      expect(await cancelJob(db.pool, id)).toBe("canceled_while_pending");
      const row = await jobRow(id);
      expect(row.job_status).toBe("canceled");
      expect(row.started_at).toBeNull();
      expect(row.canceled_at).toEqual(row.completed_at);
      expect(row.updated_at).toEqual(row.canceled_at);
    });

    it("asks the worker of a running job to stop: cancel_requested_while_running", async () => {
      const id = await seedJob(db.pool, { organizationId: org, state: "running" });
      expect(await cancelJob(db.pool, id)).toBe("cancel_requested_while_running");
      const row = await jobRow(id);
      expect(row.job_status).toBe("canceling");
      expect(row.canceled_at).not.toBeNull();
      expect(row.completed_at).toBeNull();
    });

    const finished: readonly [JobState, CancelResult][] = [
      ["succeeded", "already_completed"],
      ["failed", "already_completed"],
      ["canceling", "already_canceled"],
      ["canceled", "already_canceled"],
    ];
    for (const [state, expected] of finished) {
      it(`leaves a ${state} job alone: ${expected}`, async () => {
        const id = await seedJob(db.pool, { organizationId: org, state });
        const before = await jobRow(id);
        expect(await cancelJob(db.pool, id)).toBe(expected);
        expect(await jobRow(id)).toEqual(before);
      });
    }

    it("counts a job failed by its error alone (no completed_at) as already_completed", async () => {
      const id = await seedJob(db.pool, {
        organizationId: org,
        columns: { error: "the platform gave up on it" },
      });
      const before = await jobRow(id);
      expect(before.job_status).toBe("failed");
      expect(await cancelJob(db.pool, id)).toBe("already_completed");
      expect(await jobRow(id)).toEqual(before);
    });

    it("reports an unknown id as not_found and refuses a malformed one before any query", async () => {
      expect(await cancelJob(db.pool, randomUUID())).toBe("not_found");
      await expect(cancelJob(db.pool, "42")).rejects.toBeInstanceOf(InvalidJobIdError);
      await expect(cancelJob(db.pool, "42")).rejects.toThrow(/job id must be a UUID/);
    });

    it("is idempotent: a repeat returns already_canceled and changes nothing", async () => {
      const pending = await seedJob(db.pool, { organizationId: org });
      const running = await seedJob(db.pool, { organizationId: org, state: "running" });
      await cancelJob(db.pool, pending);
      await cancelJob(db.pool, running);
      const before = [await jobRow(pending), await jobRow(running)];
      expect(await cancelJob(db.pool, pending)).toBe("already_canceled");
      expect(await cancelJob(db.pool, running)).toBe("already_canceled");
      expect([await jobRow(pending), await jobRow(running)]).toEqual(before);
    });
  });

  describe("the cancel signal", () => {
    it("notifies once, with the job id, only for a job a worker holds", async () => {
      const listener = await listen();
      try {
        const pending = await seedJob(db.pool, { organizationId: org });
        const running = await seedJob(db.pool, { organizationId: org, state: "running" });
        await cancelJob(db.pool, pending);
        await cancelJob(db.pool, running);
        await cancelJob(db.pool, running); // repeat: no second notification
        const marker = await seedJob(db.pool, { organizationId: org, state: "running" });
        await cancelJob(db.pool, marker);
        await listener.next(marker); // delivered in commit order: everything before is in
        expect(listener.received).toEqual([running, marker]);
      } finally {
        await listener.close();
      }
    });

    it("is sent when the cancelling transaction commits, and never for one that rolls back", async () => {
      const listener = await listen();
      const client = await db.pool.connect();
      try {
        const rolledBack = await seedJob(db.pool, { organizationId: org, state: "running" });
        await client.query("BEGIN");
        expect(await cancelJob(client, rolledBack)).toBe("cancel_requested_while_running");
        await client.query("ROLLBACK");
        const committed = await seedJob(db.pool, { organizationId: org, state: "running" });
        await client.query("BEGIN");
        await cancelJob(client, committed);
        // Not yet: a round trip on the listener gives any early notification its chance.
        await db.pool.query("SELECT pg_sleep(0.05)");
        expect(listener.received).toEqual([]);
        await client.query("COMMIT");
        await listener.next(committed);
        expect(listener.received).toEqual([committed]);
      } finally {
        client.release();
        await listener.close();
      }
    });

    it("sends nothing for a bulk cancel of 10,000 pending jobs", async () => {
      const bulkOrg = (await seedOrganization(db.pool)).id;
      await db.pool.query(
        `INSERT INTO provisioner_jobs (organization_id, initiator_id, type)
         SELECT $1, $2, 'workspace_build' FROM generate_series(1, 10000)`,
        [bulkOrg, PREBUILDS_USER],
      );
      const listener = await listen();
      try {
        const { rowCount } = await db.pool.query(
          `UPDATE provisioner_jobs SET canceled_at = now(), completed_at = now()
           WHERE organization_id = $1 AND job_status = 'pending'`,
          [bulkOrg],
        );
        expect(rowCount).toBe(10_000);
        const marker = await seedJob(db.pool, { organizationId: org, state: "running" });
        await cancelJob(db.pool, marker);
        await listener.next(marker);
        expect(listener.received).toEqual([marker]);
      } finally {
        await listener.close();
      }
    });
  });

  it("raced 1,000 times against acquire and complete: the result always agrees with the final state", async () => {
    const lanes = 8;
    const perLane = 125;
    const outcomes = new Map<CancelResult, number>();
    const disagreements: string[] = [];

    async function lane(): Promise<void> {
      const laneOrg = (await seedOrganization(db.pool)).id;
      const worker = randomUUID();
      for (let i = 0; i < perLane; i++) {
        const id = await seedJob(db.pool, { organizationId: laneOrg });
        // Vary which side starts first and how far apart, so every interleaving comes up.
        const delay = (n: number) => new Promise((r) => setTimeout(r, n));
        const cancelFirst = i % 2 === 0;
        const gap = i % 5;
        const cancelling = (async () => {
          if (!cancelFirst) await delay(gap);
          return cancelJob(db.pool, id);
        })();
        const working = (async () => {
          if (cancelFirst) await delay(gap);
          const acquired = await acquireProvisionerJob(db.pool, {
            workerId: worker,
            organizationId: laneOrg,
            types: ["workspace_build"],
            provisionerTags: UNTAGGED,
          });
          if (!acquired) return { acquired: false, completed: null };
          const done = await completeProvisionerJob(db.pool, {
            jobId: id,
            workerId: worker,
            error: null,
          });
          return { acquired: true, completed: done?.jobStatus ?? null };
        })();
        const [result, work] = await Promise.all([cancelling, working]);
        const row = await jobRow(id);
        outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
        const agrees =
          (result === "canceled_while_pending" &&
            row.job_status === "canceled" &&
            row.started_at === null &&
            !work.acquired) ||
          (result === "cancel_requested_while_running" &&
            row.job_status === "canceled" &&
            work.acquired &&
            work.completed === "canceled") ||
          (result === "already_completed" &&
            row.job_status === "succeeded" &&
            row.canceled_at === null &&
            work.completed === "succeeded");
        if (!agrees) disagreements.push(`${id}: ${result} but ${JSON.stringify({ row, work })}`);
      }
    }

    await Promise.all(Array.from({ length: lanes }, lane));
    expect(disagreements).toEqual([]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM provisioner_jobs
       WHERE canceled_at IS NOT NULL AND job_status = 'succeeded'`,
    );
    expect(rows[0]?.n).toBe(0);
    // The race was real: more than one result came up.
    expect(outcomes.size).toBeGreaterThan(1);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(lanes * perLane);
  });
});
