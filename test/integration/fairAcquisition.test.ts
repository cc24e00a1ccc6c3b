// Fair acquisition across templates (issue #13, migration 0046) against real PostgreSQL: prebuild
// jobs written by the shipped create statement get a rank in their template's queue, and
// AcquireProvisionerJob rotates across templates by that rank (people's jobs still first, FIFO
// within a template), read in index order without a sort.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireProvisionerJob } from "../../src/db/sql/queue_sql.ts";
import { withTransaction } from "../../src/db/transaction.ts";
import { createPrebuilds } from "../../src/execute/createPrebuilds.ts";
import { seedJob, seedOrganization, seedPreset, seedTemplate, seedUser } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const TAGS = { scope: "organization" };

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** `count` prebuilds of a new template of `organizationId`, by the reconciler's create. */
async function queueTemplate(
  organizationId: string,
  count: number,
): Promise<{ templateId: string; jobIds: string[] }> {
  const t = await seedTemplate(db.pool, { organizationId });
  const presetId = await seedPreset(db.pool, {
    versionId: t.activeVersionId,
    desiredInstances: count,
  });
  const result = await withTransaction({ pool: db.pool }, { isolation: "read committed" }, (c) =>
    createPrebuilds(c, { presetId, count, desired: count, jobTags: TAGS }),
  );
  if (result.kind !== "created") throw new Error(`create: ${result.kind}`);
  return { templateId: t.templateId, jobIds: result.jobs.map((j) => j.jobId) };
}

async function acquireN(pool: pg.Pool, organizationId: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const job = await acquireProvisionerJob(pool, {
      workerId: randomUUID(),
      organizationId,
      types: ["workspace_build"],
      provisionerTags: TAGS,
    });
    if (job === null) break;
    out.push(job.id);
  }
  return out;
}

describe("fair acquisition across templates", () => {
  it("hands out B's first job within the first few acquisitions after A queued 1,000, a person's job first, FIFO within each template", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const other = (await seedOrganization(db.pool)).id;
    const a = await queueTemplate(org, 1000);
    const b = await queueTemplate(org, 10);
    const elsewhere = await queueTemplate(other, 5);
    const person = (await seedUser(db.pool)).id;
    const human = await seedJob(db.pool, { organizationId: org, initiatorId: person, tags: TAGS });
    const order = await acquireN(db.pool, org, 22);
    expect(order[0]).toBe(human);
    const firstB = order.findIndex((id) => b.jobIds.includes(id));
    expect(firstB).toBeGreaterThan(0);
    expect(firstB).toBeLessThanOrEqual(3);
    // A, B, A, B…: all of B's 10 within the first 21 prebuild jobs, each template in FIFO order.
    const bOrder = order.filter((id) => b.jobIds.includes(id));
    const aOrder = order.filter((id) => a.jobIds.includes(id));
    expect(bOrder).toEqual(await fifo(b.jobIds));
    expect(aOrder).toEqual((await fifo(a.jobIds)).slice(0, aOrder.length));
    expect(aOrder.length).toBe(11);
    expect(order.some((id) => elsewhere.jobIds.includes(id))).toBe(false);
  });

  it("ranks a template that arrives later from the queue's front, not ahead of everything", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const a = await queueTemplate(org, 300);
    const served = await acquireN(db.pool, org, 200);
    expect(served).toEqual((await fifo(a.jobIds)).slice(0, 200));
    const c = await queueTemplate(org, 50);
    const next = await acquireN(db.pool, org, 20);
    // C is interleaved with A's remaining jobs (A keeps every other slot), not served 50 in a row.
    expect(next.filter((id) => c.jobIds.includes(id)).length).toBe(10);
    expect(next.filter((id) => a.jobIds.includes(id)).length).toBe(10);
    expect(next.findIndex((id) => c.jobIds.includes(id))).toBeLessThanOrEqual(1);
  });
});

describe("ranking with statistics of empty tables (a fresh install's first cycle)", () => {
  it("reads the jobs through their indexes, not a scan of every job per create (migration 0050)", async () => {
    // Its own database: the tables are analyzed while empty, as on a fresh install.
    const fresh = await freshDatabase();
    try {
      await fresh.pool.query("ANALYZE provisioner_jobs, workspaces, workspace_builds");
      const org = (await seedOrganization(fresh.pool)).id;
      const t = await seedTemplate(fresh.pool, { organizationId: org });
      const presets: string[] = [];
      for (let i = 0; i < 30; i++) {
        presets.push(
          await seedPreset(fresh.pool, { versionId: t.activeVersionId, desiredInstances: 10 }),
        );
      }
      const client = await fresh.pool.connect();
      try {
        const scanned = async () => {
          await client.query("SELECT pg_stat_force_next_flush()");
          await client.query("SELECT pg_stat_clear_snapshot()");
          const r = await client.query<{ n: string }>(
            "SELECT seq_tup_read AS n FROM pg_stat_user_tables WHERE relname = 'provisioner_jobs'",
          );
          return Number(r.rows[0]?.n);
        };
        const before = await scanned();
        for (const presetId of presets) {
          await client.query("BEGIN");
          const result = await createPrebuilds(client, {
            presetId,
            count: 10,
            desired: 10,
            jobTags: TAGS,
          });
          await client.query("COMMIT");
          expect(result.kind).toBe("created");
        }
        // 300 jobs written by 30 creates. Measured: 150,060 rows read by sequential scans when the
        // ranking trigger scanned every job ten times per create; 7,260 with index plans (the
        // creates' own statements still scan a little at this size).
        expect((await scanned()) - before).toBeLessThan(30_000);
      } finally {
        client.release();
      }
    } finally {
      await fresh.drop();
    }
  });
});

/** The jobs in the order they were created (created_at, id): a template's FIFO order. */
async function fifo(jobIds: readonly string[]): Promise<string[]> {
  const r = await db.pool.query(
    "SELECT id FROM provisioner_jobs WHERE id = ANY($1::uuid[]) ORDER BY created_at, id",
    [jobIds],
  );
  return r.rows.map((row) => row.id);
}
