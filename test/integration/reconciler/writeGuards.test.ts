// The write-time guards (issue #11): each test plans from a real snapshot, changes the world
// between the snapshot and the write (a second writer, a claim with the shipped claim query, a
// promotion back, a stop, a provisioner taking or finishing a job), then executes the stale plan
// with the shipped statements and checks that the guard held. Removing any one guard makes a test
// here fail (the table is in docs/reliability.md).
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { Database } from "../../../src/db/pool.ts";
import { acquireProvisionerJob, claimPrebuiltWorkspace } from "../../../src/db/sql/queue_sql.ts";
import { createPrebuilds } from "../../../src/execute/createPrebuilds.ts";
import { deletePrebuilds } from "../../../src/execute/deletePrebuilds.ts";
import { executePreset } from "../../../src/execute/executePreset.ts";
import type { ActionEvent } from "../../../src/execute/outcome.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { endedWithoutWorker } from "../../fixtures/seed.ts";
import { PREBUILDS, type Seed, type TemplateIds, workspacesOf } from "./fixtures.ts";
import { databasePerTest } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const MINUTE = 60_000;
const TAGS = { scope: "organization" };

/** The preset's plan from a real snapshot, as the next cycle would make it. */
async function planFor(pool: pg.Pool, presetId: string): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool });
  const planned = preview.presets.find((p) => p.preset.presetId === presetId);
  if (planned === undefined) throw new Error(`preset ${presetId} not in the snapshot`);
  return planned;
}

/** Executes a (possibly stale) plan with the shipped executor. */
function execute(pool: pg.Pool, planned: PlannedPreset): Promise<readonly ActionEvent[]> {
  return executePreset({
    db: { pool },
    planned,
    options: { cancelPendingEnabled: true, provisionerStaleAfter: 90_000, jobTags: TAGS },
    logger: silentLogger,
    notifier: { notifyJobsPosted: async () => {} },
    onAction: () => {},
    signal: new AbortController().signal,
  });
}

function only(events: readonly ActionEvent[], tag: ActionEvent["action"]["_tag"]): ActionEvent {
  const found = events.filter((e) => e.action._tag === tag);
  expect(found).toHaveLength(1);
  return found[0] as ActionEvent;
}

/** Resolves once a statement whose text contains `marker` waits on a lock; rejects after ~5 s. */
async function blockedOnLock(pool: pg.Pool, marker: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND position($1 in query) > 0`,
      [marker],
    );
    if (r.rows[0].n > 0) return;
    await sleep(10);
  }
  throw new Error(`no statement containing ${JSON.stringify(marker)} ever waited on a lock`);
}

/** A transaction on its own connection, left open until `commit`. */
async function openTransaction(pool: pg.Pool): Promise<{
  client: pg.PoolClient;
  db: Database;
  commit: () => Promise<void>;
}> {
  const client = await pool.connect();
  await client.query("BEGIN");
  return {
    client,
    db: { pool },
    commit: async () => {
      try {
        await client.query("COMMIT");
      } finally {
        client.release();
      }
    },
  };
}

async function livePrebuilds(pool: pg.Pool, presetId: string): Promise<number> {
  const r = await pool.query(
    `SELECT count(*)::int AS n FROM workspaces w
     JOIN workspace_builds wb ON wb.workspace_id = w.id
     JOIN provisioner_jobs pj ON pj.id = wb.job_id
     WHERE wb.template_version_preset_id = $1 AND wb.transition = 'start'
       AND pj.job_status IN ('pending', 'running', 'succeeded')
       AND w.owner_id = $2 AND NOT w.deleted
       AND NOT EXISTS (SELECT 1 FROM workspace_builds n WHERE n.workspace_id = w.id AND n.build_number > wb.build_number)`,
    [presetId, PREBUILDS],
  );
  return r.rows[0].n;
}

async function hasDeleteBuild(pool: pg.Pool, workspaceId: string): Promise<boolean> {
  const r = await pool.query(
    "SELECT 1 FROM workspace_builds WHERE workspace_id = $1 AND transition = 'delete'",
    [workspaceId],
  );
  return (r.rowCount ?? 0) > 0;
}

/** `n` running prebuilds of the preset, oldest first, created `ageMs` ago and 1 s apart. */
async function running(
  seed: Seed,
  t: TemplateIds,
  presetId: string,
  n: number,
  ageMs = 10 * MINUTE,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId,
      createdAt: new Date(Date.now() - ageMs + i * 1000),
    });
    ids.push(p.workspaceId);
  }
  return ids;
}

describe("Create re-counts the pool under the preset's lock", () => {
  it("two writers with the same stale plan fill the pool once: the second creates 0 of 5", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 5 });
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions.map((a) => a._tag)).toEqual(["Create"]);

    // Writer A (e.g. a replica that lost the advisory lock) holds the preset lock, not committed.
    const a = await openTransaction(db.pool);
    const first = await createPrebuilds(a.client, {
      presetId: preset,
      count: 5,
      desired: 5,
      jobTags: TAGS,
    });
    expect(first).toMatchObject({ kind: "created", present: 0 });
    // Writer B, same plan: waits for the lock, then re-counts and sees A's five.
    const second = execute(db.pool, planned);
    await blockedOnLock(db.pool, "LockPresetForWrite");
    await a.commit();
    const create = only(await second, "Create");
    expect(create.outcome).toBe("skipped");
    expect(create.detail).toMatch(/^created 0 of 5: 5 appeared since the snapshot/);
    expect(create.effects).toMatchObject({ created: 0, lostRaces: 5 });
    expect(await livePrebuilds(db.pool, preset)).toBe(5);
  });

  it("creates only what is still missing, and says so: created 3 of 5", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 5 });
    const planned = await planFor(db.pool, preset);
    // Two prebuilds appear after the snapshot: one building, one running.
    await seed.prebuild(t, { versionId: t.versionId, presetId: preset, job: "pending" });
    await seed.prebuild(t, { versionId: t.versionId, presetId: preset });
    const create = only(await execute(db.pool, planned), "Create");
    expect(create.outcome).toBe("success");
    expect(create.detail).toMatch(/^created 3 of 5: 2 appeared since the snapshot/);
    expect(create.effects).toMatchObject({ created: 3, lostRaces: 2 });
    expect(await livePrebuilds(db.pool, preset)).toBe(5);
  });
});

describe("Delete re-checks each workspace and the reason under the preset's lock", () => {
  it("skips a prebuild stopped or rebuilt since the snapshot (latest build must be a succeeded start)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 3 });
    const [stopped, rebuilding, still] = await running(seed, t, preset, 3);
    await seed.version(t, { activate: true });
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions).toMatchObject([{ _tag: "Delete", because: "inactive" }]);
    const build2 = { versionId: t.versionId, presetId: preset, buildNumber: 2 } as const;
    await seed.build(t, {
      ...build2,
      workspaceId: stopped as string,
      transition: "stop",
      job: "succeeded",
    });
    await seed.build(t, {
      ...build2,
      workspaceId: rebuilding as string,
      transition: "start",
      job: "pending",
    });
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.detail).toBe(
      "deleted 1 of 3 prebuild(s): 2 no longer an unclaimed running prebuild (claimed, changed or gone)",
    );
    expect(await hasDeleteBuild(db.pool, stopped as string)).toBe(false);
    expect(await hasDeleteBuild(db.pool, rebuilding as string)).toBe(false);
    expect(await hasDeleteBuild(db.pool, still as string)).toBe(true);
  });

  it("never deletes a prebuild claimed since the snapshot with the shipped claim query (owner guard)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1, ttlSeconds: 60 });
    const [expired] = await running(seed, t, preset, 1);
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions[0]).toMatchObject({ _tag: "Delete", because: "expired" });
    const user = await seed.user();
    const claimed = await claimPrebuiltWorkspace(db.pool, {
      allowPreviousVersion: false,
      presetId: preset,
      newUserId: user,
      newName: "mine",
      now: new Date(),
      autostartSchedule: null,
      nextStartAt: null,
      ttl: null,
    });
    expect(claimed?.id).toBe(expired);
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.effects).toMatchObject({ deleted: 0, lostRaces: 1 });
    expect(await hasDeleteBuild(db.pool, expired as string)).toBe(false);
  });

  it("skips a workspace a claim holds right now (row lock) without waiting, and deletes the others", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2, ttlSeconds: 60 });
    const ids = await running(seed, t, preset, 2);
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions[0]).toMatchObject({ _tag: "Delete", because: "expired" });
    const user = await seed.user();
    const claim = await openTransaction(db.pool);
    const claimed = await claimPrebuiltWorkspace(claim.client, {
      allowPreviousVersion: false,
      presetId: preset,
      newUserId: user,
      newName: "mine",
      now: new Date(),
      autostartSchedule: null,
      nextStartAt: null,
      ttl: null,
    });
    const held = claimed?.id as string;
    const other = ids.find((id) => id !== held) as string;
    const outcome = await Promise.race([
      execute(db.pool, planned).then((events) => ({ events })),
      blockedOnLock(db.pool, "DeletePrebuilds").then(() => "blocked" as const),
    ]);
    await claim.commit();
    expect(outcome).not.toBe("blocked");
    expect(await hasDeleteBuild(db.pool, held)).toBe(false);
    expect(await hasDeleteBuild(db.pool, other)).toBe(true);
    const owner = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [held]);
    expect(owner.rows[0].owner_id).toBe(user);
  });

  it("keeps a prebuild that is no longer expired at write time (reason re-check: expired)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1, ttlSeconds: 60 });
    const [old] = await running(seed, t, preset, 1);
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions[0]).toMatchObject({ _tag: "Delete", because: "expired" });
    await seed.sql("UPDATE template_version_presets SET invalidate_after_secs = 0 WHERE id = $1", [
      preset,
    ]);
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.detail).toBe(
      "deleted 0 of 1 prebuild(s): 1 kept: no longer expired (TTL or invalidation changed)",
    );
    expect(await hasDeleteBuild(db.pool, old as string)).toBe(false);
  });

  it("keeps the prebuilds of a preset promoted back since the snapshot (reason re-check: inactive)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    const [p] = await running(seed, t, preset, 1);
    await seed.version(t, { activate: true });
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions).toMatchObject([{ _tag: "Delete", because: "inactive" }]);
    await seed.promote(t.templateId, t.versionId);
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.detail).toBe("deleted 0 of 1 prebuild(s): 1 kept: preset active again");
    expect(await hasDeleteBuild(db.pool, p as string)).toBe(false);
  });

  it("two writers never both delete the last extra prebuild (reason re-check: extraneous, under the lock)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    const [older, newer] = await running(seed, t, preset, 2);
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions).toMatchObject([
      { _tag: "Delete", because: "extraneous", workspaceIds: [older] },
    ]);
    // Writer A deletes the oldest and holds the preset lock, not committed yet.
    const a = await openTransaction(db.pool);
    const first = await deletePrebuilds(a.client, {
      presetId: preset,
      workspaceIds: [older as string],
      because: "extraneous",
      desired: 1,
      jobTags: TAGS,
    });
    expect(first.deleted).toHaveLength(1);
    // Writer B's stale plan picked the other one (its snapshot ordered them differently).
    const stale: PlannedPreset = {
      ...planned,
      plan: {
        ...planned.plan,
        actions: [
          {
            _tag: "Delete",
            because: "extraneous",
            workspaceIds: [newer as string],
            reason: "stale",
          },
        ],
      },
    };
    const second = execute(db.pool, stale);
    await blockedOnLock(db.pool, "LockPresetForWrite");
    await a.commit();
    const del = only(await second, "Delete");
    expect(del.detail).toBe(
      "deleted 0 of 1 prebuild(s): 1 kept: pool no longer above desired at write time",
    );
    expect(await hasDeleteBuild(db.pool, newer as string)).toBe(false);
    expect(await livePrebuilds(db.pool, preset)).toBe(1);
  });

  it("reports a unique violation on the build number (a claim's build won) as a lost race, not a failure", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 0 });
    const ids = await running(seed, t, preset, 2);
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions[0]).toMatchObject({ _tag: "Delete", because: "extraneous" });
    // A claim's build committing between the delete's snapshot and its insert takes the next
    // build number first; the trigger does exactly that inside the delete's own statement.
    const user = await seed.user();
    await seed.sql(
      `CREATE FUNCTION claim_first() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE job uuid := gen_random_uuid();
       BEGIN
         IF NEW.transition = 'delete' THEN
           INSERT INTO provisioner_jobs (id, organization_id, initiator_id, type)
             SELECT job, organization_id, '${user}', 'workspace_build' FROM workspaces WHERE id = NEW.workspace_id;
           INSERT INTO workspace_builds (workspace_id, template_version_id, build_number, transition, initiator_id, job_id)
             VALUES (NEW.workspace_id, NEW.template_version_id, NEW.build_number, 'start', '${user}', job);
         END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER claim_first BEFORE INSERT ON workspace_builds FOR EACH ROW EXECUTE FUNCTION claim_first();`,
    );
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.outcome).toBe("skipped");
    expect(del.detail).toMatch(/^deleted 0 of 2: a concurrent build took the next build number/);
    expect(del.effects).toMatchObject({ deleted: 0, lostRaces: 2 });
    for (const id of ids) expect(await hasDeleteBuild(db.pool, id)).toBe(false);
  });
});

describe("CancelPending re-checks the preset and each job at write time", () => {
  it("cancels nothing once the preset is active again (promoted back since the snapshot)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2 });
    for (let i = 0; i < 2; i++) {
      await seed.prebuild(t, { versionId: t.versionId, presetId: preset, job: "pending" });
    }
    await seed.version(t, { activate: true });
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions.map((a) => a._tag)).toEqual(["CancelPending"]);
    await seed.promote(t.templateId, t.versionId);
    const cancel = only(await execute(db.pool, planned), "CancelPending");
    expect(cancel.effects).toMatchObject({ canceledJobs: 0, orphanDeleted: 0 });
    const ws = await workspacesOf(db.pool, t.templateId);
    expect(ws.map((w) => w.builds.map((b) => b.jobStatus))).toEqual([["pending"], ["pending"]]);
  });

  it("leaves a job acquired, acquired-but-not-started, canceled or completed (no worker) since the snapshot", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 5 });
    const jobs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "pending",
      });
      jobs.push(p.latest.jobId);
    }
    await seed.version(t, { activate: true });
    const planned = await planFor(db.pool, preset);
    expect(planned.plan.actions).toMatchObject([{ _tag: "CancelPending", pendingCount: 5 }]);
    const [acquired, workerOnly, canceled, completed, pending] = jobs as [
      string,
      string,
      string,
      string,
      string,
    ];
    // A provisioner takes one with the shipped acquire query (oldest first: the first seeded) …
    const took = await acquireProvisionerJob(db.pool, {
      workerId: "7e57da7a-0000-4000-8000-00000000000a",
      organizationId: t.organizationId,
      types: ["workspace_build"],
      provisionerTags: TAGS,
    });
    expect(took?.id).toBe(acquired);
    // … another has set its worker but not yet started_at; a user canceled one, and one completed
    // while pending, both with no worker (seed.ts endedWithoutWorker).
    await seed.sql("UPDATE provisioner_jobs SET worker_id = gen_random_uuid() WHERE id = $1", [
      workerOnly,
    ]);
    const at = new Date(Date.now() - 1000);
    for (const [id, kind] of [
      [canceled, "canceled"],
      [completed, "completed"],
    ] as const) {
      const c = endedWithoutWorker(kind, at);
      await seed.sql(
        "UPDATE provisioner_jobs SET started_at = $2, canceled_at = $3, completed_at = $4 WHERE id = $1",
        [id, c.startedAt, c.canceledAt, c.completedAt],
      );
    }
    const before = await db.pool.query(
      "SELECT id, canceled_at, completed_at, job_status FROM provisioner_jobs WHERE id = ANY($1) ORDER BY id",
      [[acquired, workerOnly, canceled, completed]],
    );
    const cancel = only(await execute(db.pool, planned), "CancelPending");
    expect(cancel.effects).toMatchObject({ canceledJobs: 1, orphanDeleted: 1 });
    const after = await db.pool.query(
      "SELECT id, canceled_at, completed_at, job_status FROM provisioner_jobs WHERE id = ANY($1) ORDER BY id",
      [[acquired, workerOnly, canceled, completed]],
    );
    expect(after.rows).toEqual(before.rows);
    const last = await db.pool.query("SELECT job_status FROM provisioner_jobs WHERE id = $1", [
      pending,
    ]);
    expect(last.rows[0].job_status).toBe("canceled");
  });
});

describe("the shipped claim re-checks its guards on the row it locks", () => {
  // The claim's snapshot must predate the change and its row lock follow it. The claim reads the
  // agents (readiness) before it locks the prebuild; on this test's own database workspace_agents
  // becomes a view that waits on an advisory lock the test holds (a gate), so the claim stops
  // between the two while the world changes, and goes on when the gate opens.
  async function gateClaims(seed: Seed): Promise<{ open: () => Promise<void> }> {
    await seed.sql(`ALTER TABLE workspace_agents RENAME TO workspace_agents_ungated;
      CREATE VIEW workspace_agents AS
        SELECT * FROM workspace_agents_ungated WHERE pg_advisory_xact_lock_shared(4242) IS NOT NULL;`);
    const gate = await openTransaction(seed.pool);
    await gate.client.query("SELECT pg_advisory_xact_lock(4242)");
    return { open: gate.commit };
  }

  async function claim(pool: pg.Pool, presetId: string, userId: string) {
    return claimPrebuiltWorkspace(pool, {
      allowPreviousVersion: false,
      presetId,
      newUserId: userId,
      newName: "mine",
      now: new Date(),
      autostartSchedule: null,
      nextStartAt: null,
      ttl: null,
    });
  }

  it("skips a prebuild whose delete was queued after the claim's snapshot (deleting_at)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1, ttlSeconds: 60 });
    const [expired] = await running(seed, t, preset, 1);
    const planned = await planFor(db.pool, preset);
    const gate = await gateClaims(seed);
    const user = await seed.user();
    const claiming = claim(db.pool, preset, user);
    await blockedOnLock(db.pool, "ClaimPrebuiltWorkspace");
    const del = only(await execute(db.pool, planned), "Delete");
    expect(del.effects.deleted).toBe(1);
    await gate.open();
    expect(await claiming).toBeNull();
    const w = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [expired]);
    expect(w.rows[0].owner_id).toBe(PREBUILDS);
  });

  it("skips a prebuild another claim took after the claim's snapshot (owner)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    const [p] = await running(seed, t, preset, 1);
    const gate = await gateClaims(seed);
    const first = await seed.user();
    const second = await seed.user();
    const claiming = claim(db.pool, preset, second);
    await blockedOnLock(db.pool, "ClaimPrebuiltWorkspace");
    // The first user's claim commits while the second one's is between snapshot and row lock.
    await seed.sql("UPDATE workspaces SET owner_id = $2 WHERE id = $1", [p, first]);
    await gate.open();
    expect(await claiming).toBeNull();
    const w = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [p]);
    expect(w.rows[0].owner_id).toBe(first);
  });
});
