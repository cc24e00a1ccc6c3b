// docs/platform-contract.md, "Canceled and failed prebuilds stay": four prebuilds of an active
// preset whose first builds end without success in the four ways the job side has (cancelJob while
// running, worker shutdown past its grace, cancelJob while pending, hung-job recovery) stay, owned
// by the prebuilds user; the two failed ones count toward backoff and hard limit, the two canceled
// ones do not. The document's SQL lists them and queues their delete builds; `reset` deletes
// nothing. A user's workspace and another preset's ready prebuild are the antagonists.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetHardLimit } from "../../../src/controls/resetHardLimit.ts";
import { markWorkspaceDeletedByJob } from "../../../src/db/sql/queue_sql.ts";
import { silentLogger } from "../../../src/observe/logger.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle, reconcileOnce } from "../../../src/reconciler/index.ts";
import type { ReconcilerOptions } from "../../../src/reconciler/options.ts";
import { cancelJob } from "../../../src/worker/cancelJob.ts";
import { startWorker, type Worker } from "../../../src/worker/worker.ts";
import {
  bindPsqlVariables,
  blocksUnder,
  readDocument,
  sqlBlocks,
} from "../../fixtures/markdownSql.ts";
import {
  PREBUILDS_USER,
  type SeededTemplate,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { waitFor } from "../../reliability/support.ts";

const OPTIONS: Partial<ReconcilerOptions> = { jobHangTimeout: 60_000, recordRuns: false };

let db: TestDatabase;
let template: SeededTemplate;
let preset: string;
let userWorkspace: string;
let otherPrebuild: string;
let listSql: string;
let deleteSql: string;
const workers: Worker[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  template = await seedTemplate(db.pool);
  preset = await seedPreset(db.pool, { versionId: template.activeVersionId, desiredInstances: 4 });
  const other = await seedPreset(db.pool, { versionId: template.activeVersionId });
  otherPrebuild = (await seedPrebuild(db.pool, { template, presetId: other })).workspaceId;
  userWorkspace = await seedWorkspace(db.pool, {
    template,
    ownerId: (await seedUser(db.pool)).id,
  });
  const blocks = sqlBlocks(
    readDocument("docs/platform-contract.md"),
    "Cancelling a job: `cancelJob`",
  );
  [listSql = "", deleteSql = ""] = blocksUnder(blocks, "Canceled and failed prebuilds stay");
});

afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ grace: 50 })));
  await db?.drop();
});

async function jobs(): Promise<
  { id: string; workspace_id: string; job_status: string; error: string | null }[]
> {
  const { rows } = await db.pool.query(
    `SELECT pj.id, wb.workspace_id, pj.job_status, pj.error
     FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
     WHERE wb.template_version_preset_id = $1 AND wb.transition = 'start'
     ORDER BY pj.started_at NULLS LAST, pj.id`,
    [preset],
  );
  return rows;
}

async function planned(failureHardLimit = 3): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool: db.pool, options: { failureHardLimit } });
  const found = preview.presets.find((p) => p.preset.presetId === preset);
  if (found === undefined) throw new Error("the preset is not planned");
  return found;
}

describe("a prebuild whose first build was canceled or failed", () => {
  it("stays, owned by the prebuilds user; failures count toward backoff and hard limit, cancels do not", async () => {
    await reconcileOnce({ pool: db.pool, logger: silentLogger, options: OPTIONS });
    expect(await jobs()).toHaveLength(4);

    // One slot: its handler runs until its signal aborts.
    const worker = await startWorker({
      pool: db.pool,
      organizationId: template.organizationId,
      pollInterval: 50,
      handler: async (_job, signal) => {
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        throw signal.reason;
      },
    });
    workers.push(worker);
    const running = async () => (await jobs()).filter((j) => j.job_status === "running");
    await waitFor("a first job to run", async () => (await running()).length === 1);
    const [canceledWhileRunning] = await running();
    expect(await cancelJob(db.pool, canceledWhileRunning?.id as string)).toBe(
      "cancel_requested_while_running",
    );
    await waitFor("the next job to run", async () => {
      const now = await running();
      return now.length === 1 && now[0]?.id !== canceledWhileRunning?.id;
    });
    const [shutDown] = await running();
    workers.splice(0);
    await worker.stop({ grace: 1 });

    const pending = (await jobs()).filter((j) => j.job_status === "pending");
    expect(pending).toHaveLength(2);
    const [canceledWhilePending, hung] = pending as [(typeof pending)[0], (typeof pending)[0]];
    expect(await cancelJob(db.pool, canceledWhilePending.id)).toBe("canceled_while_pending");
    // A worker that took the last job and died ten minutes ago.
    await db.pool.query(
      `UPDATE provisioner_jobs
       SET started_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes',
           worker_id = gen_random_uuid()
       WHERE id = $1`,
      [hung.id],
    );
    // The first cycle recovers the hung job; both cycles leave every workspace alone.
    await reconcileOnce({ pool: db.pool, logger: silentLogger, options: OPTIONS });
    await reconcileOnce({ pool: db.pool, logger: silentLogger, options: OPTIONS });

    const ended = new Map((await jobs()).map((j) => [j.id, j]));
    expect(ended.get(canceledWhileRunning?.id as string)).toMatchObject({ job_status: "canceled" });
    expect(ended.get(shutDown?.id as string)).toMatchObject({
      job_status: "failed",
      error: expect.stringContaining("the provisioner worker shut down"),
    });
    expect(ended.get(canceledWhilePending.id)).toMatchObject({ job_status: "canceled" });
    expect(ended.get(hung.id)).toMatchObject({
      job_status: "failed",
      error: expect.stringContaining("hung: no heartbeat"),
    });
    const workspaces = [...ended.values()].map((j) => j.workspace_id);
    const state = await db.pool.query(
      `SELECT w.owner_id, w.deleted, w.deleting_at, count(wb.id)::int AS builds
       FROM workspaces w JOIN workspace_builds wb ON wb.workspace_id = w.id
       WHERE w.id = ANY($1) GROUP BY w.id`,
      [workspaces],
    );
    expect(state.rows).toEqual(
      workspaces.map(() => ({
        owner_id: PREBUILDS_USER,
        deleted: false,
        deleting_at: null,
        builds: 1,
      })),
    );

    // Two failures: backoff for 2 × the interval; all four were created at one instant and a
    // failure ranks first among equals, so a limit of 2 trips and a limit of 3 (a canceled build
    // third) does not.
    const backingOff = await planned(3);
    expect(backingOff.snapshot.backoff).toMatchObject({ numFailed: 2 });
    expect(backingOff.snapshot.isHardLimited).toBe(false);
    expect(backingOff.plan.actions).toEqual([expect.objectContaining({ _tag: "Backoff" })]);
    expect((await planned(2)).snapshot.isHardLimited).toBe(true);

    // The document's list: these four, and nothing else.
    const listed = await db.pool.query(bindPsqlVariables(listSql, {}));
    expect(listed.rows.map((r) => `${r.workspace_id} ${r.job_status}`).sort()).toEqual(
      [...ended.values()].map((j) => `${j.workspace_id} ${j.job_status}`).sort(),
    );

    // A delete build for the shut-down one: its failure stops counting at once.
    const queueDelete = (workspaceId: string) =>
      db.pool.query(bindPsqlVariables(deleteSql, { workspace_id: workspaceId }));
    await queueDelete(shutDown?.workspace_id as string);
    expect((await planned(3)).snapshot.backoff).toMatchObject({ numFailed: 1 });
    // The guard: a running prebuild and a user's workspace get no delete build.
    await queueDelete(otherPrebuild);
    await queueDelete(userWorkspace);
    const deleteBuilds = await db.pool.query(
      "SELECT workspace_id FROM workspace_builds WHERE transition = 'delete'",
    );
    expect(deleteBuilds.rows).toEqual([{ workspace_id: shutDown?.workspace_id }]);

    // `reset`: nothing counts any more, and nothing is deleted.
    await resetHardLimit(db.pool, template.templateId, undefined);
    const reset = await planned(2);
    expect([reset.snapshot.backoff, reset.snapshot.isHardLimited]).toEqual([null, false]);
    expect(reset.plan.actions).toEqual([expect.objectContaining({ _tag: "Create", count: 4 })]);
    expect((await db.pool.query(bindPsqlVariables(listSql, {}))).rows).toHaveLength(3);

    // The other three get their delete builds; a provisioner carries all four out.
    for (const j of ended.values()) if (j.id !== shutDown?.id) await queueDelete(j.workspace_id);
    const deleter = await startWorker({
      pool: db.pool,
      organizationId: template.organizationId,
      pollInterval: 50,
      handler: async (job) => ({
        onComplete: async (client) => {
          await markWorkspaceDeletedByJob(client, { jobId: job.id });
        },
      }),
    });
    workers.push(deleter);
    await waitFor("the four workspaces to be deleted", async () => {
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM workspaces WHERE id = ANY($1) AND deleted",
        [workspaces],
      );
      return rows[0].n === 4;
    });
    const untouched = await db.pool.query(
      "SELECT id, deleted FROM workspaces WHERE id = ANY($1) ORDER BY id",
      [[otherPrebuild, userWorkspace]],
    );
    expect(untouched.rows.map((r) => r.deleted)).toEqual([false, false]);
  });
});
