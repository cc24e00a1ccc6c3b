// Races against the reconciler's writes, each repeated 200 times on one database with small rows:
//  1. provisioners acquiring jobs while CancelPending runs: no job ends both acquired and canceled;
//  2. a claim racing a delete: a claimed workspace is never deleted (either claim order).
// The acquire and claim statements stand in for the platform's (queue helper / platform code):
// acquire never hands out a canceled or completed job, claim locks with FOR UPDATE SKIP LOCKED.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimPrebuiltWorkspace } from "../../../src/db/sql/queue_sql.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { PREBUILDS, Seed } from "./fixtures.ts";
import { makeDeps } from "./reconcilerHarness.ts";

const ITERATIONS = 200;

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function acquireOne(
  pool: pg.Pool,
  organizationId: string,
  workerId: string,
): Promise<string | null> {
  const r = await pool.query(
    `UPDATE provisioner_jobs SET started_at = clock_timestamp(), updated_at = clock_timestamp(), worker_id = $2
     WHERE id = (
       SELECT id FROM provisioner_jobs
       WHERE organization_id = $1 AND started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL
       ORDER BY created_at, id
       FOR UPDATE SKIP LOCKED
       LIMIT 1)
     RETURNING id`,
    [organizationId, workerId],
  );
  return r.rows[0]?.id ?? null;
}

async function acquireAll(
  pool: pg.Pool,
  organizationId: string,
  startAfterMs: number,
  until: () => boolean,
): Promise<string[]> {
  const acquired: string[] = [];
  const workerId = randomUUID();
  await sleep(startAfterMs);
  // Keep polling until the cycle is over and the queue is empty, as a provisioner does.
  for (;;) {
    const id = await acquireOne(pool, organizationId, workerId);
    if (id !== null) acquired.push(id);
    else if (until()) return acquired;
    else await sleep(1);
  }
}

describe("races", () => {
  it(`provisioners acquiring jobs while CancelPending runs never leave a job both acquired and canceled (${ITERATIONS}×)`, async () => {
    const seed = new Seed(db.pool);
    const deps = makeDeps(db.pool);
    const outcomes = { acquired: 0, canceled: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const t = await seed.template();
      // A live provisioner: the orphan deletes are queued, and acquirable too.
      await seed.provisionerDaemon(t.organizationId, new Date());
      const preset = await seed.preset(t.versionId, { desired: 4 });
      const jobs: { workspaceId: string; jobId: string }[] = [];
      for (let j = 0; j < 4; j++) {
        const p = await seed.prebuild(t, {
          versionId: t.versionId,
          presetId: preset,
          job: "pending",
        });
        jobs.push({ workspaceId: p.workspaceId, jobId: p.latest.jobId });
      }
      await seed.version(t, { activate: true });
      let cycleDone = false;
      const cycle = (async () => {
        try {
          return await reconcileOnce(deps);
        } finally {
          cycleDone = true;
        }
      })();
      const [report] = await Promise.all([
        cycle,
        // Staggered starts: sometimes before the snapshot, sometimes during the cancel, sometimes after.
        acquireAll(db.pool, t.organizationId, (i * 7) % 23, () => cycleDone),
        acquireAll(db.pool, t.organizationId, (i * 11) % 29, () => cycleDone),
      ]);
      expect(report.failures).toBe(0);
      const rows = await db.pool.query(
        `SELECT pj.id, pj.worker_id, pj.started_at, pj.canceled_at, pj.completed_at,
           (SELECT count(*)::int FROM workspace_builds b WHERE b.workspace_id = wb.workspace_id) AS builds
         FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
         WHERE pj.id = ANY($1::uuid[])`,
        [jobs.map((j) => j.jobId)],
      );
      for (const row of rows.rows) {
        const acquired = row.worker_id !== null || row.started_at !== null;
        const canceled = row.canceled_at !== null;
        // Exactly one of the two, never both; a canceled one got its orphan delete (build 2).
        expect({ acquired, canceled }).toSatisfy(() => acquired !== canceled);
        expect(row.builds).toBe(canceled ? 2 : 1);
        if (acquired) outcomes.acquired++;
        else outcomes.canceled++;
      }
      const bad = await db.pool.query(
        "SELECT count(*)::int AS n FROM provisioner_jobs WHERE canceled_at IS NOT NULL AND (worker_id IS NOT NULL OR started_at IS NOT NULL)",
      );
      expect(bad.rows[0].n).toBe(0);
      await seed.dropOrganization(t.organizationId);
    }
    // Both sides won some races; the property held in all of them.
    expect(outcomes.acquired).toBeGreaterThan(0);
    expect(outcomes.canceled).toBeGreaterThan(0);
    console.info(
      `acquire vs CancelPending: ${outcomes.acquired} jobs acquired first, ${outcomes.canceled} canceled first`,
    );
    expect(outcomes.acquired + outcomes.canceled).toBe(ITERATIONS * 4);
  }, 180_000); // 200 iterations: minutes on a loaded 2-core machine

  it(`a claim racing a delete never deletes a claimed workspace (${ITERATIONS}×, three claim styles)`, async () => {
    const seed = new Seed(db.pool);
    const deps = makeDeps(db.pool);
    const userId = await seed.user();
    const outcomes = { claimWon: 0, deleteWon: 0, claimLostDeadlock: 0, claimLostUnique: 0 };
    const variants = { guarded: 0, snapshotBuildNumber: 0, buildFirst: 0 };

    // The platform's claim: lock an eligible prebuild (SKIP LOCKED), re-state the guards on the
    // locked row, hand it over, then build it. `guardDeletingAt` runs the shipped query
    // (queries/queue.sql ClaimPrebuiltWorkspace), whose deleting_at IS NULL re-check notices a
    // delete committed after the claim's snapshot on the row lock; without it, the claim build's
    // number comes from the claim's own snapshot, so the unique (workspace_id, build_number)
    // decides (the reference's guard).
    const claimLockFirst = async (
      templateId: string,
      presetId: string,
      guardDeletingAt: boolean,
    ): Promise<string | null> => {
      const client = await db.pool.connect();
      try {
        await client.query("BEGIN");
        if (guardDeletingAt) {
          // The shipped claim (ClaimPrebuiltWorkspace), then the claim build after the latest.
          const claimed = await claimPrebuiltWorkspace(client, {
            allowPreviousVersion: false,
            newUserId: userId,
            newName: `claimed-${randomUUID().slice(0, 8)}`,
            now: new Date(),
            autostartSchedule: null,
            nextStartAt: null,
            ttl: null,
            presetId,
          });
          if (claimed !== null) await insertClaimBuild(client, claimed.id, null);
          await client.query("COMMIT");
          return claimed?.id ?? null;
        }
        const r = await client.query(
          `WITH claimable AS MATERIALIZED (
             SELECT w.id, lb.build_number FROM workspaces w
             CROSS JOIN LATERAL (SELECT wb.job_id, wb.transition, wb.build_number FROM workspace_builds wb
                                 WHERE wb.workspace_id = w.id ORDER BY wb.build_number DESC LIMIT 1) lb
             JOIN provisioner_jobs pj ON pj.id = lb.job_id
             WHERE w.template_id = $1 AND w.owner_id = $3 AND NOT w.deleted
               AND ($4::boolean IS FALSE OR w.deleting_at IS NULL)
               AND lb.transition = 'start' AND pj.job_status = 'succeeded'
             LIMIT 1
             FOR UPDATE OF w SKIP LOCKED)
           UPDATE workspaces w SET owner_id = $2, updated_at = now(), last_used_at = now(), deleting_at = NULL
           FROM claimable c
           WHERE w.id = c.id AND w.owner_id = $3 AND NOT w.deleted
             AND ($4::boolean IS FALSE OR w.deleting_at IS NULL)
           RETURNING w.id, c.build_number`,
          [templateId, userId, PREBUILDS, guardDeletingAt],
        );
        const id: string | undefined = r.rows[0]?.id;
        if (id !== undefined) {
          await insertClaimBuild(
            client,
            id,
            guardDeletingAt ? null : (r.rows[0].build_number as number) + 1,
          );
        }
        await client.query("COMMIT");
        return id ?? null;
      } catch (error) {
        await client.query("ROLLBACK");
        if ((error as { code?: string }).code === "23505") {
          outcomes.claimLostUnique++;
          return null; // lost to the delete build
        }
        throw error;
      } finally {
        client.release();
      }
    };

    // A platform that inserts the claim build before taking the workspace: the unique
    // (workspace_id, build_number) and PostgreSQL's deadlock detection decide the race.
    const claimBuildFirst = async (workspaceId: string): Promise<string | null> => {
      const client = await db.pool.connect();
      try {
        await client.query("BEGIN");
        await insertClaimBuild(client, workspaceId, null);
        const r = await client.query(
          "UPDATE workspaces SET owner_id = $2 WHERE id = $1 AND owner_id = $3 AND NOT deleted AND deleting_at IS NULL RETURNING id",
          [workspaceId, userId, PREBUILDS],
        );
        if (r.rows.length === 0) {
          await client.query("ROLLBACK");
          return null;
        }
        await client.query("COMMIT");
        return workspaceId;
      } catch (error) {
        await client.query("ROLLBACK");
        const code = (error as { code?: string }).code;
        if (code === "23505" || code === "40P01") {
          if (code === "40P01") outcomes.claimLostDeadlock++;
          else outcomes.claimLostUnique++;
          return null; // lost to the delete build
        }
        throw error;
      } finally {
        client.release();
      }
    };

    /** The claim's start build: number `buildNumber`, or the latest + 1 as seen now when null. */
    async function insertClaimBuild(
      client: pg.PoolClient,
      workspaceId: string,
      buildNumber: number | null,
    ): Promise<void> {
      const jobId = randomUUID();
      await client.query(
        `INSERT INTO provisioner_jobs (id, organization_id, initiator_id, type, input)
         SELECT $2, w.organization_id, $3, 'workspace_build', '{"prebuilt_workspace_build_stage":"CLAIM"}'
         FROM workspaces w WHERE w.id = $1`,
        [workspaceId, jobId, userId],
      );
      await client.query(
        `INSERT INTO workspace_builds (workspace_id, template_version_id, build_number, transition, initiator_id, job_id)
         SELECT wb.workspace_id, wb.template_version_id, COALESCE($4::int, wb.build_number + 1), 'start', $3, $2
         FROM workspace_builds wb WHERE wb.workspace_id = $1 ORDER BY wb.build_number DESC LIMIT 1`,
        [workspaceId, jobId, userId, buildNumber],
      );
    }

    for (let i = 0; i < ITERATIONS; i++) {
      const t = await seed.template();
      // desired 0 with one running prebuild on the active version: extraneous, so deleted — and
      // claimable at the same time.
      const preset = await seed.preset(t.versionId, { desired: 0 });
      const p = await seed.prebuild(t, { versionId: t.versionId, presetId: preset });
      const variant =
        (["guarded", "snapshotBuildNumber", "buildFirst"] as const)[i % 3] ?? "guarded";
      const [report, claimed] = await Promise.all([
        reconcileOnce(deps),
        (async () => {
          // Staggered across the cycle: before its snapshot, around its delete, after it.
          await sleep((Math.floor(i / 3) * 7) % 41);
          if (variant === "buildFirst") return claimBuildFirst(p.workspaceId);
          return claimLockFirst(t.templateId, preset, variant === "guarded");
        })(),
      ]);
      expect(report.failures).toBe(0);
      const state = await db.pool.query(
        `SELECT w.owner_id, w.deleted,
           EXISTS (SELECT 1 FROM workspace_builds b WHERE b.workspace_id = w.id AND b.transition = 'delete') AS has_delete,
           (SELECT b.transition FROM workspace_builds b WHERE b.workspace_id = w.id ORDER BY b.build_number DESC LIMIT 1) AS latest,
           (SELECT count(*)::int FROM workspace_builds b WHERE b.workspace_id = w.id) AS builds
         FROM workspaces w WHERE w.id = $1`,
        [p.workspaceId],
      );
      const row = state.rows[0];
      if (claimed !== null) {
        outcomes.claimWon++;
        variants[variant]++;
        expect(row).toMatchObject({
          owner_id: userId,
          deleted: false,
          has_delete: false,
          latest: "start",
          builds: 2,
        });
      } else {
        outcomes.deleteWon++;
        expect(row).toMatchObject({
          owner_id: PREBUILDS,
          has_delete: true,
          latest: "delete",
          builds: 2,
        });
      }
      await seed.dropOrganization(t.organizationId);
    }
    expect(outcomes.claimWon).toBeGreaterThan(0);
    expect(outcomes.deleteWon).toBeGreaterThan(0);
    console.info(
      `claim vs delete: claim won ${outcomes.claimWon} (${JSON.stringify(variants)}), delete won ${outcomes.deleteWon} (claims lost by unique violation ${outcomes.claimLostUnique}, by deadlock ${outcomes.claimLostDeadlock})`,
    );
    expect(outcomes.claimWon + outcomes.deleteWon).toBe(ITERATIONS);
  }, 180_000); // 200 iterations: minutes on a loaded 2-core machine
});
