// TestCancelPendingPrebuilds (reference §10.2, §5): the table, seeded side by side in one database
// so that each "must not cancel" row is an antagonist of the others; the multiple-templates case;
// provisioner liveness; our deliberate difference for deprecated templates; the off switch; and a
// failure injected into one preset's batch.
import { describe, expect, it } from "vitest";
import type { TestDatabase } from "../../harness/freshDatabase.ts";
import {
  createdFor,
  type JobState,
  latestBuild,
  PREBUILDS,
  type TemplateIds,
  type Transition,
  type WorkspaceView,
  workspacesOf,
} from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles, runCyclesSettled } from "./reconcilerHarness.ts";

const fresh = databasePerTest();

// Before every cycle of this file: what the reconciler cancels is stamped later, by the database's
// clock (issue #11), so anything canceled at or after NOW was canceled by a cycle.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function byId(
  pool: TestDatabase["pool"],
  t: TemplateIds,
  id: string,
): Promise<WorkspaceView> {
  const w = (await workspacesOf(pool, t.templateId)).find((x) => x.id === id);
  if (w === undefined) throw new Error(`workspace ${id} not found`);
  return w;
}

function expectCanceledAndOrphanDeleted(w: WorkspaceView): void {
  const first = w.builds[0];
  expect(first?.jobStatus).toBe("canceled");
  expect(first?.canceledAt?.getTime()).toBeGreaterThanOrEqual(NOW.getTime());
  expect(first?.completedAt?.getTime()).toBe(first?.canceledAt?.getTime());
  expect(w.deleted).toBe(true);
  // The orphan delete records the preset (issue #11), so a snapshot counts it.
  expect(latestBuild(w)).toMatchObject({
    buildNumber: 2,
    transition: "delete",
    jobStatus: "succeeded",
    workerId: null,
    initiatorId: PREBUILDS,
    presetId: first?.presetId,
  });
}

describe("TestCancelPendingPrebuilds", () => {
  it("CancelPendingPrebuilds table: only the pending first start build of an inactive preset is canceled", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const oldPreset = await seed.preset(t.versionId, { desired: 1 });
    const userId = await seed.user();
    const v1 = t.versionId;

    const row = async (o: {
      job: JobState;
      transition?: Transition;
      buildNumber?: number;
      versionId?: string;
      presetId?: string;
      initiatorId?: string;
      ownerId?: string;
      workerId?: string | null;
      template?: TemplateIds;
    }): Promise<string> => {
      const tpl = o.template ?? t;
      const ws = await seed.workspace(tpl, { ownerId: o.ownerId ?? PREBUILDS });
      const buildNumber = o.buildNumber ?? 1;
      if (buildNumber === 2) {
        await seed.build(tpl, {
          workspaceId: ws,
          versionId: o.versionId ?? v1,
          buildNumber: 1,
          transition: "stop",
          job: "succeeded",
          presetId: o.presetId ?? oldPreset,
          agents: [],
        });
      }
      await seed.build(tpl, {
        workspaceId: ws,
        versionId: o.versionId ?? v1,
        buildNumber,
        transition: o.transition ?? "start",
        job: o.job,
        presetId: o.presetId ?? oldPreset,
        initiatorId: o.initiatorId ?? PREBUILDS,
        ...(o.workerId !== undefined && { workerId: o.workerId }),
        agents: [],
      });
      return ws;
    };

    const cancels = await row({ job: "pending" });
    const cancelsToo = await row({ job: "pending" });
    const secondBuild = await row({ job: "pending", buildNumber: 2 });
    const userJob = await row({ job: "pending", initiatorId: userId, ownerId: userId });
    const deleteTransition = await row({ job: "pending", transition: "delete" });
    const running = await row({ job: "running" });
    const acquiredNotStarted = await row({
      job: "pending",
      workerId: "7e57da7a-0000-4000-8000-000000000001",
    });
    const canceled = await row({ job: "canceled" });
    const completed = await row({ job: "succeeded" });
    const failed = await row({ job: "failed" });

    const v2 = await seed.version(t, { activate: true });
    const activePreset = await seed.preset(v2, { desired: 0 });
    const activeVersion = await row({ job: "pending", versionId: v2, presetId: activePreset });

    const other = await seed.template();
    const otherPreset = await seed.preset(other.versionId, { desired: 1 });
    const differentTemplate = await row({
      job: "pending",
      template: other,
      versionId: other.versionId,
      presetId: otherPreset,
    });

    // Everything seeded is older than this; what the cycles cancel is stamped later (database clock).
    const cyclesFrom: Date = (await db.pool.query("SELECT clock_timestamp() AS at")).rows[0].at;
    const reports = await runCyclesSettled(
      makeDeps(db.pool, { options: { planAt: () => NOW } }),
      8,
    );
    expect(reports[0]?.effects.canceledJobs).toBe(2);
    for (const r of reports) expect(r.failures).toBe(0);

    expectCanceledAndOrphanDeleted(await byId(db.pool, t, cancels));
    expectCanceledAndOrphanDeleted(await byId(db.pool, t, cancelsToo));
    const untouched: [string, string, TemplateIds, JobState][] = [
      ["SecondBuild", secondBuild, t, "pending"],
      ["UserWorkspaceJob", userJob, t, "pending"],
      ["DeleteTransition", deleteTransition, t, "pending"],
      ["RunningPrebuildJob", running, t, "running"],
      ["acquired but not started", acquiredNotStarted, t, "pending"],
      ["CanceledPrebuildJob", canceled, t, "canceled"],
      ["FailedPrebuildJob", failed, t, "failed"],
      ["ActiveVersion", activeVersion, t, "pending"],
      ["DifferentTemplate", differentTemplate, other, "pending"],
    ];
    for (const [name, id, tpl, status] of untouched) {
      const w = await byId(db.pool, tpl, id);
      const canceledByUs = (latestBuild(w).canceledAt?.getTime() ?? 0) >= cyclesFrom.getTime();
      expect({ name, deleted: w.deleted, status: latestBuild(w).jobStatus, canceledByUs }).toEqual({
        name,
        deleted: false,
        status,
        canceledByUs: false,
      });
    }
    // CompletedPrebuildJob: not canceled; being a running prebuild of an inactive version it is
    // deleted through the normal path instead.
    const done = await byId(db.pool, t, completed);
    expect(done.builds[0]?.jobStatus).toBe("succeeded");
    expect(latestBuild(done)).toMatchObject({
      buildNumber: 2,
      transition: "delete",
      jobStatus: "pending",
    });
  });

  it("CancelPendingPrebuildsMultipleTemplates: only the pending jobs of non-active versions", async () => {
    const { db, seed } = await fresh();
    const seedVersion = async (
      t: TemplateIds,
      versionId: string,
      running: number,
      pending: number,
    ) => {
      const preset = await seed.preset(versionId, { desired: running + pending });
      const r: string[] = [];
      const p: string[] = [];
      for (let i = 0; i < running; i++)
        r.push((await seed.prebuild(t, { versionId, presetId: preset })).workspaceId);
      for (let i = 0; i < pending; i++)
        p.push(
          (await seed.prebuild(t, { versionId, presetId: preset, job: "pending" })).workspaceId,
        );
      return { preset, running: r, pending: p };
    };
    const a = await seed.template();
    const a1 = await seedVersion(a, a.versionId, 2, 3);
    const a2v = await seed.version(a, { activate: true });
    const a2 = await seedVersion(a, a2v, 1, 1);
    const b = await seed.template();
    const b1 = await seedVersion(b, b.versionId, 1, 2);
    const b2v = await seed.version(b);
    const b2 = await seedVersion(b, b2v, 0, 2);
    const b3v = await seed.version(b, { activate: true });
    const b3 = await seedVersion(b, b3v, 1, 1);

    const reports = await runCyclesSettled(
      makeDeps(db.pool, { options: { planAt: () => NOW } }),
      8,
    );
    expect(reports[0]?.effects.canceledJobs).toBe(3 + 2 + 2);

    for (const [t, ids] of [
      [a, a1.pending],
      [b, b1.pending],
      [b, b2.pending],
    ] as const) {
      for (const id of ids) expectCanceledAndOrphanDeleted(await byId(db.pool, t, id));
    }
    for (const [t, ids] of [
      [a, a2.pending],
      [b, b3.pending],
    ] as const) {
      for (const id of ids) {
        const w = await byId(db.pool, t, id);
        expect(w.builds).toHaveLength(1);
        expect(latestBuild(w).jobStatus).toBe("pending");
      }
    }
    // Running prebuilds: the old versions' are deleted by the normal path; the active ones stay.
    for (const [t, ids] of [
      [a, a1.running],
      [b, b1.running],
    ] as const) {
      for (const id of ids)
        expect(latestBuild(await byId(db.pool, t, id))).toMatchObject({
          transition: "delete",
          jobStatus: "pending",
        });
    }
    for (const [t, ids] of [
      [a, a2.running],
      [b, b3.running],
    ] as const) {
      for (const id of ids) expect((await byId(db.pool, t, id)).builds).toHaveLength(1);
    }
  });

  it("completes the orphan delete of a never-acquired first build at once, whether or not a provisioner is live (free delete, issue #13)", async () => {
    const { db, seed } = await fresh();
    const setup = async (lastSeen: Date) => {
      const t = await seed.template();
      await seed.provisionerDaemon(t.organizationId, lastSeen);
      const preset = await seed.preset(t.versionId, { desired: 1 });
      const p = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "pending",
      });
      await seed.version(t, { activate: true });
      return { t, id: p.workspaceId };
    };
    const live = await setup(new Date(NOW.getTime() - 10_000));
    const stale = await setup(new Date(NOW.getTime() - 10 * 60_000));
    await runCycles(
      makeDeps(db.pool, { options: { planAt: () => NOW, provisionerStaleAfter: 90_000 } }),
      8,
    );
    // Nothing was ever provisioned: no delete job waits for the live provisioner (the delete job
    // succeeded with no worker and the workspace is deleted, in the cancel's transaction).
    expectCanceledAndOrphanDeleted(await byId(db.pool, live.t, live.id));
    expectCanceledAndOrphanDeleted(await byId(db.pool, stale.t, stale.id));
  });

  it.each([
    ["deprecated", { deprecated: "use another template" }],
    ["deleted", { deleted: true }],
  ] as const)(
    "cancels the pending prebuilds of a %s template on its still-active version (deliberate difference)",
    async (_name, change) => {
      const { db, seed } = await fresh();
      const t = await seed.template();
      const preset = await seed.preset(t.versionId, { desired: 2 });
      const p = await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        job: "pending",
      });
      await seed.setTemplate(t.templateId, change);
      await runCyclesSettled(makeDeps(db.pool, { options: { planAt: () => NOW } }), 8);
      expectCanceledAndOrphanDeleted(await byId(db.pool, t, p.workspaceId));
      expect(
        createdFor(await workspacesOf(db.pool, t.templateId), preset, new Set([p.workspaceId])),
      ).toHaveLength(0);
    },
  );

  it("leaves pending jobs queued when CancelPending is disabled, and still deletes running prebuilds", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2 });
    const pending = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: preset,
      job: "pending",
    });
    const running = await seed.prebuild(t, { versionId: t.versionId, presetId: preset });
    await seed.version(t, { activate: true });
    const reports = await runCycles(
      makeDeps(db.pool, { options: { planAt: () => NOW, cancelPendingEnabled: false } }),
      8,
    );
    // Skipped whenever the preset is read: by the first cycle, and by the next one (its delete
    // marked the preset); incremental cycles after that do not read it (issue #16).
    for (const r of reports.slice(0, 2))
      expect(r.actions.CancelPending).toEqual({ success: 0, failure: 0, skipped: 1 });
    for (const r of reports) expect(r.actions.CancelPending.success).toBe(0);
    const w = await byId(db.pool, t, pending.workspaceId);
    expect(w.builds).toHaveLength(1);
    expect(latestBuild(w).jobStatus).toBe("pending");
    expect(latestBuild(await byId(db.pool, t, running.workspaceId))).toMatchObject({
      transition: "delete",
    });
  });

  it("an injected failure rolls back that preset's whole batch; its Delete and other presets still run, and the failure is counted", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const broken = await seed.preset(t.versionId, { desired: 3 });
    const poisoned = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: broken,
      job: "pending",
    });
    const sibling = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: broken,
      job: "pending",
    });
    const runningOfBroken = await seed.prebuild(t, { versionId: t.versionId, presetId: broken });
    const healthyOld = await seed.preset(t.versionId, { desired: 1 });
    const healthyPending = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: healthyOld,
      job: "pending",
    });
    const v2 = await seed.version(t, { activate: true });
    const fresh2 = await seed.preset(v2, { desired: 2 });
    // The orphan delete of `poisoned` raises: the trigger stands for any failure mid-batch.
    await seed.sql(`
      CREATE FUNCTION fail_orphan_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.transition = 'delete' AND NEW.workspace_id = '${poisoned.workspaceId}' THEN
          RAISE EXCEPTION 'injected failure for workspace %', NEW.workspace_id;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_orphan_delete BEFORE INSERT ON workspace_builds
        FOR EACH ROW EXECUTE FUNCTION fail_orphan_delete();`);
    // Not runCyclesSettled: the failing CancelPending is planned (and fails) every cycle.
    const reports = await runCycles(makeDeps(db.pool, { options: { planAt: () => NOW } }), 8);
    for (const r of reports) {
      expect(r.actions.CancelPending.failure).toBe(1);
      expect(r.failures).toBe(1);
    }
    expect(reports[0]?.actions.CancelPending.success).toBe(1);
    // The broken preset's batch rolled back: neither pending job is canceled.
    for (const id of [poisoned.workspaceId, sibling.workspaceId]) {
      const w = await byId(db.pool, t, id);
      expect(w.builds).toHaveLength(1);
      expect(latestBuild(w).jobStatus).toBe("pending");
    }
    // Its Delete still ran, and so did the other presets' actions.
    expect(latestBuild(await byId(db.pool, t, runningOfBroken.workspaceId))).toMatchObject({
      transition: "delete",
    });
    expectCanceledAndOrphanDeleted(await byId(db.pool, t, healthyPending.workspaceId));
    expect(createdFor(await workspacesOf(db.pool, t.templateId), fresh2)).toHaveLength(2);
  });
});
